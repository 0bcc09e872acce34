"""The weights audit's findings: hash-named URLs of every published form, a record's classes and
meta on the model (and in its saved checkpoint), detector files into bare backbones, Mask R-CNN
person detectors, pickled models, conventions noted only when set, stale downloads, mmdetection's
RPN test counts. Files are built here, URLs are file://; nothing reaches the network."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import hrseg
from hrseg import weights
from hrseg.errors import CheckpointError, ConfigError
from hrseg.meta import IMAGENET_MEAN
from hrseg.meta.classes import PASCAL_CONTEXT_59_CLASSES
from hrseg.meta.keypoints import COCO_PERSON, KeypointSet
from hrseg.weights import cache, cache_dir, fetch_url, get_weights, load_into
from hrseg.weights.detector import _hrnet_detector_for, load_published_detector
from hrseg.models.mmdet_conventions import AlignedRoIAlign, UnroundedAnchorGenerator
from hrseg.weights.mmdet import apply_conventions

SMALL = "hrnet_w18_small_v1"
SMALL_POSE = "pose_hrnet_w18_small_v1"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _serve(tmp_path: Path, name: str, payload: bytes) -> str:
    served = tmp_path / "server" / name
    served.parent.mkdir(parents=True, exist_ok=True)
    served.write_bytes(payload)
    return served.as_uri()


def _openmmlab(path: Path, state: dict) -> Path:
    """``state`` in OpenMMLab's container: under ``state_dict``, beside a ``meta`` with numpy values."""
    torch.save({"meta": {"seed": np.int64(0), "epoch": 12}, "state_dict": state}, path)
    return path


@pytest.fixture(scope="module")
def mmdet_w18(official_state, tmp_path_factory) -> tuple[Path, dict]:
    """An mmdetection Faster R-CNN HRNetV2p-W18 file (the reference layout, deterministic values)."""
    state = official_state("mmdet_faster_rcnn_hrnetv2p_w18_coco.json")
    return _openmmlab(tmp_path_factory.mktemp("mmdet") / "faster_rcnn_w18.pth", state), state


# -- F1: one hash rule for the table and for URLs ----------------------------------------------------
@pytest.mark.parametrize("template", ["td-hm_hrnet-w32_8xb64-210e_coco-256x192-{}_20220909.pth",
                                      "hrnet_w32_coco_256x192-{}_20200708.pth", "resnet50-{}.pth"])
def test_a_url_of_any_published_name_form_is_hash_checked(tmp_path, home, template):
    payload = b"weights of some kind"
    sha = hashlib.sha256(payload).hexdigest()
    with pytest.raises(CheckpointError, match="does not match the published deadbeef"):
        fetch_url(_serve(tmp_path, template.format("deadbeef"), payload), progress=False)
    assert fetch_url(_serve(tmp_path, template.format(sha[:8]), payload), progress=False).read_bytes() == payload
    assert fetch_url(_serve(tmp_path, template.format(sha[:12]), payload), progress=False).is_file()  # longer


# -- F2: a record's classes build the model ------------------------------------------------------------
def test_published_weights_with_other_classes_build_the_model_with_them(home, monkeypatch):
    record = get_weights("seg_hrnetv2_w48.official_pascal_context_59")
    small = replace(record, name="seg_hrnetv2_w18_small_v1.official_pascal_context_59")  # the same file, tiny
    monkeypatch.setitem(weights._BY_NAME, record.name, small)
    path = hrseg.save_checkpoint(cache_dir() / small.filename,
                                 hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=59))
    model = hrseg.build_model("seg_hrnetv2_w18_small_v1", weights="pascal_context_59")
    assert model.num_classes == 59 and model.head.last_layer[3].out_channels == 59
    assert model.meta["classes"] == list(PASCAL_CONTEXT_59_CLASSES) and model.meta["dataset"] == "pascal_context"
    assert hrseg.build_model("seg_hrnetv2_w18_small_v1", weights=path).num_classes == 59  # known by file name
    with pytest.raises(ConfigError, match=r"num_classes=19, but the weights 'seg_hrnetv2_w18_small_v1\."
                                          r"official_pascal_context_59' have num_classes 59"):
        hrseg.build_model("seg_hrnetv2_w18_small_v1", weights="pascal_context_59", num_classes=19)


# -- F3: the record's meta on the model, in its checkpoint and back ------------------------------------
def test_published_meta_travels_with_the_model(tmp_path, home, monkeypatch):
    base = get_weights("pose_hrnet_w32.mmpose1x_coco_256x192")
    published = hrseg.build_model("pose_hrnet_w18_small_v1")
    del published.meta  # a published file is the state dict alone: no hrseg meta of its own
    file = hrseg.save_checkpoint(tmp_path / "tiny.pth", published)
    payload = file.read_bytes()
    url = _serve(tmp_path, f"td-hm_tiny-{hashlib.sha256(payload).hexdigest()[:8]}_20220909.pth", payload)
    record = replace(base, name="pose_hrnet_w18_small_v1.mmpose1x_coco_256x192", url=url)
    monkeypatch.setitem(weights._BY_NAME, base.name, record)
    monkeypatch.setitem(weights._BY_NAME, record.name, record)
    model = hrseg.build_model("pose_hrnet_w18_small_v1", weights="coco")
    meta = model.meta
    assert (meta["task"], meta["model"], meta["weights"]) == ("pose", "pose_hrnet_w18_small_v1", record.name)
    assert meta["input_size"] == [256, 192] and meta["mean"] == list(IMAGENET_MEAN)
    assert meta["keypoints"] == COCO_PERSON.to_dict() and KeypointSet.from_dict(meta["keypoints"]) == COCO_PERSON
    saved = hrseg.save_checkpoint(tmp_path / "mine.pth", model)
    assert torch.load(saved, weights_only=True)["meta"] == {"model": meta}
    fresh = hrseg.build_model("pose_hrnet_w18_small_v1")
    hrseg.load_checkpoint(fresh, saved)
    assert fresh.meta == meta
    built = hrseg.build_model(SMALL)
    del built.meta  # as a model built with an option (hrseg.models.build_model)
    bare = hrseg.save_checkpoint(tmp_path / "bare.pth", built)
    assert "meta" not in torch.load(bare, weights_only=True)  # a model without meta: the state dict only
    # the tools take that file as the published weights it holds (their config and test settings)
    from hrseg.tasks import pose

    loaded, cfg = pose.TASK.load_model(saved)
    assert cfg["model"]["name"] == "pose_hrnet_w18_small_v1" and loaded.meta["input_size"] == [256, 192]
    loaded_state = loaded.state_dict()
    assert all(torch.equal(loaded_state[k], v) for k, v in model.state_dict().items())


# -- F4: a detector's HRNetV2p into a bare HRNet / HRNetV2p --------------------------------------------
def test_a_detector_file_fills_a_bare_hrnet_and_an_hrnetv2p(mmdet_w18):
    path, state = mmdet_w18
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    hrnet = hrseg.build_model("hrnet_w18")
    report = hrseg.load_checkpoint(hrnet, path)
    got = hrnet.state_dict()
    assert all(torch.equal(got[k], v) for k, v in backbone.items()) and not report.not_loaded
    assert not any("RoIAlign" in n for n in report.notes)  # F7: no detector, nothing set
    pyramid = hrseg.build_model("hrnetv2p_w18")
    report = hrseg.load_checkpoint(pyramid, path)
    got = pyramid.state_dict()
    assert all(torch.equal(got[f"backbone.{k}"], v) for k, v in backbone.items()) and not report.not_loaded
    assert torch.equal(got["neck.reduction.weight"], state["neck.reduction_conv.conv.weight"])
    assert torch.equal(got["neck.level_convs.4.bias"], state["neck.fpn_convs.4.conv.bias"])
    assert all(k.startswith(("rpn.", "roi_heads.")) for k in report.left_out)


# -- F5: an mmdetection Mask R-CNN file as the person detector ------------------------------------------
def test_the_detector_of_an_mmdet_file_is_named_by_its_heads_and_backbone():
    for name in ("hrnet_w18_small_v1", "hrnet_w18_small_v2"):
        state = {f"backbone.{k}": v for k, v in hrseg.build_model(name).state_dict().items()}
        plain = name.replace("hrnet_", "hrnetv2p_")
        masked = {**state, "roi_head.mask_head.conv_logits.weight": torch.zeros(1)}
        assert _hrnet_detector_for(state, "mmdet_faster_rcnn") == f"det_fasterrcnn_{plain}"
        assert _hrnet_detector_for(masked, "mmdet_faster_rcnn") == f"det_maskrcnn_{plain}"
        assert _hrnet_detector_for(state, "mmdet_cascade_rcnn") == f"det_cascadercnn_{plain}"
        assert _hrnet_detector_for(masked, "mmdet_cascade_rcnn") == f"det_cascademaskrcnn_{plain}"
        assert _hrnet_detector_for(state, "mmdet_fcos") == f"det_fcos_{plain}"
    with pytest.raises(CheckpointError, match=r"x\.pth: its HRNet \(branch width 16, modules \(1, 3, 2\)"):
        _hrnet_detector_for({**state, "backbone.stage2.0.branches.0.0.conv1.weight": torch.zeros(16, 1)},
                            "mmdet_faster_rcnn", "x.pth")


def test_an_mmdet_mask_rcnn_file_given_by_path_is_the_person_detector(official_state, tmp_path):
    path = _openmmlab(tmp_path / "mask.pth", official_state("mmdet_mask_rcnn_hrnetv2p_w32_coco.json"))
    model, source = load_published_detector(path)
    assert source == str(path) and model.roi_heads.has_mask() and model.classes[0]["name"] == "person"
    assert isinstance(model.roi_heads.mask_roi_pool, AlignedRoIAlign)


# -- F6: a pickled model ------------------------------------------------------------------------------
def test_a_pickled_model_is_named_as_such(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(hrseg.build_model(SMALL), path)
    with pytest.raises(CheckpointError, match=r"whole_model\.pth: the file holds a pickled HRNet object "
                                              r"\(torch\.save\(model\)\), not a state dict; save model\.state_dict"):
        hrseg.load_checkpoint(hrseg.build_model(SMALL), path)


# -- F7 + F9: conventions noted where set; mmdetection's RPN test counts ------------------------------
def test_conventions_are_set_and_noted_by_a_whole_load_only(mmdet_w18, official_state, tmp_path):
    path, _ = mmdet_w18
    model = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18")
    report = load_into(model, path, backbone_only=True)
    assert not any("RoIAlign" in n or "RPN" in n for n in report.notes), report.notes
    assert not isinstance(model.rpn.anchor_generator, UnroundedAnchorGenerator)
    assert (model.rpn._pre_nms_top_n["testing"], model.rpn._post_nms_top_n["testing"]) == (2000, 2000)
    report = load_into(model, path)
    assert any("aligned RoIAlign" in n for n in report.notes) and any("RPN test proposals 1000" in n
                                                                       for n in report.notes)
    assert (model.rpn._pre_nms_top_n["testing"], model.rpn._post_nms_top_n["testing"]) == (1000, 1000)
    assert model.rpn._post_nms_top_n["training"] == 2000  # training keeps its own

    given = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18_small_v1", rpn_post_nms_top_n_test=300)
    assert not any("RPN" in n for n in apply_conventions(given))
    assert (given.rpn._pre_nms_top_n["testing"], given.rpn._post_nms_top_n["testing"]) == (2000, 300)

    fcn = _openmmlab(tmp_path / "fcn.pth", official_state("mmseg_fcn_hr18_cityscapes.json"))
    seg = hrseg.build_model("seg_hrnetv2_w18", align_corners=True)
    report = load_into(seg, fcn, backbone_only=True)
    assert seg.align_corners is True and not any("align_corners" in n for n in report.notes), report.notes
    report = load_into(seg, fcn)
    assert seg.align_corners is False and any("align_corners set to False" in n for n in report.notes)


# -- F8: a killed download's temporary file --------------------------------------------------------
def test_a_download_removes_what_a_killed_one_left(tmp_path, home):
    dst = cache_dir() / "w.pth"
    dst.parent.mkdir(parents=True)
    stale, other = dst.with_name(".w.k1ll3d_x.pth"), dst.with_name(".v.k1ll3d_x.pth")
    stale.write_bytes(b"partial")
    other.write_bytes(b"another file's")
    cache.download(_serve(tmp_path, "w.pth", b"whole"), dst, progress=False)
    assert dst.read_bytes() == b"whole" and not stale.exists() and other.exists()


def test_a_download_waits_for_another_and_takes_its_file(tmp_path, home):
    """A second process asking for the same file waits on the lock, then finds it (no transfer:
    its URL does not exist)."""
    dst = cache_dir() / "w.pth"
    dst.parent.mkdir(parents=True)
    with open(dst.with_name(".w.pth.lock"), "a+b") as lock:
        cache.fcntl.flock(lock, cache.fcntl.LOCK_EX)

        def finish() -> None:
            dst.write_bytes(b"downloaded by the other")
            cache.fcntl.flock(lock, cache.fcntl.LOCK_UN)

        threading.Timer(0.2, finish).start()
        got = cache.download((tmp_path / "nothing-here.pth").as_uri(), dst, progress=False)
    assert got.read_bytes() == b"downloaded by the other"


def test_verify_names_the_model_an_hrseg_checkpoint_records(tmp_path):
    """hrseg export needs the model's name; weights verify says which one a run's checkpoint holds."""
    from hrseg.tasks import pose

    cfg = pose.TASK.load_config(None, [f"model.name={SMALL_POSE}"])
    path = hrseg.save_checkpoint(tmp_path / "run.pth", pose.TASK.build_model(cfg),
                                 meta={"config": cfg, "model": pose.TASK.model_meta(cfg)})
    assert weights.verify(path)["model"] == SMALL_POSE
    # a model hrseg.build_model made records its name too (its meta); a bare state dict names none
    assert weights.verify(hrseg.save_checkpoint(tmp_path / "built.pth", hrseg.build_model(SMALL)))["model"] == SMALL
    torch.save(hrseg.build_model(SMALL).state_dict(), tmp_path / "bare.pth")
    assert "model" not in weights.verify(tmp_path / "bare.pth")


def test_a_missing_file_with_a_published_files_name_says_its_name(tmp_path, monkeypatch):
    """`--weights hrnet_cs_8090_torch11.pth` (the README's example) where no such file is: the error
    names the published weights that download it."""
    monkeypatch.chdir(tmp_path)
    record = get_weights("seg_hrnetv2_w48.official_cityscapes")
    with pytest.raises(CheckpointError, match=rf"{record.filename}: checkpoint file not found \(it is the published "
                                              rf"{record.name}: --weights {record.name} downloads it\)"):
        weights.resolve(record.filename)
    with pytest.raises(CheckpointError, match=r"other.pth: checkpoint file not found$"):
        weights.resolve("other.pth")
