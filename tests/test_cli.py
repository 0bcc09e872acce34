"""The `hrseg` command: subcommand dispatch onto the same entry points as tools/*.py, configs
found by name (in the clone and in the installed wheel's layout, `_base_` included), --version,
$HRSEG_HOME, and user errors as one line with exit status 2."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hrseg.commands import home_path, in_home
from hrseg.commands._dispatch import commands
from hrseg.commands._dispatch import main as hrseg_main
from hrseg.configs_index import configs_root, find_config, list_configs, task_scope
from hrseg.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
TOOLS = {"train_pose": "train pose", "train_seg": "train seg", "train_det": "train det",
         "test_pose": "test pose", "test_seg": "test seg", "test_det": "test det",
         "infer_pose": "infer pose", "infer_seg": "infer seg", "infer_det": "infer det",
         "benchmark": "bench", "benchmark_seg_memory": "bench-seg-memory", "search_scaling": "search-scaling",
         "progressive_experiment": "progressive-experiment", "progressive_cost": "progressive-cost",
         "synthetic": "synthetic"}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = hrseg_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- dispatch ---------------------------------------------------------------------------------
@pytest.mark.parametrize("tool, words", sorted(TOOLS.items()))
def test_every_tool_and_its_subcommand_run_the_same_main(tool, words):
    found = commands()
    assert words in found
    command = importlib.import_module(found[words])
    assert _load_tool(tool).main is command.main  # one entry point: the two spellings cannot drift


def test_the_subcommand_gets_its_own_arguments_and_name(monkeypatch, capsys):
    import hrseg.commands.test_pose as test_pose

    seen = {}

    def fake_main(argv):
        seen["argv"], seen["prog"] = argv, sys.argv[0]
        return 0

    monkeypatch.setattr(test_pose, "main", fake_main)
    assert hrseg_main(["test", "pose", "hrnet_w32_coco_256x192", "--weights", "w.pth"]) == 0
    assert seen == {"argv": ["hrnet_w32_coco_256x192", "--weights", "w.pth"],
                    "prog": "hrseg test pose"}
    assert sys.argv[0] != "hrseg test pose"  # restored


def test_help_lists_the_commands_and_each_command_has_examples(capsys):
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for words in ("train pose", "test seg", "infer det", "models", "configs", "bench", "--version"):
        assert f"hrseg {words}" in out
    with pytest.raises(SystemExit) as e:
        hrseg_main(["train", "pose", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hrseg train pose") and "hrseg train pose hrnet_w32_coco_256x192" in out


@pytest.mark.parametrize("argv, message", [
    (["train"], "hrseg train: give a task, one of pose, seg, det"),
    (["train", "face"], "hrseg train: unknown task 'face'"),
    (["trian", "pose"], "unknown command 'trian'; did you mean train?"),
    (["train", "pose", "no_such_recipe"], "no_such_recipe: config file not found, and no shipped config"),
    (["train", "pose", "--cfg-options", "optimizer.lrr=0.1"], "unknown config key 'optimizer.lrr'"),
    (["infer", "pose", "photo.jpg", "--weights", "missing.pth"], "photo.jpg: image file not found"),  # inputs first
    (["models", "no_model_has_this"], "no model name contains no_model_has_this"),
    (["train", "pose", "--cfg-options", "train.compile=yes"], "train.compile: expected true, false or null"),
    (["bench-train", "pose_hrnet_w18_small_v1", "--cfg-options", "train.prefetch_factor=0"], "train.prefetch_factor"),
    (["train", "pose", "--dry-run", "--cfg-options", "model.name=seg_hrnetv2_w18_small_v1"],
     "model.name seg_hrnetv2_w18_small_v1 is a seg model, not a pose one"),
    (["train", "seg", "--cfg-options", "model.name=pose_hrnet_w32"], "model.name pose_hrnet_w32 is a pose model"),
])
def test_user_errors_are_one_line_and_exit_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "datasets").exists()  # stopped before building (or generating) any data


@pytest.mark.parametrize("argv, message", [
    (["bench-train", "pose_hrnet_w18_small_v1", "--batch", "0"], "argument --batch: must be at least 1, got 0"),
    (["bench-train", "pose_hrnet_w18_small_v1", "--workers", "-1"], "argument --workers: must be at least 0"),
    (["bench", "pose_hrnet_w18_small_v1", "--iters", "0"], "argument --iters: must be at least 1"),
    (["serve", "--max-batch", "two"], "argument --max-batch: expected a whole number, got 'two'"),
    (["infer", "pose", "x.jpg", "--kpt-thr", "5"], "argument --kpt-thr: must be between 0 and 1, got 5.0"),
    (["infer", "pose", "x.jpg", "--det-score-thr", "-3"], "argument --det-score-thr: must be between 0 and 1"),
    (["infer", "det", "x.jpg", "--score-thr", "nan"], "argument --score-thr: expected a finite number, got 'nan'"),
    (["infer", "seg", "x.jpg", "--scales", "1", "0"], "argument --scales: must be above 0, got 0.0"),
    (["test", "seg", "--scales", "1", "0"], "argument --scales: must be above 0, got 0.0"),
    (["infer", "seg", "x.jpg", "--alpha", "1.5"], "argument --alpha: must be between 0 and 1"),
])
def test_numbers_on_the_command_line_are_checked_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        hrseg_main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_version_names_torch_torchvision_numpy_and_the_backends_found(capsys):
    from importlib.metadata import version

    import numpy
    import torch
    import torchvision

    code, out, _ = _run(["--version"], capsys)
    assert code == 0
    assert f"torch {torch.__version__}" in out and f"torchvision {torchvision.__version__}" in out
    assert f"numpy {numpy.__version__}" in out
    assert f"pycocotools {version('pycocotools')}" in out  # read from the installed metadata
    assert "not installed:" in out


def test_models_counts_params_and_gflops(capsys):
    code, out, _ = _run(["models", "pose_hrnet_w32"], capsys)
    assert code == 0
    assert "| pose_hrnet_w32 | 256x192 | 28.54M | 7.1 | 7.6 |" in out  # the paper's 28.5M and 7.1 GFLOPs


def test_configs_lists_a_task_recipes(capsys):
    code, out, _ = _run(["configs", "seg"], capsys)
    assert code == 0
    assert "hrnetv2_w48_cityscapes_1024x512" in out and "synthetic_mini" in out
    assert "hrnet_w32_coco_256x192" not in out and "pose_210e" not in out  # other tasks, _base_ fragments
    # a subfolder's recipes (mmsegmentation's) under their own heading, once, after the folder's own
    assert out.count("\nseg/mmseg/\n") == 1 and out.count("\nseg/\n") == 1
    assert out.index("synthetic_mini") < out.index("seg/mmseg/") < out.index("fcn_hr48_512x1024_160k_cityscapes")
    assert find_config("fcn_hr48_512x1024_160k_cityscapes", "seg").parent.name == "mmseg"


# -- configs by name --------------------------------------------------------------------------
def test_config_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = configs_root() / "pose" / "hrnet_w32_coco_256x192.py"
    for spelling in ("hrnet_w32_coco_256x192", "hrnet_w32_coco_256x192.py", "pose/hrnet_w32_coco_256x192",
                     "configs/pose/hrnet_w32_coco_256x192.py"):
        assert find_config(spelling) == expected
    own = tmp_path / "hrnet_w32_coco_256x192.py"  # a file that exists wins over the shipped name
    own.write_text("x = 1\n")
    assert find_config(own) == own


def test_a_name_of_two_tasks_is_resolved_by_the_command_task():
    with pytest.raises(ConfigError, match="pose/synthetic_mini, seg/synthetic_mini"):
        find_config("synthetic_mini")
    with task_scope("seg"):
        assert find_config("synthetic_mini") == configs_root() / "seg" / "synthetic_mini.py"
    assert find_config("synthetic_mini", task="pose") == configs_root() / "pose" / "synthetic_mini.py"
    with pytest.raises(ConfigError, match="did you mean hrnet_w32_coco_256x192"):
        find_config("hrnet_w32_coco_265x192")


def test_base_inheritance_in_an_installed_layout(tmp_path, monkeypatch):
    """The configs copied to site/hrseg/configs (as the wheel holds them), loaded by name from
    elsewhere: the relative _base_ files resolve inside the copy."""
    from hrseg.tasks.pose import POSE_DEFAULTS, OPEN_KEYS
    from hrseg.config import load_config

    root = tmp_path / "site" / "hrseg" / "configs"
    shutil.copytree(REPO / "configs", root)
    monkeypatch.chdir(tmp_path)
    path = find_config("hrnet_w48_coco_384x288", root=root)
    assert path == root / "pose" / "hrnet_w48_coco_384x288.py"
    cfg = load_config(path, None, POSE_DEFAULTS, OPEN_KEYS)
    assert cfg["model"]["name"] == "pose_hrnet_w48"  # from ../models/pose_hrnet_w48.py
    assert cfg["data"]["input_size"] == [384, 288] and cfg["train"]["max_epochs"] == 210  # _base_ schedule
    assert {e.name for e in list_configs("det", root=root)} >= {"faster_rcnn_hrnetv2p_w32_1x_coco", "mini_fasterrcnn"}


@pytest.mark.slow
def test_the_built_wheel_ships_the_configs_and_the_command(tmp_path):
    """The real wheel (setup.py's build step), unpacked as pip --target would, used from an empty
    folder: `python -m hrseg configs pose` and a recipe by name with its _base_ chain."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-c", f"from setuptools import build_meta as b; b.build_wheel({str(dist)!r})"],
                   cwd=REPO, check=True, capture_output=True)
    wheel = next(dist.glob("hrseg-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        z.extractall(tmp_path / "site")
    assert "hrseg = hrseg.commands._dispatch:console" in entry_points
    assert {"hrseg/configs/pose/hrnet_w32_coco_256x192.py", "hrseg/configs/_base_/schedules/pose_210e.py",
            "hrseg/configs/models/pose_hrnet_w32.py", "hrseg/__main__.py"} <= names
    assert not any(n.startswith(("tools/", "tests/", "configs/")) for n in names)
    user = tmp_path / "user"
    user.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "OMP_NUM_THREADS": "1"}
    code = ("import hrseg; from hrseg.tasks.pose import load_pose_config; "
            "c = load_pose_config('hrnet_w32_coco_256x192'); print(hrseg.__file__, c['model']['name'], "
            "c['train']['max_epochs']); from hrseg.commands._dispatch import main; main(['configs', 'pose'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=user, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first, *rest = out.stdout.splitlines()
    assert first == f"{tmp_path / 'site' / 'hrseg' / '__init__.py'} pose_hrnet_w32 210"
    assert rest[0] == f"configs in {tmp_path / 'site' / 'hrseg' / 'configs'}:" and "  synthetic_mini" in rest
    assert list(user.iterdir()) == []  # nothing written where it ran


# -- where runs write ---------------------------------------------------------------------------
def test_hrseg_home_takes_relative_data_and_work_dirs(tmp_path, monkeypatch, capsys):
    cfg = {"work_dir": "work_dirs/x", "data": {"root": "datasets/synthetic_pose"}, "other": "keep/relative"}
    monkeypatch.delenv("HRSEG_HOME", raising=False)
    assert in_home(cfg) == cfg
    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))
    moved = in_home(cfg)
    assert moved == {"work_dir": str(tmp_path / "home" / "work_dirs/x"),
                     "data": {"root": str(tmp_path / "home" / "datasets/synthetic_pose")}, "other": "keep/relative"}
    assert cfg["work_dir"] == "work_dirs/x"  # a copy
    assert in_home(moved) == moved and home_path("/abs/path") == Path("/abs/path")
    # the inference default follows: the newest checkpoint of the embedded run under $HRSEG_HOME
    code, _, err = _run(["infer", "pose", "photo.jpg"], capsys)
    assert code == 2 and f"no checkpoint in {tmp_path / 'home' / 'work_dirs' / 'synthetic_mini'}" in err
