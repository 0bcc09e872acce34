"""hrseg bench-train: one table of the bare step, its phases, the real loop and kernels per step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hrseg.errors import ConfigError
from hrseg.experiments.train_speed import bench_config, bench_train, format_table, kernels_per_step, task_of

TINY = ["data.synthetic.num_train=6", "data.synthetic.num_val=2"]


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_pose")
    return bench_train("pose_hrnet_w18_small_v1", (64, 48), batch=2, device="cpu", iters=1, warmup=1,
                       loop_iters=2, num_workers=1, data_root=str(root), cfg_options=TINY)


def test_record_and_table_on_the_cpu(record):
    assert record["device"] == "cpu" and not record["cuda_graph"] and not record["amp"]
    # the CPU trains as without the options (device_normalize: the same bits, tests/test_device_normalize.py)
    assert record["speed"] == "speed options: device_normalize"
    assert record["step_images_per_s"] > 0 and record["loop_images_per_s"] > 0
    assert 0.0 <= record["loop_data_wait"] < 1.0
    assert set(record["phases_ms"]) == {"forward", "backward", "optimizer"}
    assert record["first_step_s"] > 0 and record["first_graph_step_s"] > 0  # compile / capture / autotuning
    # the same eager step either way on the CPU: conv, BatchNorm, loss and Adam's operators
    assert record["kernels_eager"]["aten_ops"] == record["kernels_step"]["aten_ops"] > 1000
    # pose: with and without the heatmaps, and the crop as uint8 (train.device_normalize)
    assert set(record["worker_samples_per_s"]) == {"targets", "no_targets", "uint8"}
    table = format_table(record)
    assert "| real loop, first epoch (2 iterations, 1 workers) |" in table and "aten ops" in table
    assert "; first eager step " in table.splitlines()[0]
    assert "| real loop, next epoch (2 iterations, 1 workers) |" in table and record["first_loop_images_per_s"] > 0
    assert "| the DataLoader alone, no step (1 batches, 1 workers) |" in table and record["loader_images_per_s"] > 0
    assert "| one worker's samples/s, no targets drawn by it |" in table
    assert "| one worker's samples/s, uint8 crops (normalised on the device) |" in table
    json.dumps(record)  # --json


def test_config_follows_the_model_and_the_size(tmp_path):
    cfg = bench_config("pose_hrnet_w32", (384, 288), 32, 4, str(tmp_path), ["train.cuda_graph=false"])
    assert cfg["data"]["heatmap_size"] == [96, 72] and cfg["data"]["sigma"] == 3.0  # the official 384x288 recipe
    assert cfg["data"]["batch_size"] == 32 and cfg["train"]["cuda_graph"] is False
    seg = bench_config("seg_hrnetv2_w48", (512, 1024), 8, 2)
    assert seg["data"]["crop_size"] == [512, 1024] and seg["model"]["name"] == "seg_hrnetv2_w48"
    with pytest.raises(ConfigError, match="pose_\\* or seg_\\*"):
        task_of("det_hrnet_w32")
    with pytest.raises(ConfigError, match="synthetic split has"):
        bench_train("pose_hrnet_w18_small_v1", (64, 48), 2, "cpu", loop_iters=10**6, data_root=str(tmp_path),
                    cfg_options=TINY)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error of a machine without CUDA")
def test_cuda_asked_for_without_cuda():
    with pytest.raises(ConfigError, match="no CUDA"):
        bench_train("pose_hrnet_w18_small_v1", (64, 48), 2, "cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_is_one_graph_launch(tmp_path):
    r = bench_train("pose_hrnet_w18_small_v1", (64, 48), batch=2, device="cuda", iters=2, warmup=3, loop_iters=2,
                    num_workers=1, data_root=str(tmp_path), cfg_options=TINY)
    assert r["cuda_graph"] and r["graph_note"] is None
    assert "gpu_targets" in r["speed"] and "device_normalize" in r["speed"]
    assert r["kernels_step"]["launches"] < r["kernels_eager"]["launches"] / 10  # the replay: one graph launch
    assert r["kernels_eager"]["gpu_kernels"] > 100


# kernels_per_step in a fresh process: kineto reads its log level at the process's first profile
COUNT_OPS = """
import torch
from hrseg.experiments.train_speed import kernels_per_step
x = torch.ones(4, 4)
print(kernels_per_step(lambda: (x @ x).relu().sum(), torch.device("cpu"))["aten_ops"])
"""


def _count_ops_in_a_new_process(**env: str) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", COUNT_OPS], env={**child, "OMP_NUM_THREADS": "1", **env},
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)


@pytest.mark.slow  # a fresh process (seconds)
def test_cpu_profile_prints_no_kineto_lines():
    x = torch.ones(4, 4)
    ops = kernels_per_step(lambda: (x @ x).relu().sum(), torch.device("cpu"))["aten_ops"]
    quiet = _count_ops_in_a_new_process()
    # no "USDT: ... profiler_start", no "ERROR: ... gpuGetDeviceCount failed with code 35"; the same count
    assert quiet.stderr == "" and int(quiet.stdout) == ops > 0
    verbose = _count_ops_in_a_new_process(KINETO_LOG_LEVEL="0")  # the user's level wins
    assert verbose.stderr != "" and int(verbose.stdout) == ops
