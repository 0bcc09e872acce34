"""Bad command-line input found by an audit of every command: one clear error before any work
(each was a traceback, or a silent wrong run)."""
from __future__ import annotations

import argparse
import socket

import pytest
import torch

from hrseg.benchmark import backend_table, benchmark, format_result
from hrseg.cli import port_number
from hrseg.commands import export, infer_seg, track
from hrseg.checkpoint import read_checkpoint
from hrseg.errors import CheckpointError, ConfigError
from hrseg.serve.loadtest import run_load_test
from hrseg.tasks import pose, segmentation
from hrseg.utils.io import atomic_path, make_folder


def test_a_test_mode_or_optimizer_typo_is_refused_when_the_config_is_read() -> None:
    """test.mode=sliding trained a whole epoch and then failed at its evaluation (a traceback);
    optimizer.type=Adamm passed --dry-run."""
    with pytest.raises(ConfigError, match="test.mode: expected 'whole' or 'slide', got 'sliding'"):
        segmentation.TASK.load_config(None, ["test.mode=sliding"])
    with pytest.raises(ConfigError, match="optimizer.type: unknown optimizer 'Adamm'"):
        pose.TASK.load_config(None, ["optimizer.type=Adamm"])
    with pytest.raises(ConfigError, match="schedule.type"):
        pose.TASK.load_config(None, ["schedule.type=cosinee"])


def test_serve_takes_a_port_bind_can_use() -> None:
    for bad in ("99999", "0", "-1", "http"):
        with pytest.raises(argparse.ArgumentTypeError):
            port_number(bad)
    assert port_number("8000") == 8000


def test_bench_refuses_unknown_backends_and_a_device_it_cannot_use(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown backend.s. foo"):
        backend_table("pose_hrnet_w18_small_v1", (64, 48), 1, ["torch", "foo"], ["float32"], iters=1)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="bench --device cuda: torch sees no CUDA device here"):
            benchmark("pose_hrnet_w18_small_v1", (64, 48), 1, device="cuda", memory=False)


def test_bench_without_memory_says_so_and_writes_valid_json() -> None:
    """--no-memory printed 'peak memory nan MB' and NaN in --json (not JSON)."""
    result = benchmark("pose_hrnet_w18_small_v1", (64, 48), 1, device="cpu", iters=1, warmup=0, memory=False)
    assert result.peak_memory_mb is None and result.as_dict()["peak_memory_mb"] is None
    assert "peak memory   not measured (--no-memory)" in format_result(result)


@pytest.mark.parametrize("option", [["--high-thr", "2"], ["--low-thr", "-5"], ["--match-thr", "7"]])
def test_track_thresholds_are_fractions(tmp_path, option, capsys) -> None:
    """--high-thr 2 tracked nothing and exited 0."""
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,10,20,40,0.9\n")
    with pytest.raises(SystemExit) as stop:
        track.main([str(det), "--out", str(tmp_path / "r.txt"), *option])
    assert stop.value.code == 2 and "between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "r.txt").exists()


def test_load_test_with_nothing_listening_is_one_error(shared_data) -> None:
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}/v1/pose: cannot connect"):
        run_load_test(f"http://127.0.0.1:{port}/v1/pose", shared_data / "images" / "bus.jpg", requests=1)


def test_a_file_where_an_output_folder_goes_and_a_folder_as_weights_are_named(tmp_path) -> None:
    """export --out afile/g.onnx, test --out-dir afile, track --out afile/r.txt said only 'File exists'."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ConfigError, match=f"{afile}: the output folder is a file"):
        with atomic_path(afile / "g.onnx") as tmp:
            tmp.write_text("never")
    with pytest.raises(ConfigError, match="cannot make the output folder"):
        make_folder(afile / "deeper" / "out")
    with pytest.raises(CheckpointError, match=f"{tmp_path}: a folder, not a checkpoint file"):
        read_checkpoint(tmp_path)


def test_options_without_effect_are_refused(tmp_path, capsys) -> None:
    """infer seg --crop-size ran whole images, export --fixed-size wrote a pose graph, both silently."""
    with pytest.raises(SystemExit) as stop:
        infer_seg.main(["x.jpg", "--mode", "whole", "--crop-size", "512x512", "--out", str(tmp_path / "o")])
    assert stop.value.code == 2 and "no use with --mode whole" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        export.main(["pose_hrnet_w18_small_v1", "--fixed-size", "--out", str(tmp_path / "p.onnx")])
    assert stop.value.code == 2 and "--fixed-size: only a segmentation graph" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("task", ["pose", "seg", "det", "multi"])
def test_hrseg_test_without_a_config_needs_the_weights_that_record_one(task) -> None:
    """CONFIG is optional (the checkpoint's own run); without it and without --weights, one sentence."""
    import importlib

    with pytest.raises(ConfigError, match="give a CONFIG, or --weights of an hrseg checkpoint"):
        importlib.import_module(f"hrseg.commands.test_{task}").main([])
