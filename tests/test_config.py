"""Config loading: _base_ chains, --cfg-options, schema validation, error messages."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap

import pytest

from hrseg.cli import add_config_args, config_from_args
from hrseg.commands._dispatch import main as hrseg_main
from hrseg.config import load_config, parse_option_value
from hrseg.configs_index import list_configs
from hrseg.engine import TRAIN_DEFAULTS
from hrseg.engine.speed import check_speed
from hrseg.errors import ConfigError
from hrseg.tasks import detection, multi, pose, segmentation

DEFAULTS = {**TRAIN_DEFAULTS, "model": {"type": "pose_hrnet_w32", "kwargs": {}},
            "data": {"root": "data/coco", "batch_size": 32, "pipeline": None}}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def chain(tmp_path):
    """configs/_base_/default.py <- configs/_base_/pose.py <- configs/pose/w32.py"""
    write(tmp_path, "configs/_base_/default.py", """
        optimizer = dict(type='Adam', lr=1e-3)
        train = dict(max_epochs=210, eval_interval=10)
        data = dict(root='data/coco', batch_size=32)
    """)
    write(tmp_path, "configs/_base_/pose.py", """
        _base_ = ['./default.py']
        schedule = dict(type='multistep', milestones=[170, 200])
        data = dict(batch_size=64)
    """)
    return write(tmp_path, "configs/pose/w32.py", """
        _base_ = '../_base_/pose.py'
        _width = 32  # a helper variable, not a key
        model = dict(type=f'pose_hrnet_w{_width}', kwargs=dict(num_joints=17))
        optimizer = dict(lr=5e-4)
        train = dict(max_epochs=20)
    """)


def test_base_chain_merges_over_defaults(chain):
    cfg = load_config(chain, defaults=DEFAULTS)
    assert type(cfg) is dict and type(cfg["optimizer"]) is dict
    assert cfg["optimizer"]["type"] == "Adam" and cfg["optimizer"]["lr"] == 5e-4
    assert cfg["optimizer"]["weight_decay"] == 0.0  # from the defaults
    assert cfg["train"]["max_epochs"] == 20 and cfg["train"]["eval_interval"] == 10
    assert cfg["data"] == {"root": "data/coco", "batch_size": 64, "pipeline": None}
    assert cfg["model"] == {"type": "pose_hrnet_w32", "kwargs": {"num_joints": 17}}
    assert "_width" not in cfg and "_base_" not in cfg
    assert cfg["schedule"]["milestones"] == [170, 200]


def test_cfg_options_strings_and_dict(chain):
    cfg = load_config(chain, ["optimizer.lr=0.01", "schedule.milestones=[90,120]", "train.amp=false",
                              "train.grad_clip=None", "optimizer.betas=(0.8,0.9)", "seed=7",
                              "model.kwargs.extra=a,b"], DEFAULTS)
    assert cfg["optimizer"]["lr"] == 0.01 and cfg["schedule"]["milestones"] == [90, 120]
    assert cfg["train"]["amp"] is False and cfg["train"]["grad_clip"] is None and cfg["seed"] == 7
    assert cfg["optimizer"]["betas"] == (0.8, 0.9) and cfg["model"]["kwargs"]["extra"] == ["a", "b"]
    cfg = load_config(chain, {"optimizer": {"lr": 0.1}, "schedule.milestones.1": 150}, DEFAULTS)
    assert cfg["optimizer"] == {**DEFAULTS["optimizer"], "lr": 0.1}
    assert cfg["schedule"]["milestones"] == [170, 150]


@pytest.mark.parametrize("option, message", [
    ("schedule.milestones.2", "schedule.milestones is a list of 2 (indices 0 to 1)"),
    ("schedule.milestones.first", "schedule.milestones is a list of 2 (indices 0 to 1)"),
    ("optimizer.lr.x", "optimizer.lr is a float, not a dict")])
def test_an_option_past_a_list_or_into_a_number_says_what_is_there(chain, option, message):
    with pytest.raises(ConfigError, match=re.escape(f"w32.py: --cfg-options {option}: {message}")):
        load_config(chain, {option: 1}, None)


def test_unknown_nested_key_names_file_and_suggests(tmp_path, chain):
    bad = write(tmp_path, "configs/pose/typo.py", """
        _base_ = './w32.py'
        optimizer = dict(lrr=1e-3)
    """)
    with pytest.raises(ConfigError) as err:
        load_config(bad, defaults=DEFAULTS)
    msg = str(err.value)
    assert str(bad) in msg and "'optimizer.lrr'" in msg and "did you mean optimizer.lr" in msg
    top = write(tmp_path, "top.py", "lr = 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'lr'; did you mean optimizer\.lr"):
        load_config(top, defaults=DEFAULTS)
    nothing_close = write(tmp_path, "far.py", "train = dict(zzz=1)\n")
    with pytest.raises(ConfigError, match=r"known keys under train: amp, .*best_metric"):
        load_config(nothing_close, defaults=DEFAULTS)
    with pytest.raises(ConfigError, match=r"w32.py: --cfg-options: unknown config key 'schedule.gama'.*gamma"):
        load_config(chain, ["schedule.gama=0.5"], DEFAULTS)
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        load_config(chain, ["optimizer.lr"], DEFAULTS)


def test_open_sections_take_any_key(tmp_path):
    path = write(tmp_path, "open.py", """
        model = dict(type='x', kwargs=dict(anything=1))  # empty default: open
        data = dict(pipeline=dict(flip=True))            # None default: open
    """)
    assert load_config(path, defaults=DEFAULTS)["data"]["pipeline"] == {"flip": True}
    # but a None default of one kind (NONE_DEFAULT_KINDS) is not open: mmengine's dict(max_norm=1) is a number here
    clip = write(tmp_path, "clip.py", "train = dict(grad_clip=dict(max_norm=1))\n")
    with pytest.raises(ConfigError, match=r"train\.grad_clip: expected a number > 0, got \{'max_norm': 1\}"):
        load_config(clip, defaults=DEFAULTS)
    extra = write(tmp_path, "extra.py", "model = dict(type='x', num_joints=17)\n")
    with pytest.raises(ConfigError, match="model.num_joints"):
        load_config(extra, defaults=DEFAULTS)
    assert load_config(extra, defaults=DEFAULTS, open_keys=["model"])["model"]["num_joints"] == 17
    assert load_config(extra)["model"] == {"type": "x", "num_joints": 17}  # no defaults: no schema


def test_delete_replaces_a_base_dict(tmp_path):
    write(tmp_path, "base.py", "optimizer = dict(type='SGD', lr=0.01, momentum=0.9, nesterov=True)\n")
    path = write(tmp_path, "child.py", """
        _base_ = './base.py'
        optimizer = dict(_delete_=True, type='Adam', lr=1e-3)
    """)
    assert load_config(path) == {"optimizer": {"type": "Adam", "lr": 1e-3}}


@pytest.mark.parametrize("case", ["missing", "syntax", "bad_base", "raises"])
def test_broken_files_name_the_file(tmp_path, case):
    path = tmp_path / f"{case}.py"
    text = {"syntax": "optimizer = dict(lr=1e-3,\n", "bad_base": "_base_ = './nope.py'\n",
            "raises": "x = 1 / 0\n"}.get(case)
    if text is not None:
        path.write_text(text)
    expected = {"missing": "config file not found", "syntax": "syntax error at line 1",
                "bad_base": "nope.py", "raises": "ZeroDivisionError"}[case]
    with pytest.raises(ConfigError) as err:
        load_config(path, defaults=DEFAULTS)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_syntax_error_in_a_base_file_names_that_file(tmp_path):
    base = write(tmp_path, "_base_/broken.py", "train = dict(max_epochs=3\n")
    path = write(tmp_path, "child.py", "_base_ = ['./_base_/broken.py']\n")
    with pytest.raises(ConfigError, match=f"{base}: syntax error at line 1"):
        load_config(path, defaults=DEFAULTS)


def test_tool_arguments(chain):
    parser = add_config_args(argparse.ArgumentParser())
    args = parser.parse_args([str(chain), "--cfg-options", "optimizer.lr=0.5", "train.max_epochs=3",
                              "--resume", "--seed", "9"])
    cfg = config_from_args(args, DEFAULTS)
    assert cfg["optimizer"]["lr"] == 0.5 and cfg["train"]["max_epochs"] == 3
    assert cfg["resume"] is True and cfg["seed"] == 9 and cfg["work_dir"] == "work_dirs/w32"
    args = parser.parse_args(["--work-dir", "out", "--resume", "ckpt.pth"])
    cfg = config_from_args(args, DEFAULTS)
    assert cfg["work_dir"] == "out" and cfg["resume"] == "ckpt.pth" and cfg["seed"] == 0
    assert cfg["optimizer"] == TRAIN_DEFAULTS["optimizer"]


def test_base_references_and_attribute_access(tmp_path):
    write(tmp_path, "base.py", """
        model = dict(width=32, widths=[32, 64])
        data = dict(input_size=(256, 192))
    """)
    path = write(tmp_path, "child.py", """
        _base_ = './base.py'
        head = dict(channels={{_base_.model.width}}, size='{{_base_.data.input_size}}')
        neck = dict(widths=_base_.model.widths + [128], first=_base_['model']['width'])
    """)
    cfg = load_config(path)
    assert cfg["head"] == {"channels": 32, "size": (256, 192)}
    assert cfg["neck"] == {"widths": [32, 64, 128], "first": 32}
    assert cfg["model"] == {"width": 32, "widths": [32, 64]}  # the base's list untouched
    for text, message in [("x = {{_base_.model.depth}}\n", "the _base_ files set no 'model.depth'"),
                          ("x = _base_.nothing\n", "AttributeError: the _base_ files set no 'nothing'"),
                          ("x = '{{$HOME:/tmp}}'\n", r"placeholder \{\{\$HOME:/tmp\}\} is not supported")]:
        bad = write(tmp_path, "bad.py", "_base_ = './base.py'\n" + text)
        with pytest.raises(ConfigError, match=message):
            load_config(bad)
    names = write(tmp_path, "sub/names.py", "name = '{{ fileBasenameNoExtension }}'\n")
    assert load_config(names) == {"name": "names"}


def test_inheritance_rules(tmp_path):
    """mmengine's rules: lists and scalars replaced, dicts merged; a dict over a non-dict needs
    _delete_; two base files may not set the same key; nested _delete_ markers never leak."""
    write(tmp_path, "a.py", "model = dict(layers=[1, 2], act=dict(type='relu', inplace=True))\nlr = 0.1\n")
    write(tmp_path, "b.py", "data = dict(root='x')\nlr_steps = (3, 4)\n")
    path = write(tmp_path, "c.py", """
        _base_ = ['./a.py', './b.py']
        model = dict(layers=[3], act=dict(_delete_=True, type='gelu'), extra=dict(_delete_=True, k=1))
        lr_steps = [5]
        import math                 # modules and functions are not config keys
        def helper(): pass
        lr = math.sqrt(0.04)
    """)
    cfg = load_config(path)
    assert cfg == {"model": {"layers": [3], "act": {"type": "gelu"}, "extra": {"k": 1}},
                   "lr": 0.2, "data": {"root": "x"}, "lr_steps": [5]}
    both = write(tmp_path, "both.py", "_base_ = ['./a.py', './a2.py']\n")
    write(tmp_path, "a2.py", "lr = 0.5\n")
    with pytest.raises(ConfigError, match=r"both.py: its _base_ files ./a.py and ./a2.py both set 'lr'"):
        load_config(both)
    over = write(tmp_path, "over.py", "_base_ = './a.py'\nlr = dict(base=0.1)\n")
    with pytest.raises(ConfigError, match="'lr' is a dict here but a float in its _base_ files; set _delete_=True"):
        load_config(over)
    write(tmp_path, "over2.py", "_base_ = './a.py'\nlr = dict(_delete_=True, base=0.1)\n")
    assert load_config(tmp_path / "over2.py")["lr"] == {"base": 0.1}
    loop = write(tmp_path, "loop.py", "_base_ = './loop2.py'\n")
    write(tmp_path, "loop2.py", "_base_ = './loop.py'\n")
    with pytest.raises(ConfigError, match="its _base_ files include itself"):
        load_config(loop)


def test_json_configs_and_other_formats(tmp_path):
    write(tmp_path, "base.py", "optimizer = dict(type='SGD', lr=0.01)\n")
    path = write(tmp_path, "child.json", '{"_base_": "./base.py", "optimizer": {"lr": 0.5}, "tags": [1, 2]}')
    assert load_config(path) == {"optimizer": {"type": "SGD", "lr": 0.5}, "tags": [1, 2]}
    for name, text, message in [("bad.json", "{", "not valid JSON"), ("list.json", "[1]", "holds an object"),
                                ("c.yaml", "a: 1", r"Python \(.py\) or JSON"),
                                ("pkg.py", "_base_ = 'mmdet::x.py'\n", "configs of other packages"),
                                ("expr.py", "_base_ = ['./a' + '.py']\n", "line 1: _base_ must be a path")]:
        with pytest.raises(ConfigError, match=message):
            load_config(write(tmp_path, name, text))


@pytest.mark.parametrize("text, value", [
    ("1", 1), ("-2.5e-3", -2.5e-3), ("true", True), ("FALSE", False), ("None", None), ("none", "none"),
    ("abc", "abc"), ("'a b'", "ab"), ("a,b", ["a", "b"]), ("1,", [1]), ("[1,2]", [1, 2]), ("(1,2)", (1, 2)),
    ("[]", []), ("()", ()), ("[(1, 2, 3), [a, b], c]", [(1, 2, 3), ["a", "b"], "c"]),
    ("[[1,[2,3]],4]", [[1, [2, 3]], 4]), ("[a", "[a"),
])
def test_option_values_read_as_mmengines_dict_action(text, value):
    """The table checked against mmengine 0.10.7's DictAction._parse_iterable (docs/dependencies.md)."""
    parsed = parse_option_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["[a,b", "(1,2", "-None[,1],"])
def test_unreadable_option_values_are_one_clear_error(chain, text):
    with pytest.raises(ConfigError, match=r"w32.py: --cfg-options 'seed=.*': (unbalanced brackets|cannot split)"):
        load_config(chain, [f"seed={text}"], DEFAULTS)


def test_no_openmmlab_package_is_imported():
    """hrseg reads its config files itself: neither mmengine nor mmcv is a dependency."""
    code = ("import sys, hrseg, hrseg.engine, hrseg.config, hrseg.models, hrseg.inference; "
            "from hrseg.tasks.pose import load_pose_config; load_pose_config('hrnet_w32_coco_256x192'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mmengine', 'mmcv')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- values: checked against the kind of each key's default ---------------------------------------
@pytest.fixture
def pose_defaults():
    return pose.POSE_DEFAULTS, pose.TASK.open_keys


@pytest.mark.parametrize("option, message", [
    ("optimizer.lr=abc", "optimizer.lr: expected a number >= 0, got 'abc'"),
    ("optimizer.lr=-1", "optimizer.lr: expected a number >= 0, got -1"),
    ("train.max_epochs=ten", "train.max_epochs: expected an integer >= 1, got 'ten'"),
    ("train.max_epochs=1.5", "train.max_epochs: expected an integer >= 1, got 1.5"),  # int() would train 1 epoch
    ("train.max_epochs=2.0", "train.max_epochs: expected an integer >= 1, got 2.0"),  # integral floats too
    ("data.batch_size=-4", "data.batch_size: expected an integer >= 1, got -4"),
    ("data.num_workers=-1", "data.num_workers: expected an integer >= 0, got -1"),
    ("data.input_size=256", "data.input_size: expected two integers >= 1, got 256"),
    ("data.input_size=abc", "data.input_size: expected two integers >= 1, got 'abc'"),
    ("data.input_size=[256]", "data.input_size: expected two integers >= 1, got [256]"),
    ("data.input_size=[256,0]", "data.input_size: expected two integers >= 1, got [256, 0]"),
    ("data.input_size=[256,192.5]", "data.input_size: expected two integers >= 1, got [256, 192.5]"),
    ("schedule.milestones=5", "schedule.milestones: expected a list of integers >= 0, got 5"),
    ("schedule.milestones.0=abc", "schedule.milestones.0: expected an integer >= 0, got 'abc'"),
    ("test.flip=maybe", "test.flip: expected true or false, got 'maybe'"),
    ("test.flip=none", "test.flip: expected true or false, got 'none'"),
    ("test.flip=None", "test.flip: expected true or false, got None"),
    ("test.flip=1", "test.flip: expected true or false, got 1"),
    ("data.augment.flip=off", "data.augment.flip: expected true or false, got 'off'"),
    ("data.augment.flip=no", "data.augment.flip: expected true or false, got 'no'"),
    ("data.augment.flip_prob=1.5", "data.augment.flip_prob: expected a number in [0, 1], got 1.5"),
    ("data.sigma=0", "data.sigma: expected a number > 0, got 0"),
    ("train.deterministic=yes", "train.deterministic: expected true or false, got 'yes'"),
    ("optimizer.auto_scale=True,False", "optimizer.auto_scale: expected true or false, got [True, False]"),
    ("test.decoder=1", "test.decoder: expected a string, got 1"),
    ("optimizer=0.1", "optimizer: expected a dict, got 0.1"),
    ("model.name=5", "model.name: expected a string, got 5"),  # an open section, but the default gives a kind
])
def test_option_values_of_the_wrong_kind_name_the_key(pose_defaults, option, message):
    defaults, open_keys = pose_defaults
    with pytest.raises(ConfigError) as err:
        load_config(None, [option], defaults, open_keys)
    assert str(err.value) == f"--cfg-options {message}"  # no file: no prefix


def test_values_in_config_files_name_the_file_and_the_key(tmp_path, pose_defaults):
    defaults, open_keys = pose_defaults
    for text, message in [("optimizer = dict(lr='abc')\n", "optimizer.lr: expected a number >= 0, got 'abc'"),
                          ("data = dict(augment=dict(flip='off'))\n", "data.augment.flip: expected true or false"),
                          ("data = dict(input_size=256)\n", "data.input_size: expected two integers >= 1, got 256"),
                          ("train = dict(max_epochs=1.5)\n", "train.max_epochs: expected an integer >= 1, got 1.5"),
                          ("optimizer = None\n", "optimizer: expected a dict, got None"),
                          ("model = dict(name=None)\n", "model.name: expected a string, got None")]:
        path = write(tmp_path, "bad.py", text)
        with pytest.raises(ConfigError) as err:
            load_config(path, defaults=defaults, open_keys=open_keys)
        assert str(err.value).startswith(f"{path}: {message}"), err.value
    write(tmp_path, "base.py", "data = dict(batch_size=0)\n")
    child = write(tmp_path, "child.py", "_base_ = './base.py'\n")
    with pytest.raises(ConfigError, match=r"child.py \(or its _base_ files\): data.batch_size: expected an integer"):
        load_config(child, defaults=defaults, open_keys=open_keys)
    json_cfg = write(tmp_path, "bad.json", '{"test": {"flip": "maybe"}}')
    with pytest.raises(ConfigError, match="bad.json: test.flip: expected true or false, got 'maybe'"):
        load_config(json_cfg, defaults=defaults, open_keys=open_keys)
    good = write(tmp_path, "good.py", "optimizer = dict(lr=1)\n")  # the file is fine: the option names itself
    with pytest.raises(ConfigError, match=r"good.py: --cfg-options optimizer.lr: expected a number >= 0, got 'x'"):
        load_config(good, ["optimizer.lr=x"], defaults, open_keys)
    with pytest.raises(ConfigError, match="--cfg-options optimizer.lr: expected a number"):  # options as a dict
        load_config(good, {"optimizer": {"lr": "x"}}, defaults, open_keys)


def test_legitimate_values_of_every_kind_still_load(tmp_path, pose_defaults):
    defaults, open_keys = pose_defaults
    options = ["optimizer.lr=1", "test.flip=TRUE", "data.augment.flip=false", "data.input_size=(384,288)",
               "optimizer.betas=0.8,0.9", "seed=None", "train.grad_clip=5", "train.best_metric=AP",
               "data.val.det_file=dets.json", "train.amp_dtype=bfloat16", "train.cudnn_benchmark=true",
               "train.compile=yes", "progressive.dropout=0.1", "progressive.drop_path=[0.0,0.2]",
               "data.augment.rotation_factor=30.5", "test.oks_thr=None", "test.track.reid_thr=None",
               "data.num_workers=0", "schedule.milestones.1=150", "schedule.milestones=[]", "data.sigma=3",
               "model.width=32", "model.pretrained=False", "test.backend=auto",
               "optimizer.reference_batch=256", "data.sigmas=[0.1,0.2]", "resume=work_dirs/x/latest.pth"]
    cfg = load_config(None, options, defaults, open_keys)
    assert cfg["optimizer"]["lr"] == 1 and cfg["test"]["flip"] is True and cfg["data"]["augment"]["flip"] is False
    assert cfg["data"]["input_size"] == (384, 288) and cfg["seed"] is None and cfg["train"]["grad_clip"] == 5
    assert cfg["progressive"]["dropout"] == 0.1 and cfg["schedule"]["milestones"] == []
    assert cfg["model"] == {"name": "pose_hrnet_w32", "width": 32, "pretrained": False}
    assert load_config(None, {"data.synthetic": {"num_train": 8}}, defaults, open_keys)["data"]["synthetic"]
    with pytest.raises(ConfigError, match="train.compile: expected true, false or null"):  # left to its own check
        check_speed(cfg["train"])
    path = write(tmp_path, "kinds.py", """
        import numpy as np
        data = dict(input_size=(256, 192), batch_size=np.int64(8), sigma=np.float32(2.5), augment=dict(flip=False))
        optimizer = dict(lr=2e-3, betas=(0.9, 0.99))
        train = dict(grad_clip=None, max_epochs=3)
        test = dict(flip=False, oks_thr=None)
    """)
    assert load_config(path, defaults=defaults, open_keys=open_keys)["data"]["batch_size"] == 8
    recorded = {**defaults, "data": {**defaults["data"], "val": {**defaults["data"]["val"], "det_file": "d.json"}},
                "test": {**defaults["test"], "stride": [340, 680], "backend": "torch"}}  # a checkpoint's config
    cfg = load_config(None, ["data.val.det_file=None", "test.stride=None", "test.backend=None"], recorded, open_keys)
    assert cfg["data"]["val"]["det_file"] is None and cfg["test"]["backend"] is None


def test_every_shipped_config_passes_the_value_checks():
    tasks = {"pose": pose.TASK, "seg": segmentation.TASK, "det": detection.TASK, "multi": multi.TASK}
    checked = 0
    for entry in list_configs():
        if entry.folder in tasks or entry.folder == "effnet":
            task = tasks.get(entry.folder) or (segmentation.TASK if "seg" in entry.name else pose.TASK)
            assert task.load_config(entry.path)["model"]["name"]
            checked += 1
    assert checked >= 30


def test_a_bad_value_on_the_command_line_is_one_error_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = hrseg_main(["train", "pose", "--dry-run", "--cfg-options", "data.augment.flip=off"])
    out, err = capsys.readouterr()
    assert code == 2 and "config:" not in out  # stopped before the recipe is printed
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert "--cfg-options data.augment.flip: expected true or false, got 'off'" in err
    assert not (tmp_path / "datasets").exists() and not (tmp_path / "work_dirs").exists()


def test_the_multi_task_label_files_can_be_switched_off_with_none():
    from hrseg.tasks import multi

    cfg = multi.TASK.load_config(None, ["data.train.keypoint_file=None", "data.val.semantic_dir=None"])
    assert cfg["data"]["train"]["keypoint_file"] is None and cfg["data"]["val"]["semantic_dir"] is None


@pytest.mark.parametrize("option, expected", [
    ("optimizer.lr=inf", r"optimizer\.lr: expected a finite number >= 0, got inf"),
    ("optimizer.lr=nan", r"optimizer\.lr: expected a finite number >= 0, got nan"),
    ("schedule.gamma=-5", r"schedule\.gamma: expected a number > 0, got -5"),
    ("schedule.warmup_ratio=2", r"schedule\.warmup_ratio: expected a number in \[0, 1\], got 2"),
    ("optimizer.betas=[0.9,1.5]", r"optimizer\.betas: expected two numbers in \[0, 1\], got \[0\.9, 1\.5\]"),
    ("train.best_mode=up", r"train\.best_mode: expected 'max' or 'min', got 'up'"),
])
def test_values_outside_their_range_are_refused_when_read(tmp_path, option, expected):
    path = write(tmp_path, "w32.py", "train = dict(max_epochs=3)\n")
    with pytest.raises(ConfigError, match=rf"w32\.py: --cfg-options {expected}"):
        load_config(path, [option], DEFAULTS)
    assert load_config(path, ["schedule.gamma=0.5", "train.best_mode=min"], DEFAULTS)["schedule"]["gamma"] == 0.5


def test_prefetch_factor_is_a_count_not_a_flag():
    with pytest.raises(ConfigError, match="train.prefetch_factor: expected a positive integer or null, got True"):
        check_speed({"prefetch_factor": True})
    check_speed({"prefetch_factor": 2})
