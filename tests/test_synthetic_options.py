"""A config's data.synthetic section is checked against its generator before anything is written
(a malformed one was a traceback from inside the generator)."""
from __future__ import annotations

from pathlib import Path

import pytest

from hrseg.data.synthetic.options import generator_options
from hrseg.data.synthetic.pose import ensure_synthetic_pose
from hrseg.data.synthetic.scenes import SceneParams
from hrseg.data.synthetic.streets import ensure_synthetic_streets
from hrseg.errors import ConfigError
from hrseg.tasks import pose, segmentation

REPO = Path(__file__).resolve().parents[1]


def test_options_become_the_generators_arguments() -> None:
    options = generator_options({"num_train": 3, "image_size": [64, 48], "params": {"max_people": 2}},
                                ensure_synthetic_pose)
    assert options == {"num_train": 3, "image_size": (64, 48), "params": SceneParams(max_people=2)}
    assert generator_options({"size": [32, 64], "furniture": False}, ensure_synthetic_streets) == {
        "size": (32, 64), "furniture": False}


@pytest.mark.parametrize("options, message", [
    (5, r"data\.synthetic: expected a dict of the generator's options .*got 5"),
    ({"num_trian": 3}, r"data\.synthetic\.num_trian: unknown option; known: image_size, .*num_train"),
    ({"num_train": "abc"}, r"data\.synthetic\.num_train: expected an integer >= 0, got 'abc'"),
    ({"num_train": True}, r"data\.synthetic\.num_train: expected an integer >= 0, got True"),
    ({"image_size": [1, 2, 3]}, r"data\.synthetic\.image_size: expected 2 values like \[256, 256\]"),
    ({"params": {"max_peple": 2}}, r"data\.synthetic\.params: expected a dict with some of edge_prob, .*max_people"),
    ({"params": {"max_people": 1.5}}, r"data\.synthetic\.params\.max_people: expected an integer >= 0, got 1\.5"),
])
def test_a_malformed_section_is_one_error(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        generator_options(options, ensure_synthetic_pose)


def test_the_tasks_check_it_before_generating(tmp_path) -> None:
    cfg = pose.TASK.load_config(REPO / "configs/pose/synthetic_mini.py",
                                [f"data.root={tmp_path / 'pose'}", "data.synthetic.num_trian=3"])
    with pytest.raises(ConfigError, match="data.synthetic.num_trian: unknown option"):
        pose.TASK.build_dataset(cfg, "train")
    cfg = segmentation.TASK.load_config(REPO / "configs/seg/synthetic_mini.py",
                                        [f"data.root={tmp_path / 'seg'}", "data.synthetic.furniture=1"])
    with pytest.raises(ConfigError, match="data.synthetic.furniture: expected true or false, got 1"):
        segmentation.TASK.build_dataset(cfg, "train")
    assert not (tmp_path / "pose").exists() and not (tmp_path / "seg").exists()
