"""Checkpoints: hrseg's own, the official layouts as they are, and clear errors when they do not fit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import hrseg
from hrseg import load_checkpoint
from hrseg.checkpoint import read_checkpoint, save_checkpoint
from hrseg.errors import CheckpointError


def _save(tmp_path: Path, name: str, obj) -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("layout,model_name,overrides", [
    ("pose_hrnet_w32_256x192.json", "pose_hrnet_w32", {}),
    ("pose_hrnet_w48_384x288.json", "pose_hrnet_w48", {}),
    ("seg_hrnet_w48_cityscapes_19.json", "seg_hrnetv2_w48", {}),
    ("seg_hrnet_w48_pascal_ctx_59.json", "seg_hrnetv2_w48", {"num_classes": 59}),
])
def test_official_layouts_load_as_they_are(layout, model_name, overrides, official_state, tmp_path):
    state = official_state(layout)
    model = hrseg.build_model(model_name, **overrides)
    report = load_checkpoint(model, _save(tmp_path, "official.pth", state))
    assert report.loaded == len(state) and not report.not_loaded and not report.left_out
    head = "final_layer" if model_name.startswith("pose") else "last_layer.3"
    assert torch.equal(model.head.get_parameter(f"{head}.weight"), state[f"{head}.weight"])
    assert torch.equal(model.backbone.stage4[0].fuse_layers[0][1][0].weight, state["stage4.0.fuse_layers.0.1.0.weight"])


@pytest.mark.parametrize("wrap", [
    lambda s: {"state_dict": s},
    lambda s: {f"module.{k}": v for k, v in s.items()},
    lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}, "epoch": 3},
    # The official segmentation code saves its FullModel: model.* plus the loss's class weights.
    lambda s: {**{f"model.{k}": v for k, v in s.items()}, "loss.criterion.weight": torch.ones(19)},
])
def test_wrappers_and_prefixes_are_stripped(wrap, official_state, tmp_path):
    state = official_state("seg_hrnet_w48_cityscapes_19.json")
    model = hrseg.build_model("seg_hrnetv2_w48")
    report = load_checkpoint(model, _save(tmp_path, "wrapped.pth", wrap(state)))
    assert report.loaded == len(state)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])


def test_own_checkpoint_round_trip(tmp_path):
    model = hrseg.build_model("pose_hrnet_w18_small_v1").eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    path = save_checkpoint(tmp_path / "ckpt.pth", model, meta={"epoch": 3, "config": {"lr": 1e-3}})
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    other = hrseg.build_model("pose_hrnet_w18_small_v1").eval()
    load_checkpoint(other, path)
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(model(x), other(x))
    assert read_checkpoint(path)["meta"]["epoch"] == 3


def _imagenet_state(seed=0) -> dict[str, torch.Tensor]:
    timm = pytest.importorskip("timm")
    torch.manual_seed(seed)
    state = timm.create_model("hrnet_w32", pretrained=False).state_dict()
    g = torch.Generator().manual_seed(seed)
    for k, v in state.items():
        if k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        elif v.dtype.is_floating_point:
            state[k] = torch.randn(v.shape, generator=g) * 0.05
    return state


@pytest.mark.slow
def test_timm_hrnet_w32_features_equal_the_backbone(tmp_path):
    """A random timm hrnet_w32 state dict (the ImageNet layout) into the bare backbone: the four
    stream outputs equal timm's features_only outputs."""
    timm = pytest.importorskip("timm")
    state = _imagenet_state()
    reference = timm.create_model("hrnet_w32", features_only=True, feature_location="", out_indices=(1, 2, 3, 4))
    reference.load_state_dict({k: v for k, v in state.items() if k in reference.state_dict()})
    backbone = hrseg.build_model("hrnet_w32")
    report = load_checkpoint(backbone, _save(tmp_path, "hrnetv2_w32_imagenet_pretrained.pth", state))
    assert {k.split(".")[0] for k in report.left_out} == {"incre_modules", "downsamp_modules", "final_layer",
                                                           "classifier"}
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        ours, theirs = backbone.eval()(x), reference.eval()(x)
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_imagenet_file_into_a_task_model_names_what_it_left_out(tmp_path, caplog):
    state = _imagenet_state()
    model = hrseg.build_model("pose_hrnet_w32")
    head_before = model.head.final_layer.weight.clone()
    with caplog.at_level("INFO", logger="hrseg"):
        report = load_checkpoint(model, _save(tmp_path, "imagenet.pth", state))
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.head.final_layer.weight, head_before)
    assert set(report.not_loaded) == {"head.final_layer.weight", "head.final_layer.bias"}
    line = report.summary()
    assert "\n" not in line
    for name in ("incre_modules", "downsamp_modules", "final_layer", "classifier"):
        assert name in line
    assert line in caplog.text


def test_task_checkpoint_into_bare_backbone(tmp_path, official_state):
    state = official_state("pose_hrnet_w32_256x192.json")
    backbone = hrseg.build_model("hrnet_w32", final_fusion="highest")
    report = load_checkpoint(backbone, _save(tmp_path, "pose.pth", state))
    assert report.left_out == ["final_layer.weight", "final_layer.bias"]
    assert torch.equal(backbone.conv1.weight, state["conv1.weight"])


def test_missing_and_unexpected_keys_are_named(tmp_path, official_state):
    state = official_state("pose_hrnet_w32_256x192.json")
    del state["stage3.1.branches.0.0.conv1.weight"]
    state["extra_head.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(hrseg.build_model("pose_hrnet_w32"), _save(tmp_path, "bad.pth", state))
    msg = str(e.value)
    assert "bad.pth" in msg and "missing 1 keys" in msg and "stage3.1.branches.0.0.conv1.weight" in msg
    assert "unexpected 1 keys" in msg and "extra_head.weight" in msg
    report = load_checkpoint(hrseg.build_model("pose_hrnet_w32"), tmp_path / "bad.pth", strict=False)
    assert report.not_loaded == ["backbone.stage3.1.branches.0.0.conv1.weight"]


def test_shape_mismatch_names_key_and_shapes(tmp_path, official_state):
    state = official_state("seg_hrnet_w48_pascal_ctx_59.json")
    with pytest.raises(CheckpointError, match=r"last_layer\.3\.weight: checkpoint \(59, 720, 1, 1\) vs model "
                                              r"\(19, 720, 1, 1\)"):
        load_checkpoint(hrseg.build_model("seg_hrnetv2_w48"), _save(tmp_path, "ctx.pth", state))


def test_wrong_width_is_a_clear_error(tmp_path, official_state):
    state = official_state("pose_hrnet_w48_256x192.json")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(hrseg.build_model("pose_hrnet_w32"), _save(tmp_path, "w48.pth", state))


def test_corrupt_truncated_and_missing_files(tmp_path):
    model = hrseg.build_model("hrnet_w18_small_v1")
    good = save_checkpoint(tmp_path / "good.pth", model)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match=f"{truncated.name}: corrupt or truncated"):
        load_checkpoint(model, truncated)
    # random bytes: one plain sentence, not torch's advice to retry with weights_only=False
    random_bytes = tmp_path / "random.pth"
    random_bytes.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for path in (garbage, random_bytes):
        with pytest.raises(CheckpointError, match=f"{path.name}: not a checkpoint file") as info:
            load_checkpoint(model, path)
        assert "weights_only" not in str(info.value)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(model, tmp_path / "absent.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_never_run(tmp_path, capsys):
    """A Python object in a file is not rebuilt (weights_only=True): its tensors are read, the
    object is dropped, and a file with no tensors left is one clear error."""
    model = hrseg.build_model("hrnet_w18_small_v1")
    path = _save(tmp_path, "evil.pth", {"state_dict": {}, "payload": _Evil()})
    with pytest.raises(CheckpointError, match="evil.pth: no tensors found"):
        load_checkpoint(model, path)
    path = _save(tmp_path, "evil_with_weights.pth", {"state_dict": model.state_dict(), "payload": _Evil()})
    load_checkpoint(model, path)
    assert "this must never run" not in capsys.readouterr().out


class _RunsACommand:
    def __reduce__(self):
        import os

        return (os.system, ("echo this-must-never-run > /dev/null",))


def test_a_code_running_object_is_refused_by_name(tmp_path):
    """A pickled call of a blocked module (os.system): refused with its name, and the message says
    hrseg never unpickles code instead of relaying torch's advice to use weights_only=False."""
    model = hrseg.build_model("hrnet_w18_small_v1")
    path = _save(tmp_path, "system.pth", {"state_dict": model.state_dict(), "payload": _RunsACommand()})
    with pytest.raises(CheckpointError, match=r"system.pth: refused: the file holds '(posix|nt)\.system'") as info:
        load_checkpoint(model, path)
    assert "never unpickles code" in str(info.value) and "weights_only=False" not in str(info.value)


def test_files_get_the_umask_mode_not_private(tmp_path):
    """Checkpoints (and every atomically written file) are readable by others under umask 022."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "shared.pth", hrseg.build_model("hrnet_w18_small_v1"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_load_is_reported_in_one_line(tmp_path, caplog):
    """The loader converting a layout adds it to the report and logs it: one line, not the bare
    count first and the count with the layout again."""
    model = hrseg.build_model("pose_hrnet_w18_small_v1")
    path = save_checkpoint(tmp_path / "m.pth", model)
    with caplog.at_level("INFO", logger="hrseg"):
        load_checkpoint(hrseg.build_model("pose_hrnet_w18_small_v1"), path)
    lines = [r.getMessage() for r in caplog.records if "tensors" in r.getMessage()]
    assert len(lines) == 1 and lines[0].endswith("tensors; layout hrseg"), lines
