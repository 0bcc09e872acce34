"""The weights loader's checks: a backbone file of another variant or cut short, a partial
mmdetection file, a refused file named in one line, a published file known by its name when
passed as a path. Tiny models and synthesised state dicts; nothing reaches the network."""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import hrseg
from hrseg import load_checkpoint, weights
from hrseg.errors import CheckpointError
from hrseg.weights.layouts import convert


def _imagenet_file(tmp_path: Path, model_name: str, drop: tuple[str, ...] = (), name: str = "in1k.pth") -> Path:
    """An ImageNet classification file of ``model_name``'s HRNet: its keys (the official ones) and
    a classifier; ``drop``: key prefixes cut from it (a file cut short)."""
    state = {k: v for k, v in hrseg.build_model(model_name).state_dict().items() if not k.startswith(drop)}
    state.update({"classifier.weight": torch.zeros(10, 2048), "classifier.bias": torch.zeros(10)})
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_an_imagenet_file_of_another_variant_is_an_error(tmp_path):
    """W18-small-v2 has W18's widths, so every key it shares with W18 fits: a load that leaves
    the blocks and modules W18-small-v2 lacks at their initial values must not pass silently."""
    path = _imagenet_file(tmp_path, "hrnet_w18_small_v2", name="hrnet_w18_small_v2_in1k.pth")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(hrseg.build_model("hrnet_w18"), path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "backbone keys" in msg and "layer1.2.conv1.weight" in msg
    with pytest.raises(CheckpointError, match=r"hrnet_w18_small_v2_in1k\.pth: .*missing \d+ of its \d+ backbone keys"):
        hrseg.build_model("seg_hrnetv2_w18", pretrained=path)


def test_an_imagenet_file_cut_short_is_an_error_unless_strict_is_off(tmp_path):
    path = _imagenet_file(tmp_path, "hrnet_w18_small_v1", drop=("stage3", "stage4", "transition2", "transition3"))
    with pytest.raises(CheckpointError, match=r"in1k\.pth: .*missing \d+ of its \d+ backbone keys.*stage3\.0"):
        load_checkpoint(hrseg.build_model("hrnet_w18_small_v1"), path)
    with pytest.raises(CheckpointError, match=r"in1k\.pth: .*backbone keys.*backbone\.stage3\.0"):
        hrseg.build_model("seg_hrnetv2_w18_small_v1", pretrained=path)
    report = load_checkpoint(hrseg.build_model("hrnet_w18_small_v1"), path, strict=False)  # asked for: allowed
    assert "stage3.0.fuse_layers.0.1.0.weight" in report.not_loaded and report.loaded


def test_backbone_loads_that_leave_keys_at_init_by_design_still_pass(tmp_path):
    """The leniency a backbone load needs: a pose model lacks keys of the ImageNet file (left
    out), a detector's V2p neck and every head stay at init, and a pose file (highest-resolution
    fusion only) fills a segmentation backbone but its last lower-resolution fusion."""
    path = _imagenet_file(tmp_path, "hrnet_w18_small_v1")
    report = load_checkpoint(hrseg.build_model("pose_hrnet_w18_small_v1"), path)
    assert report.not_loaded == ["head.final_layer.weight", "head.final_layer.bias"]
    assert any(k.startswith("stage4.0.fuse_layers.1") for k in report.left_out)
    report = load_checkpoint(hrseg.build_model("det_fasterrcnn_hrnetv2p_w18_small_v1"), path)
    assert "backbone.body.neck.reduction.weight" in report.not_loaded
    assert not any(k.startswith("backbone.body.backbone.") for k in report.not_loaded)

    pose = hrseg.save_checkpoint(tmp_path / "pose.pth", hrseg.build_model("pose_hrnet_w18_small_v1"))
    seg = hrseg.build_model("seg_hrnetv2_w18_small_v1")
    report = weights.load_into(seg, pose, backbone_only=True)
    fusion = [k for k in report.not_loaded if k.startswith("backbone.")]
    assert fusion and all(k.startswith(("backbone.stage4.0.fuse_layers.1.", "backbone.stage4.0.fuse_layers.2.",
                                        "backbone.stage4.0.fuse_layers.3.")) for k in fusion)
    assert any("last module's fusion into the lower resolutions" in n for n in report.notes)
    cut = {k: v for k, v in torch.load(pose, weights_only=True)["state_dict"].items()
           if not k.startswith("backbone.stage4.0.branches.1")}
    torch.save(cut, tmp_path / "pose_cut.pth")
    with pytest.raises(CheckpointError, match=r"pose_cut\.pth: .*backbone\.stage4\.0\.branches\.1"):
        hrseg.build_model("seg_hrnetv2_w18_small_v1", pretrained=tmp_path / "pose_cut.pth")


def test_an_mmdet_file_without_its_classifier_is_one_clear_error(official_state, tmp_path):
    state = {k: v for k, v in official_state("mmdet_faster_rcnn_hrnetv2p_w18_coco.json").items() if "fc_cls" not in k}
    path = tmp_path / "mmdet_partial.pth"
    torch.save({"state_dict": state}, path)
    model = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18", min_size=128, max_size=128)
    with pytest.raises(CheckpointError, match=r"mmdet_partial\.pth: .*missing 2 keys: roi_heads\.box_predictor\."
                                              r"cls_score"):
        load_checkpoint(model, path)
    report = load_checkpoint(model, path, strict=False)  # the rest converted: a head to fine-tune on other classes
    assert report.not_loaded == ["roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias"]
    assert model.roi_heads.box_predictor.bbox_pred.weight.shape[0] == 81 * 4


def test_mmdet_refusals_name_the_file(tmp_path):
    """A single-stage detector other than FCOS (RetinaNet's head: no centerness) and a Mask R-CNN file whose
    mask head is incomplete: refused, naming the file."""
    t = torch.zeros(2)
    retina = tmp_path / "retinanet_hrnetv2p_w32.pth"
    torch.save({"backbone.conv1.weight": t, "neck.reduction_conv.conv.weight": t, "bbox_head.retina_cls.weight": t},
               retina)
    with pytest.raises(CheckpointError, match=r"retinanet_hrnetv2p_w32\.pth: an mmdetection single-stage detector "
                                              r"other than FCOS"):
        load_checkpoint(hrseg.build_model("hrnet_w18_small_v1"), retina)
    mask = {"rpn_head.rpn_conv.weight": t, "roi_head.bbox_head.fc_cls.weight": t,
            "roi_head.mask_head.convs.0.conv.weight": t}
    with pytest.raises(CheckpointError, match=r"mask\.pth: not an mmdetection Mask R-CNN mask head"):
        convert(mask, path=tmp_path / "mask.pth")


def test_a_published_file_passed_as_a_path_gets_its_align_corners(tmp_path, monkeypatch):
    """Known by its file name (no hashing), as loading by name knows it: the official OCR file
    wants align_corners=True whatever the model was built with."""
    record = weights.get_weights("seg_hrnetv2_ocr_w48.official_cityscapes")
    assert record.meta["align_corners"] is True
    small = replace(record, name="seg_hrnetv2_ocr_w18_small_v1.official_cityscapes")  # a tiny model, same file
    monkeypatch.setitem(weights._BY_NAME, record.name, small)
    path = hrseg.save_checkpoint(tmp_path / record.filename, hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1"))
    model = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", align_corners=False)
    report = load_checkpoint(model, path)
    assert model.align_corners is True and model.neck.align_corners is True
    assert any("align_corners set to True" in n for n in report.notes)
    model = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", align_corners=False, weights=path)
    assert model.align_corners is True
    other = hrseg.save_checkpoint(tmp_path / "mine.pth", hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1"))
    model = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", align_corners=False, weights=other)
    assert model.align_corners is False  # a file no record names keeps what the model was built with


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo this-must-never-run > /dev/null",))


def test_a_refused_file_is_one_line_and_a_dropped_object_one_plain_note(tmp_path, caplog):
    """``hrseg weights verify`` of a code-running pickle: the refusal only, not torch's long text
    logged first; an object that is dropped (argparse.Namespace) is one note without terminal escapes."""
    state = {"w": torch.zeros(2)}
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": state, "args": argparse.Namespace(a=1), "x": _RunsACommand()}, evil)
    with caplog.at_level("INFO", logger="hrseg"), pytest.raises(CheckpointError, match=r"evil\.pth: refused"):
        weights.verify(evil)
    assert not [r for r in caplog.records if r.name == "hrseg"], caplog.text
    with caplog.at_level("INFO", logger="hrseg"), pytest.raises(CheckpointError, match=r"evil\.pth: refused"):
        load_checkpoint(hrseg.build_model("hrnet_w18_small_v1"), evil)
    assert not [r for r in caplog.records if r.name == "hrseg"], caplog.text
    ns = tmp_path / "ns.pth"
    torch.save({"state_dict": state, "meta": {"args": argparse.Namespace(a=1)}}, ns)
    with caplog.at_level("INFO", logger="hrseg"):
        assert weights.verify(ns)["tensors"] == 1
    notes = [r.getMessage() for r in caplog.records if r.name == "hrseg"]
    assert len(notes) == 1 and "ns.pth" in notes[0] and "\x1b" not in notes[0] and "\n" not in notes[0]
