"""Training options a user can get wrong, refused before any work (or, when only the run can
tell, after the epoch's training is saved): gradient clipping, the seed, null, heatmap sizes,
the metric that picks best.pth."""
from __future__ import annotations

import argparse

import pytest

from hrseg.cli import seed_value
from hrseg.commands import bench_train
from hrseg.data.synthetic.pose import ensure_synthetic_pose
from hrseg.engine import load_state
from hrseg.errors import ConfigError
from hrseg.experiments.train_speed import bench_config
from hrseg.tasks.pose import load_pose_config
from test_engine import make_trainer


@pytest.mark.parametrize("value, why", [("-1", "a number > 0, got -1"), ("0", "a number > 0, got 0"),
                                        ("abc", "a number > 0, got 'abc'")])
def test_grad_clip_takes_a_positive_number_or_none(value: str, why: str) -> None:
    """A negative max norm made clip_grad_norm_ flip every gradient (the loss rose 1.0 -> 116 in 3
    epochs); a string was a traceback at the first step."""
    with pytest.raises(ConfigError, match=f"train.grad_clip: expected {why}"):
        load_pose_config(None, [f"train.grad_clip={value}"])
    assert load_pose_config(None, ["train.grad_clip=1.5"])["train"]["grad_clip"] == 1.5
    assert load_pose_config(None, ["train.grad_clip=null"])["train"]["grad_clip"] is None  # as the docs spell it


def test_null_is_none_in_cfg_options() -> None:
    cfg = load_pose_config(None, ["train.cudnn_benchmark=null", "train.channels_last=None"])
    assert cfg["train"]["cudnn_benchmark"] is None and cfg["train"]["channels_last"] is None


def test_a_seed_is_a_whole_number_numpy_takes() -> None:
    """--seed -1 and --seed 10**20 were tracebacks from the data order's SeedSequence."""
    for bad in ("-1", str(2**32), "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            seed_value(bad)
    assert seed_value("0") == 0 and seed_value(str(2**32 - 1)) == 2**32 - 1
    with pytest.raises(ConfigError, match=r"seed: expected an integer in \[0, 4294967295\], got -1"):
        load_pose_config(None, ["seed=-1"])


def test_heatmaps_are_a_quarter_of_the_input() -> None:
    """Every pose model predicts at stride 4: other heatmap sizes failed at the first training step
    with a tensor-size traceback."""
    with pytest.raises(ConfigError, match=r"heatmap_size \[32, 24\] .* a quarter of it \(\[16, 12\]\)"):
        load_pose_config(None, ["data.input_size=[64,48]", "data.heatmap_size=[32,24]"])
    with pytest.raises(ConfigError, match="multiples of 4"):
        load_pose_config(None, ["data.input_size=[62,46]", "data.heatmap_size=[15,11]"])
    assert load_pose_config(None, ["data.input_size=[64,48]", "data.heatmap_size=[16,12]"])["data"]["sigma"] > 0


def test_an_unknown_best_metric_stops_after_saving_the_epoch(tmp_path) -> None:
    """train.best_metric naming no metric of the evaluation: one ConfigError, with the epoch's
    training in latest.pth (the error came before the save: the epochs were lost)."""
    trainer = make_trainer(tmp_path, max_epochs=2, eval_interval=1, best_metric="foo")
    with pytest.raises(ConfigError, match="train.best_metric: 'foo' is not among the evaluation metrics"):
        trainer.fit()
    assert load_state(tmp_path / "latest.pth")["epoch"] == 1 and not (tmp_path / "best.pth").exists()


def test_bench_train_refuses_a_bad_device_or_size_before_any_work(capsys) -> None:
    """--device bogus was torch's traceback; an input size off stride 4 one at the first step."""
    with pytest.raises(SystemExit):
        bench_train.main(["pose_hrnet_w18_small_v1", "--device", "bogus"])
    assert "expected cpu, cuda or cuda:N, got 'bogus'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="multiples of 4"):
        bench_config("pose_hrnet_w18_small_v1", (62, 46), 2, 0)


def test_a_generated_splits_progress_goes_to_stderr(tmp_path, capsys) -> None:
    """stdout stays a command's result: bench-train --json was not JSON on a first run."""
    ensure_synthetic_pose(tmp_path / "pose", num_train=2, num_val=1, image_size=(64, 64), progress_every=1)
    out, err = capsys.readouterr()
    assert out == "" and "train 2/2 images" in err
