"""mmdetection's FCOS HRNetV2p files: its file's layout loads whole into ``det_fcos`` with mmdetection's head,
the first convolution reversed so that RGB input equals mmdetection's BGR one, the head and test equal to
a transcription of mmdetection 2.x's (``FCOSHead.forward_single``, ``_get_points_single``,
``_get_bboxes_single``, ``multiclass_nms``), and a published FCOS name through ``hrseg test det``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

import hrseg
from hrseg.errors import ConfigError
from hrseg.models.detection import MMDetFCOS
from hrseg.tasks.detection import TASK as DET_TASK
from hrseg.weights import get_weights
from hrseg.weights.layouts import convert, detect_layout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import test_det  # noqa: E402


def _small_fcos(seed: int = 0) -> MMDetFCOS:
    """A small FCOS with mmdetection's head whose random weights find things (scores near 0.5)."""
    torch.manual_seed(seed)
    model = hrseg.build_model("det_fcos_hrnetv2p_w18_small_v1", head_type="mmdetection", min_size=160,
                              max_size=224)
    with torch.no_grad():
        for conv in (model.head.conv_cls, model.head.conv_reg, model.head.conv_centerness):
            conv.weight.normal_(0, 0.05)
            conv.bias.zero_()
        for i, scale in enumerate(model.head.scales):
            scale.scale.fill_(0.5 + 0.1 * i)
    return model.eval()


def _forward_single(head, x: torch.Tensor, level: int, stride: int):  # FCOSHead.forward_single, transcribed
    cls_feat, reg_feat = x, x
    for m in head.cls_convs:
        cls_feat = F.relu(F.group_norm(F.conv2d(cls_feat, m.conv.weight, padding=1), 32, m.gn.weight, m.gn.bias))
    for m in head.reg_convs:
        reg_feat = F.relu(F.group_norm(F.conv2d(reg_feat, m.conv.weight, padding=1), 32, m.gn.weight, m.gn.bias))
    cls_score = F.conv2d(cls_feat, head.conv_cls.weight, head.conv_cls.bias, padding=1)
    bbox_pred = F.conv2d(reg_feat, head.conv_reg.weight, head.conv_reg.bias, padding=1)
    centerness = F.conv2d(cls_feat, head.conv_centerness.weight, head.conv_centerness.bias, padding=1)
    bbox_pred = (head.scales[level].scale * bbox_pred).float().exp()  # norm_on_bbox False
    return cls_score, bbox_pred, centerness


def _get_points_single(featmap_size, stride):
    h, w = featmap_size
    y, x = torch.meshgrid(torch.arange(0, h * stride, stride, dtype=torch.float32),
                          torch.arange(0, w * stride, stride, dtype=torch.float32), indexing="ij")
    return torch.stack((x.reshape(-1), y.reshape(-1)), dim=-1) + stride // 2


def _distance2bbox(points, distance, max_shape):
    x1 = (points[:, 0] - distance[:, 0]).clamp(min=0, max=max_shape[1])
    y1 = (points[:, 1] - distance[:, 1]).clamp(min=0, max=max_shape[0])
    x2 = (points[:, 0] + distance[:, 2]).clamp(min=0, max=max_shape[1])
    y2 = (points[:, 1] + distance[:, 3]).clamp(min=0, max=max_shape[0])
    return torch.stack([x1, y1, x2, y2], -1)


def mmdet_detect(model: MMDetFCOS, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """mmdetection 2.x's FCOS test of one image, transcribed, on hrseg's resized and padded input; the boxes
    scaled back to the image as torchvision's transform does. Labels 0..79."""
    images, _ = model.transform([image])
    img_shape = images.image_sizes[0]
    features = list(model.backbone(images.tensors).values())
    mlvl_bboxes, mlvl_scores, mlvl_centerness = [], [], []
    for level, (x, stride) in enumerate(zip(features, (8, 16, 32, 64, 128))):
        cls_score, bbox_pred, centerness = _forward_single(model.head, x, level, stride)
        points = _get_points_single(x.shape[-2:], stride)
        scores = cls_score[0].permute(1, 2, 0).reshape(-1, 80).sigmoid()
        centerness = centerness[0].permute(1, 2, 0).reshape(-1).sigmoid()
        bbox_pred = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
        nms_pre = 1000
        if nms_pre > 0 and scores.shape[0] > nms_pre:
            max_scores, _ = (scores * centerness[:, None]).max(dim=1)
            _, topk_inds = max_scores.topk(nms_pre)
            points, bbox_pred = points[topk_inds, :], bbox_pred[topk_inds, :]
            scores, centerness = scores[topk_inds, :], centerness[topk_inds]
        mlvl_bboxes.append(_distance2bbox(points, bbox_pred, max_shape=img_shape))
        mlvl_scores.append(scores)
        mlvl_centerness.append(centerness)
    multi_bboxes, multi_scores = torch.cat(mlvl_bboxes), torch.cat(mlvl_scores)
    score_factors = torch.cat(mlvl_centerness)
    # multiclass_nms(score_thr 0.05, nms iou 0.5, max_num 100, score_factors=centerness)
    bboxes = multi_bboxes[:, None].expand(multi_scores.size(0), 80, 4)
    scores = multi_scores * score_factors[:, None]
    labels = torch.arange(80, dtype=torch.long)[None].expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = (scores > 0.05).nonzero(as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    keep = batched_nms(bboxes, scores, labels, 0.5)[:100]
    ratio_h, ratio_w = image.shape[-2] / img_shape[0], image.shape[-1] / img_shape[1]
    return bboxes[keep] * torch.tensor([ratio_w, ratio_h, ratio_w, ratio_h]), scores[keep], labels[keep]


@pytest.mark.parametrize("shape", [(3, 150, 220), (3, 201, 133)])
def test_the_head_and_test_are_mmdetections(shape):
    model = _small_fcos()
    image = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model([image])[0]
        boxes, scores, labels = mmdet_detect(model, image)
    assert 10 < len(scores) <= 100, len(scores)  # the test is exercised, the cap included where it binds
    torch.testing.assert_close(ours["scores"], scores, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours["boxes"], boxes, rtol=1e-5, atol=1e-3)
    assert torch.equal(ours["labels"], labels + 1)  # hrseg's labels: mmdetection's + 1 (0 the background)


def test_mmdetections_file_loads_whole_and_takes_rgb(official_state, tmp_path: Path):
    """reference/checkpoint_layouts' FCOS W32 (mmdetection's keys and shapes) loads strictly into
    det_fcos_hrnetv2p_w32 with mmdetection's head (37,297,690 parameters, as the reference counts), and the
    reversed first convolution on RGB gives what the file's own gives on BGR."""
    state = official_state("mmdet_fcos_hrnetv2p_w32_gn_head_coco.json")
    assert detect_layout(state) == "mmdet_fcos"
    path = tmp_path / "fcos_w32.pth"
    torch.save({"state_dict": state, "meta": {"CLASSES": []}}, path)
    model = hrseg.build_model("det_fcos_hrnetv2p_w32", weights=str(path), head_type="mmdetection").eval()
    assert isinstance(model, MMDetFCOS) and sum(p.numel() for p in model.parameters()) == 37_297_690
    assert torch.equal(model.head.scales[3].scale, state["bbox_head.scales.3.scale"])
    as_published = hrseg.build_model("det_fcos_hrnetv2p_w32", head_type="mmdetection").eval()
    as_published.load_state_dict({**convert(state).state,
                                  "backbone.body.backbone.conv1.weight": state["backbone.conv1.weight"]})
    rgb = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))  # normalised, RGB order
    with torch.no_grad():
        ours = model.backbone(rgb)
        theirs = as_published.backbone(rgb.flip(1))  # mmdetection's input: the same numbers, BGR
    for level in ours:
        torch.testing.assert_close(ours[level], theirs[level], rtol=1e-4, atol=1e-5)


def test_the_records_and_their_models():
    record = get_weights("det_fcos_hrnetv2p_w32.mmdet_coco_2x_ms640-800")
    assert record.layout == "mmdet_fcos" and record.metric == "box AP 41.9" and record.sha256 == "b6f2b49f"
    assert record.model_options() == {"num_classes": 81, "head_type": "mmdetection"}
    assert get_weights("coco", "det_fcos_hrnetv2p_w18").name == "det_fcos_hrnetv2p_w18.mmdet_coco_2x_ms640-800"
    assert get_weights("coco_1x", "det_fcos_hrnetv2p_w32").url.endswith("20201211_134730-cb8055c0.pth")
    with pytest.raises(ConfigError, match="head_type is 'torchvision' or 'mmdetection'"):
        hrseg.build_model("det_fcos_hrnetv2p_w18_small_v1", head_type="mmdet")


def test_it_is_not_trained(tmp_path: Path):
    """Neither by the model (its losses would be mmdetection's) nor by the task, which says so before the
    first step."""
    model = _small_fcos().train()
    target = {"boxes": torch.tensor([[10.0, 10.0, 60.0, 80.0]]), "labels": torch.tensor([1])}
    with pytest.raises(ConfigError, match="not trained in hrseg"):
        model([torch.rand(3, 96, 96)], [target])
    task = DET_TASK
    cfg = task.load_config(REPO / "configs" / "det" / "fcos_hrnetv2p_w32_1x_coco.py",
                           {"model.name": "det_fcos_hrnetv2p_w18_small_v1", "model.head_type": "mmdetection"})
    with pytest.raises(ConfigError, match="^det_fcos with head_type='mmdetection' .* not trained in hrseg"):
        task.training_step(cfg, task.build_model(cfg), None)


def test_a_published_fcos_name_through_hrseg_test(publish_as, shared_data: Path, tmp_path: Path, capsys):
    """``hrseg test det --weights <mmdetection FCOS name>`` (a small model with mmdetection's head served under
    it) on the COCO sample: the model is built with mmdetection's head from the record, and scored."""
    record = publish_as(_small_fcos(), "det_fcos_hrnetv2p_w18.mmdet_coco_1x", "det_fcos_hrnetv2p_w18_small_v1")
    coco = shared_data / "coco_mini"
    args = ["--weights", record.name, "--ann-file", str(coco / "instances.json"), "--img-dir", str(coco / "images"),
            "--out-dir", str(tmp_path / "test"), "--cfg-options", "model.min_size=128", "model.max_size=160",
            "test.backend=torch"]
    assert test_det.main(args) == 0
    assert "AP50" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert 0.0 <= metrics["AP"] <= 1.0 and metrics["run"]["weights"] == record.name
    model, cfg = DET_TASK.load_model(record.name)
    assert isinstance(model, MMDetFCOS) and cfg["model"]["head_type"] == "mmdetection"
