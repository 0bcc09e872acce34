"""Detection models: HRNetV2p as the neck of torchvision's Faster R-CNN and FCOS."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hrseg
from hrseg.errors import CheckpointError
from hrseg.models.detection import load_pretrained_backbone

REPO = Path(__file__).resolve().parents[1]

# The TPAMI paper's Table VII (#param. in M). Its Faster R-CNN column matches the parameter
# count divided by 2**20 (inferred; the paper does not say): the same division turns
# torchvision's own ResNet-50/101 and X-101-64x4d Faster R-CNN FPN (81 classes) into the
# paper's 39.8 / 57.8 / 94.9. Its FCOS column (the FCOS authors' code) matches millions.
PAPER_PARAMS = {
    "det_fasterrcnn_hrnetv2p_w18": (26.2, 2**20),
    "det_fasterrcnn_hrnetv2p_w32": (45.0, 2**20),
    "det_fcos_hrnetv2p_w18": (17.5, 10**6),
    "det_fcos_hrnetv2p_w32": (37.3, 10**6),
}


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_paper(name):
    paper, unit = PAPER_PARAMS[name]
    count = _count(hrseg.build_model(name))
    # W32 Faster R-CNN is 45.09 x 2**20 (paper 45.0): within a tenth, as the paper's rounding
    assert abs(count / unit - paper) <= 0.1, f"{name}: {count / unit:.2f} vs paper {paper}"


def test_faster_rcnn_follows_the_official_settings():
    model = hrseg.build_model("det_fasterrcnn_hrnetv2p_w32")
    body = model.backbone
    assert body.strides == [4, 8, 16, 32, 64] and body.out_channels == 256
    anchors = model.rpn.anchor_generator
    assert [s[0] for s in anchors.sizes] == [32, 64, 128, 256, 512]
    assert all(tuple(r) == (0.5, 1.0, 2.0) for r in anchors.aspect_ratios)
    pool = model.roi_heads.box_roi_pool
    assert pool.featmap_names == ["p2", "p3", "p4", "p5"] and pool.output_size == (7, 7)
    assert pool.sampling_ratio == 2
    assert model.roi_heads.box_head.fc7.out_features == 1024
    assert model.roi_heads.box_predictor.cls_score.out_features == 81
    assert model.roi_heads.box_predictor.bbox_pred.out_features == 81 * 4
    assert model.transform.min_size == (800,) and model.transform.max_size == 1333
    assert model.transform.size_divisible == 64


def test_fcos_levels_are_at_strides_8_to_128():
    model = hrseg.build_model("det_fcos_hrnetv2p_w18", num_classes=5, min_size=128, max_size=128)
    assert model.backbone.strides == [8, 16, 32, 64, 128]
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 128, 128))
    assert [f.shape[-1] for f in feats.values()] == [16, 8, 4, 2, 1]
    assert model.score_thresh == 0.05 and model.nms_thresh == 0.5


@pytest.mark.parametrize("name", ["det_fasterrcnn_hrnetv2p_w18_small_v1", "det_fcos_hrnetv2p_w18_small_v1"])
def test_train_and_eval_forward(name):
    model = hrseg.build_model(name, num_classes=3, min_size=96, max_size=128, out_channels=32)
    images = [torch.rand(3, 90, 120), torch.rand(3, 100, 70)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 60.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)}]
    model.train()
    losses = model(images, targets)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and set(out[0]) == {"boxes", "labels", "scores"}
    for o, im in zip(out, images):  # boxes in the input image's pixels
        if len(o["boxes"]):
            assert float(o["boxes"][:, 2].max()) <= im.shape[2] + 1e-3
            assert float(o["boxes"][:, 3].max()) <= im.shape[1] + 1e-3


def test_pretrained_backbone_fills_the_hrnet_and_rejects_a_mismatch(tmp_path):
    source = hrseg.build_model("hrnet_w18_small_v1")
    path = tmp_path / "hrnet_w18_small_v1.pth"
    hrseg.save_checkpoint(path, source)
    det = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18_small_v1", num_classes=3)
    report = load_pretrained_backbone(det, path)
    assert report.loaded > 0
    got = det.backbone.body.backbone.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(got[key], value), key
    wrong = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18", num_classes=3)
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_pretrained_backbone(wrong, path)
    # another variant of the same widths fits key for key where it has them: still not this HRNet
    other = tmp_path / "hrnet_w18_small_v2.pth"
    hrseg.save_checkpoint(other, hrseg.build_model("hrnet_w18_small_v2"))
    with pytest.raises(CheckpointError, match=r"hrnet_w18_small_v2.pth: does not fit .* \(another HRNet variant"):
        load_pretrained_backbone(wrong, other)


def test_detector_configs_build_the_named_models():
    from hrseg.tasks.detection import build_detector, load_det_config

    for stem, name in (("faster_rcnn_hrnetv2p_w18_1x_coco", "det_fasterrcnn_hrnetv2p_w18"),
                       ("faster_rcnn_hrnetv2p_w32_1x_coco", "det_fasterrcnn_hrnetv2p_w32"),
                       ("fcos_hrnetv2p_w32_1x_coco", "det_fcos_hrnetv2p_w32")):
        cfg = load_det_config(REPO / f"configs/det/{stem}.py")
        assert cfg["model"]["name"] == name and cfg["model"]["num_classes"] == 81
        assert cfg["optimizer"]["type"] == "SGD"
    cfg = load_det_config(REPO / "configs/det/mini_fasterrcnn.py")
    model = build_detector(dict(cfg["model"], num_classes=5))
    assert model.transform.min_size == (256,)
