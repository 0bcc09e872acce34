"""What an export audit found: an installed hrseg (no shared data) exported unchecked, shipped
config names were refused, --dynamic-batch was silently ignored for detectors, a failed check left
its new folder behind, a folder given as weights was "not found", bench --backends without timm was
a traceback."""
from __future__ import annotations

import importlib
import logging

import numpy as np
import pytest

from hrseg.benchmark import timm_reference
from hrseg.commands import export
from hrseg.errors import CheckpointError, ConfigError
from hrseg.export import check as check_module
from hrseg.export import ExportCheckError, check_image_of, export_model
from hrseg.backends import load_runner
from hrseg.models import build_model
from hrseg.weights import resolve

POSE = "pose_hrnet_w18_small_v1"


def test_without_the_shared_data_the_check_runs_on_a_synthetic_scene(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HRSEG_SHARED", str(tmp_path / "no_shared"))
    image, name = check_image_of("pose")
    again, _ = check_image_of("detection")
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8 and np.array_equal(image, again)
    assert name == "a synthetic scene (480x640, seed 0)" and image.std() > 10  # drawn, not blank
    caplog.set_level(logging.INFO, "hrseg")
    assert export.main(["pose/synthetic_mini", "--out", str(tmp_path / "p.onnx")]) == 0  # a shipped config's name
    assert "self-check on a synthetic scene (480x640, seed 0)" in caplog.text and "passed" in caplog.text
    assert (tmp_path / "p.onnx").is_file()


def test_a_failed_check_leaves_no_new_folder(tmp_path, monkeypatch):
    model = build_model(POSE)
    real = check_module.self_check

    def failing(*args, **kwargs):
        report = real(*args, **kwargs)
        report.failures.append("made to fail")
        return report

    monkeypatch.setattr("hrseg.export.self_check", failing)
    with pytest.raises(ExportCheckError, match="p.onnx: not written; .*made to fail"):
        export_model(model, tmp_path / "new" / "deeper" / "p.onnx", POSE, (64, 48),
                     check_image=np.zeros((64, 48, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_options_and_paths_that_cannot_be_used_are_one_line(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as stop:
        export.main(["det_fasterrcnn_hrnetv2p_w18_small_v1", "--dynamic-batch", "--out", str(tmp_path / "d.onnx")])
    assert stop.value.code == 2 and "--dynamic-batch: a detector's graph takes one image a call" in capsys.readouterr().err
    folder = tmp_path / "weights.onnx"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="weights.onnx: a folder, not an exported model file"):
        load_runner("onnxruntime", folder)
    with pytest.raises(CheckpointError, match="weights.onnx: a folder, not a checkpoint file"):
        resolve(folder)
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a: (_ for _ in ()).throw(ImportError(name)) if name == "timm" else real(name, *a))
    with pytest.raises(ConfigError, match=r"timm is not installed: pip install 'hrseg\[dev\]'"):
        timm_reference()
