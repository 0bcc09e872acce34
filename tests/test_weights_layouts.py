"""Every published layout loads and gives the outputs of the same weights in hrseg's own layout.

Files are built from the shared layout JSONs (deterministic weights, OpenMMLab's container with a
``meta`` holding numpy values, legacy torch format); the reference is the same tensors renamed
by the ``to_official_keys`` maps of ``reference/openmmlab_meta.json`` (the reference's, not
hrseg's) and loaded through hrseg's official-layout loader.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hrseg
from hrseg import load_checkpoint
from hrseg.tasks.common import build_from_config
from hrseg.weights import load_into
from hrseg.models.mmdet_conventions import AlignedRoIAlign, UnroundedAnchorGenerator


def save_openmmlab(path: Path, state: dict) -> Path:
    meta = {"seed": np.int64(0), "dataset_meta": {"sigmas": np.linspace(0.1, 1, 17, dtype=np.float32)},
            "config": "model = dict(...)", "epoch": 210}
    torch.save({"meta": meta, "state_dict": state}, path, _use_new_zipfile_serialization=False)
    return path


def _expand(key: str, value: str) -> list[tuple[str, str]]:
    m, n = re.search(r"\{([^}]*)\}", key), re.search(r"\{([^}]*)\}", value)
    if not m:
        return [(key, value)]
    return [(key.replace(m.group(0), a), value.replace(n.group(0), b))
            for a, b in zip(m.group(1).split(","), n.group(1).split(","))]


def to_official(state: dict, layout: str, reference: Path) -> dict:
    """``state`` renamed by the reference's ``to_official_keys``; '(+ official bias)' adds a zero bias."""
    meta = json.loads((reference / "openmmlab_meta.json").read_text())["layouts"][layout]
    renames = [pair for k, v in meta["to_official_keys"].items() for pair in _expand(k, v)]
    renames.sort(key=lambda kv: -len(kv[0]))
    out = {}
    for key, value in state.items():
        src, dst = next(((s, d) for s, d in renames if key.startswith(s)), (key, key))
        target = dst.split(" ")[0] + key[len(src):]
        out[target] = value
        if "(+ official bias)" in dst:
            out[target.replace(".weight", ".bias")] = torch.zeros(value.shape[0])
    return out


def _outputs_equal(a: torch.nn.Module, b: torch.nn.Module, size=(64, 48)) -> None:
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["mmpose0x_hrnet_w32_coco_256x192", "mmpose1x_hrnet_w32_coco_256x192"])
def test_mmpose_files_give_the_official_heatmaps(layout, official_state, shared_reference, tmp_path):
    state = official_state(f"{layout}.json")
    model = hrseg.build_model("pose_hrnet_w32")
    report = load_into(model, save_openmmlab(tmp_path / "mmpose.pth", state))
    assert report.loaded == len(state) and not report.not_loaded and not report.left_out
    reference = hrseg.build_model("pose_hrnet_w32")
    official = tmp_path / "official.pth"
    torch.save(to_official(state, layout, shared_reference), official)
    load_checkpoint(reference, official)
    _outputs_equal(model, reference)


@pytest.mark.parametrize("layout,name", [("mmseg_fcn_hr18_cityscapes", "seg_hrnetv2_w18"),
                                         ("mmseg_ocrnet_hr48_cityscapes", "seg_hrnetv2_ocr_w48")])
def test_mmseg_files_give_the_official_logits(layout, name, official_state, shared_reference, tmp_path):
    state = official_state(f"{layout}.json")
    model = hrseg.build_model(name, align_corners=True)  # the file's convention must win
    report = load_into(model, save_openmmlab(tmp_path / "mmseg.pth", state))
    assert not report.not_loaded and not report.left_out
    assert "align_corners set to False" in report.summary() and "set to 0" in report.summary()
    assert model.align_corners is False and model.neck.align_corners is False
    reference = hrseg.build_model(name, align_corners=False)
    official = tmp_path / "official.pth"
    torch.save(to_official(state, layout, shared_reference), official)
    load_checkpoint(reference, official)
    _outputs_equal(model, reference, (64, 64))


def _hr18s(state: dict) -> dict:
    """mmsegmentation's HR18-Small keys from HR18's: the same widths, 2 blocks in stage 1 and in every branch,
    stages 2 / 3 / 4 of 1 / 3 / 2 modules (its config; the reference dumps no HR18-Small layout)."""
    modules = {"2": 1, "3": 3, "4": 2}

    def kept(key: str) -> bool:
        if m := re.match(r"backbone\.layer1\.(\d+)\.", key):
            return int(m.group(1)) < 2
        if m := re.match(r"backbone\.stage(\d)\.(\d+)\.(branches\.\d+\.(\d+)\.)?", key):
            return int(m.group(2)) < modules[m.group(1)] and (m.group(4) is None or int(m.group(4)) < 2)
        return True

    return {k: v for k, v in state.items() if kept(k)}


def test_mmseg_hr18_small_files_fill_w18_small_v2(official_state, shared_reference, tmp_path):
    """The HR18-Small Cityscapes files (hrseg's seg_hrnetv2_w18_small_v2) load whole, with the outputs
    of the same tensors through the official layout."""
    state = _hr18s(official_state("mmseg_fcn_hr18_cityscapes.json"))
    assert len(state) < 1838 // 2  # about half of HR18's tensors
    model = hrseg.build_model("seg_hrnetv2_w18_small_v2")
    report = load_into(model, save_openmmlab(tmp_path / "mmseg.pth", state))
    assert not report.not_loaded and not report.left_out and report.loaded >= len(state)
    reference = hrseg.build_model("seg_hrnetv2_w18_small_v2", align_corners=False)
    torch.save(to_official(state, "mmseg_fcn_hr18_cityscapes", shared_reference), tmp_path / "official.pth")
    load_checkpoint(reference, tmp_path / "official.pth")
    _outputs_equal(model, reference, (64, 64))


def _with_classes(state: dict, head: str, n: int, seed: int = 1) -> dict:
    """``state`` with the ``head`` tensors (the classifier's) of ``n`` outputs instead of the layout's:
    the same file trained on another dataset."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn((n, *v.shape[1:]), generator=g) * 0.05 if head in k else v for k, v in state.items()}


@pytest.mark.parametrize("layout,name,classes", [("mmseg_fcn_hr18_cityscapes", "seg_hrnetv2_w18", 150),
                                                 ("mmseg_fcn_hr18_cityscapes", "seg_hrnetv2_w18", 21),
                                                 ("mmseg_ocrnet_hr48_cityscapes", "seg_hrnetv2_ocr_w48", 150)])
def test_mmseg_ade20k_and_voc_files_fill_their_heads(layout, name, classes, official_state, shared_reference,
                                                      tmp_path):
    """mmsegmentation's ADE20K (150 classes) and VOC (21) files are its Cityscapes layout with other
    classifiers: they load whole into the model built with the record's classes, with the official
    layout's outputs."""
    state = _with_classes(official_state(f"{layout}.json"), "conv_seg", classes)
    model = hrseg.build_model(name, num_classes=classes)
    report = load_into(model, save_openmmlab(tmp_path / "mmseg.pth", state))
    assert not report.not_loaded and not report.left_out
    reference = hrseg.build_model(name, num_classes=classes, align_corners=False)
    torch.save(to_official(state, layout, shared_reference), tmp_path / "official.pth")
    load_checkpoint(reference, tmp_path / "official.pth")
    _outputs_equal(model, reference, (64, 64))
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape[1] == classes


def test_the_official_mpii_file_loads_with_the_mpii_recipe(official_state, tmp_path):
    """The official MPII file (``pose_mpii/pose_hrnet_w32_256x256.pth``: the COCO layout with 16 final maps)
    given beside configs/pose/hrnet_w32_mpii_256x256.py: loaded whole into the recipe's 16-map model."""
    from hrseg.tasks.pose import TASK

    state = _with_classes(official_state("pose_hrnet_w32_256x192.json"), "final_layer", 16)
    path = tmp_path / "pose_hrnet_w32_256x256.pth"
    torch.save(state, path)
    cfg = TASK.load_config(Path(__file__).resolve().parents[1] / "configs" / "pose" / "hrnet_w32_mpii_256x256.py")
    model, cfg = TASK.load_model(path, cfg)
    assert model.head.final_layer.out_channels == 16 and cfg["data"]["format"] == "mpii"
    torch.testing.assert_close(model.head.final_layer.weight, state["final_layer.weight"])
    report = load_checkpoint(hrseg.build_model("pose_hrnet_w32", num_joints=16), path)
    assert report.loaded == len(state) and not report.not_loaded and not report.left_out


@pytest.mark.parametrize("layout,name", [("mmpose0x_hrnet_w32_coco_256x192", "pose_hrnet_w32"),
                                         ("mmseg_fcn_hr18_cityscapes", "seg_hrnetv2_w18")])
def test_one_loader_for_load_checkpoint_and_build_model(layout, name, official_state, tmp_path):
    """hrseg.load_checkpoint reads the OpenMMLab files build_model(weights=...) reads, with the same
    outputs (one calls the other's loader), and returns its report."""
    path = save_openmmlab(tmp_path / "openmmlab.pth", official_state(f"{layout}.json"))
    built = hrseg.build_model(name, weights=path)
    model = hrseg.build_model(name)
    report = load_checkpoint(model, path)
    assert report.loaded > 0 and not report.not_loaded and f"layout {layout.split('_')[0]}" in report.summary()
    _outputs_equal(built, model, (64, 64))


def test_timm_safetensors_and_pth_into_backbone_and_task_models(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    state = _randomised(timm.create_model("hrnet_w18_small", pretrained=False).state_dict())
    save_file(state, tmp_path / "model.safetensors")
    torch.save(state, tmp_path / "hrnet_w18_small.pth")
    reference = timm.create_model("hrnet_w18_small", features_only=True, feature_location="", out_indices=(1, 2, 3, 4))
    reference.load_state_dict({k: v for k, v in state.items() if k in reference.state_dict()})
    for path in (tmp_path / "model.safetensors", tmp_path / "hrnet_w18_small.pth"):
        backbone = hrseg.build_model("hrnet_w18_small_v1")
        report = load_into(backbone, path)
        assert "classifier" in report.summary() and report.left_out
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            for a, b in zip(backbone.eval()(x), reference.eval()(x)):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    pose = hrseg.build_model("pose_hrnet_w18_small_v1", pretrained=str(tmp_path / "model.safetensors"))
    assert torch.equal(pose.backbone.conv1.weight, state["conv1.weight"])


def _randomised(state: dict, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) + 0.5
        elif v.dtype.is_floating_point:
            out[k] = torch.randn(v.shape, generator=g) * 0.05
        else:
            out[k] = v.clone()
    return out


@pytest.mark.parametrize("task", ["pose", "seg"])
def test_model_pretrained_changes_the_first_loss(task, tmp_path):
    """``model.pretrained`` in a config's model section (as the task code passes it) fills the
    backbone before training; the first loss differs from the from-scratch one."""
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    save_file(_randomised(timm.create_model("hrnet_w18_small", pretrained=False).state_dict()),
              tmp_path / "imagenet.safetensors")
    name = "pose_hrnet_w18_small_v1" if task == "pose" else "seg_hrnetv2_w18_small_v1"
    x = torch.randn(2, 3, 64, 64)

    def first_loss(cfg: dict) -> float:
        torch.manual_seed(0)
        model = build_from_config(cfg).train()
        out = model(x)
        target = torch.zeros_like(out) if task == "pose" else torch.zeros(2, 16, 16, dtype=torch.long)
        return float(F.mse_loss(out, target) if task == "pose" else F.cross_entropy(out, target))

    scratch = first_loss({"name": name})
    assert first_loss({"name": name}) == scratch  # deterministic
    assert first_loss({"name": name, "pretrained": str(tmp_path / "imagenet.safetensors")}) != scratch


def test_mmdet_faster_rcnn_heads_follow_mmdetection(official_state, tmp_path):
    """mmdet W18 Faster R-CNN: every key maps; the neck, RPN, anchors and box head compute what
    mmdetection's HRFPN / RPNHead / AnchorGenerator / Shared2FCBBoxHead compute (written out
    here from the reference's description, not from hrseg's code)."""
    state = official_state("mmdet_faster_rcnn_hrnetv2p_w18_coco.json")
    model = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18", min_size=128, max_size=128).eval()
    report = load_into(model, save_openmmlab(tmp_path / "mmdet.pth", state))
    assert report.loaded == len(state) and not report.not_loaded and not report.left_out
    assert isinstance(model.rpn.anchor_generator, UnroundedAnchorGenerator)
    assert isinstance(model.roi_heads.box_roi_pool, AlignedRoIAlign)

    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        feats = model.backbone.body.backbone(x)
        ups = [feats[0]] + [F.interpolate(f, scale_factor=2 ** i, mode="bilinear") for i, f in enumerate(feats) if i]
        red = F.conv2d(torch.cat(ups, 1), state["neck.reduction_conv.conv.weight"], state["neck.reduction_conv.conv.bias"])
        pools = [red] + [F.avg_pool2d(red, 2 ** i, 2 ** i) for i in range(1, 5)]
        expected = [F.conv2d(p, state[f"neck.fpn_convs.{i}.conv.weight"], state[f"neck.fpn_convs.{i}.conv.bias"],
                             padding=1) for i, p in enumerate(pools)]
        levels = list(model.backbone(x).values())
        for a, b in zip(levels, expected):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        t = F.relu(F.conv2d(levels[1], state["rpn_head.rpn_conv.weight"], state["rpn_head.rpn_conv.bias"], padding=1))
        cls, reg = model.rpn.head([levels[1]])
        torch.testing.assert_close(cls[0], F.conv2d(t, state["rpn_head.rpn_cls.weight"], state["rpn_head.rpn_cls.bias"]))
        torch.testing.assert_close(reg[0], F.conv2d(t, state["rpn_head.rpn_reg.weight"], state["rpn_head.rpn_reg.bias"]))

        # mmdetection's base anchors at stride 4, scale 8, ratios 0.5 / 1 / 2: not rounded.
        h = torch.sqrt(torch.tensor([0.5, 1.0, 2.0]))
        w, hh = 32 / h, 32 * h
        torch.testing.assert_close(model.rpn.anchor_generator.cell_anchors[0],
                                   torch.stack([-w / 2, -hh / 2, w / 2, hh / 2], 1))

        feat = torch.randn(5, 1024)
        mm_cls = feat @ state["roi_head.bbox_head.fc_cls.weight"].T + state["roi_head.bbox_head.fc_cls.bias"]
        mm_reg = feat @ state["roi_head.bbox_head.fc_reg.weight"].T + state["roi_head.bbox_head.fc_reg.bias"]
        scores, deltas = model.roi_heads.box_predictor(feat)
        p_mm, p_tv = mm_cls.softmax(-1), scores.softmax(-1)
        torch.testing.assert_close(p_tv[:, 0], p_mm[:, 80])  # background
        torch.testing.assert_close(p_tv[:, 1:], p_mm[:, :80])  # person is label 1 = mmdet class 0
        torch.testing.assert_close(deltas.view(5, 81, 4)[:, 1:], mm_reg.view(5, 80, 4))
        out = model([torch.rand(3, 128, 128)])[0]
    assert set(out) == {"boxes", "labels", "scores"}


def test_official_ocr_record_wants_align_corners_true(official_state, tmp_path, monkeypatch):
    """The official OCR Cityscapes file was trained with align_corners=True: loading it by name
    sets it, whatever the model was built with (the file itself cannot say)."""
    from hrseg.weights import cache_dir, get_weights

    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))
    record = get_weights("cityscapes", "seg_hrnetv2_ocr_w48")
    path = cache_dir() / record.filename
    path.parent.mkdir(parents=True)
    state = official_state("seg_hrnet_w48_ocr_cityscapes_19.json")
    torch.save({f"model.{k}": v for k, v in state.items()}, path)
    model = hrseg.build_model("seg_hrnetv2_ocr_w48", weights="cityscapes")
    assert model.align_corners is True and model.neck.align_corners is True
    assert torch.equal(model.head.cls_head.weight, state["cls_head.weight"])


def test_mmdet_mask_rcnn_file_loads_whole(official_state, tmp_path):
    """The OpenMMLab Mask R-CNN HRNetV2p-W32 layout: box part as Faster R-CNN's, mask head to
    torchvision's (background row added), every tensor used, the mask RoIAlign aligned too."""
    state = official_state("mmdet_mask_rcnn_hrnetv2p_w32_coco.json")
    model = hrseg.build_model("det_maskrcnn_hrnetv2p_w32", min_size=128, max_size=128).eval()
    report = load_into(model, save_openmmlab(tmp_path / "mask.pth", state))
    assert report.loaded == len(model.state_dict()) and not report.not_loaded and not report.left_out
    assert isinstance(model.roi_heads.mask_roi_pool, AlignedRoIAlign)
    logits = model.roi_heads.mask_predictor.mask_fcn_logits.weight
    torch.testing.assert_close(logits[1:], state["roi_head.mask_head.conv_logits.weight"])
    assert not logits[0].any()
