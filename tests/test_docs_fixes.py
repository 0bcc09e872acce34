"""What the docs and the commands' own output say agrees with the code: a video's summary said
once, the profile's seconds without setup, the export's default name with its threshold, the
help texts, the benchmark's input sizes, and the docs' names of modules, codecs and tools."""
from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from torch import nn

from conftest import python_path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


# -- code ------------------------------------------------------------------------------------
class _FakePredictor:
    """The parts of a predictor that Task.infer_video uses."""

    def __call__(self, frame, path):
        return {"n": 1}

    def document(self, frame, result):
        return result

    def draw(self, frame, result):
        return frame

    def reset(self, frame_rate):
        pass


def test_a_videos_summary_is_said_once(tmp_path, capsys, caplog):
    from hrseg.tasks.base import Task

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    caplog.set_level(logging.INFO, logger="hrseg")
    result = Task.infer_video(object.__new__(Task), _FakePredictor(), frames, tmp_path / "out")
    out = capsys.readouterr().out
    said = [r.getMessage() for r in caplog.records if result["json"] in r.getMessage()]
    assert len(said) == 1 and "2 frames" in said[0]  # process_video's log line
    assert result["json"] not in out  # and no second copy on stdout


@pytest.mark.slow  # a fresh process (seconds)
def test_the_clis_default_log_level_shows_info():
    """process_video's summary is an INFO line: the commands (run_cli) show INFO."""
    code = ("import logging, sys\nfrom hrseg.cli import run_cli\n"
            "sys.exit(run_cli(lambda: logging.getLogger('hrseg').info('summary line') or 0))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=python_path(str(REPO))))
    assert done.returncode == 0 and "summary line" in done.stderr


def test_the_profiles_seconds_leave_setup_apart(monkeypatch):
    from hrseg.utils import profile

    clock = iter([0.0, 0.0, 2.0, 2.0, 5.0, 10.0])  # made; setup 0-2 s; model 2-5 s; report at 10 s
    monkeypatch.setattr(profile, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    timer = profile.StageTimer()
    with timer(profile.SETUP):
        pass
    with timer("model"):
        pass
    report = timer.report(images=4)
    assert report["seconds"] == pytest.approx(8.0) and report["setup_s"] == pytest.approx(2.0)
    assert report["images_per_s"] == pytest.approx(0.5)
    assert report["stages"]["model"]["seconds"] == pytest.approx(3.0)
    assert report["stages"]["other"]["seconds"] == pytest.approx(5.0)
    assert profile.summary_line(report).startswith("4 images in 8.00 s = 0.50 images/s (setup 2.0 s apart)")


def test_an_exports_default_name_carries_its_score_threshold(tmp_path):
    from hrseg.commands.export import output_path

    assert output_path(None, None, "m_480x640_float32") == Path("exports/m_480x640_float32.onnx")
    assert output_path(None, None, "m_480x640_float32", 0.3) == Path("exports/m_480x640_float32_thr0.3.onnx")
    assert output_path(str(tmp_path), "openvino", "m", 0.25) == tmp_path / "m_thr0.25.xml"
    assert output_path("x.onnx", None, "m", 0.3) == Path("x.onnx")  # a file named by the user is kept


def test_auto_backend_hints_at_eager_only_when_it_is_not_eager(caplog):
    from hrseg.backends import _auto_backend

    caplog.set_level(logging.INFO, logger="hrseg")
    assert _auto_backend(nn.Linear(1, 1), "det_fasterrcnn_hrnetv2p_w18", "float32") == "torch"
    assert _auto_backend(nn.Linear(1, 1), None, "float32") == "optimized"
    detector, unnamed = (r.getMessage() for r in caplog.records)
    assert detector.startswith("backend: torch (detectors run eagerly") and "--backend torch" not in detector
    assert unnamed.endswith("; --backend torch for eager PyTorch)")


def test_standard_input_sizes_follow_the_task_of_the_name():
    from hrseg.benchmark import standard_input_size

    assert standard_input_size("multi_hrnetv2p_w32") == (800, 1344)
    assert standard_input_size("det_fcos_hrnetv2p_w18") == (800, 1344)
    assert standard_input_size("hrnetv2p_w18") == (800, 1344)  # the detectors' backbone and neck
    assert standard_input_size("pose_hrnet_w32") == (256, 192)
    assert standard_input_size("seg_hrnetv2_w48") == (1024, 2048)
    assert standard_input_size("hrnet_w32") == (224, 224)


def test_models_md_quotes_the_multi_task_rows_at_the_detection_size():
    rows = [line.split("|") for line in (DOCS / "models.md").read_text().splitlines() if line.startswith("| multi_")]
    assert len(rows) == 9 and all(r[2].strip() == "800x1344" for r in rows)


def test_bench_seg_memory_help_names_its_default_sizes(capsys):
    from hrseg.commands import bench_seg_memory

    with pytest.raises(SystemExit):
        bench_seg_memory.main(["--help"])
    out = capsys.readouterr().out
    sizes = [f"{h}x{w}" for h, w in bench_seg_memory.DEFAULT_SIZES]
    example = next(line for line in out.splitlines() if line.strip().startswith("hrseg bench-seg-memory  "))
    assert re.findall(r"\d+x\d+", example) == sizes and f"(default {' '.join(sizes)})" in " ".join(out.split())


def test_the_summaries_of_hrseg_help_are_whole_sentences(tmp_path, monkeypatch):
    """The first sentence of a command's docstring, over line breaks (export's was cut at
    "checked against"), up to its first ". "."""
    from hrseg.commands._dispatch import summary

    assert summary("hrseg.commands.export").endswith("checked against eager PyTorch")
    (tmp_path / "wrapped_doc.py").write_text('"""One sentence\nover two lines. Another one.\n\nMore."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert summary("wrapped_doc") == "One sentence over two lines"


# -- docs ------------------------------------------------------------------------------------
def test_deploy_md_names_the_video_codecs_in_order():
    from hrseg.inference.video import CODECS

    text = " ".join((DOCS / "deploy.md").read_text().split())
    at = [text.find(f"(`{fourcc}`)") for fourcc, _, _ in CODECS]
    assert -1 not in at and at == sorted(at)


def test_multitask_md_names_an_importable_dataset_and_the_config_by_name():
    from hrseg.configs_index import find_config, task_scope

    text = (DOCS / "multitask.md").read_text()
    assert "hrseg.data.multi.MultiTaskDataset" not in text
    module, _, name = "hrseg.data.multi.dataset.MultiTaskDataset".rpartition(".")
    assert f"`{module}.{name}`" in text and getattr(importlib.import_module(module), name)
    with task_scope("multi"):
        assert find_config("synthetic_mini") == find_config("multi/synthetic_mini")
    assert "needs its folder:" not in text


def test_pose_md_says_the_default_person_detector():
    from hrseg.tasks.person_boxes import DEFAULT_PERSON_DETECTOR

    text = " ".join((DOCS / "pose.md").read_text().split())
    assert "Without `--boxes` the whole image is one person box" not in text
    assert DEFAULT_PERSON_DETECTOR in text


def test_readme_names_the_tools_whose_name_is_not_the_commands():
    """tools/NAME.py wraps hrseg/commands/MODULE.py; where NAME is not MODULE the README says so."""
    readme = " ".join((REPO / "README.md").read_text().split())
    for tool in sorted((REPO / "tools").glob("*.py")):
        found = re.search(r"from hrseg\.commands\.(\w+) import", tool.read_text())
        if found and found.group(1) != tool.stem:
            words = found.group(1).replace("_", "-")
            assert f"`hrseg {words}`: `tools/{tool.name}`" in readme
