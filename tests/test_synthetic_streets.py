"""Synthetic street scenes: layout, labels, determinism, completion marker, scene structure."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hrseg.data.seg.datasets import CityscapesDataset
from hrseg.data.synthetic.streets import (
    BUILDING, CAR, MARKER_NAME, PERSON, POLE, ROAD, SIDEWALK, SIGN, SKY, UNLABELED, VEGETATION,
    ensure_synthetic_streets, generate_synthetic_streets, render_street, sample_paths,
)
from hrseg.errors import ConfigError

ALLOWED = {UNLABELED, ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR}
SIZE = (64, 128)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("streets")
    generate_synthetic_streets(root, 3, 2, SIZE, seed=5, log=None)
    return root


def test_layout_loads_with_cityscapes_dataset(small_set: Path) -> None:
    assert json.loads((small_set / MARKER_NAME).read_text())["num_train"] == 3
    train, val = CityscapesDataset(small_set, "train"), CityscapesDataset(small_set, "val")
    assert len(train) == 3 and len(val) == 2
    image, label, meta = train[0]
    assert image.shape == (*SIZE, 3) and label.shape == SIZE
    assert meta["file_name"] == "synth_000000_000000_leftImg8bit.png"
    assert set(np.unique(label)) <= set(range(19)) | {255}


def test_deterministic_and_order_independent(small_set: Path, tmp_path: Path) -> None:
    generate_synthetic_streets(tmp_path, 1, 2, SIZE, seed=5, log=None)
    for split, i in (("train", 0), ("val", 0), ("val", 1)):
        for a, b in zip(sample_paths(small_set, split, i), sample_paths(tmp_path, split, i)):
            assert a.read_bytes() == b.read_bytes(), f"{split} {i}"
    img1, _ = render_street(np.random.default_rng([5, 0, 0]), SIZE)
    img2, _ = render_street(np.random.default_rng([6, 0, 0]), SIZE)
    assert not np.array_equal(img1, img2)


def test_ensure_skips_complete_and_regenerates_otherwise(tmp_path: Path) -> None:
    logs: list[str] = []
    ensure_synthetic_streets(tmp_path, 3, 1, SIZE, seed=1, log=logs.append)
    assert any("3/3" in line for line in logs)  # progress is reported
    image = sample_paths(tmp_path, "train", 2)[0]
    stamp = image.stat().st_mtime_ns
    assert ensure_synthetic_streets(tmp_path, 3, 1, SIZE, seed=1, log=None)["seconds"] == 0.0
    assert image.stat().st_mtime_ns == stamp
    # a smaller set with other settings replaces it, leaving no stale files behind
    ensure_synthetic_streets(tmp_path, 2, 1, SIZE, seed=2, log=None)
    assert not image.exists() and len(CityscapesDataset(tmp_path, "train")) == 2
    # an interrupted run (no marker) or a missing file is regenerated
    (tmp_path / MARKER_NAME).unlink()
    assert ensure_synthetic_streets(tmp_path, 2, 1, SIZE, seed=2, log=None)["seconds"] > 0
    sample_paths(tmp_path, "val", 0)[1].unlink()
    ensure_synthetic_streets(tmp_path, 2, 1, SIZE, seed=2, log=None)
    assert sample_paths(tmp_path, "val", 0)[1].is_file()
    with pytest.raises(ConfigError):
        ensure_synthetic_streets(tmp_path, 0, 0, SIZE, log=None)


def test_scenes_look_like_streets() -> None:
    """Real labelIds only; sky on top, road at the bottom centre, every class shows up."""
    size = (128, 256)
    seen: dict[int, int] = {}
    start = time.perf_counter()
    n = 12
    for i in range(n):
        image, label = render_street(np.random.default_rng([0, 0, i]), size)
        assert image.dtype == np.uint8 and image.shape == (*size, 3) and label.shape == size
        assert set(np.unique(label)) <= ALLOWED
        for c in np.unique(label):
            seen[int(c)] = seen.get(int(c), 0) + 1
        top, bottom = label[: size[0] // 8], label[-size[0] // 8:, size[1] // 3: 2 * size[1] // 3]
        assert not np.isin(top, [ROAD, SIDEWALK]).any()
        assert (bottom == ROAD).mean() > 0.5
        assert (label == UNLABELED).mean() < 0.05
        assert image.std() > 20  # not flat
    seconds = (time.perf_counter() - start) / n
    for c in (ROAD, SIDEWALK, BUILDING, SKY, CAR, PERSON, POLE, SIGN, VEGETATION):
        assert seen.get(c, 0) >= n - 1, f"labelId {c} in only {seen.get(c, 0)} of {n} scenes"
    assert seconds < 1.0  # about 0.05 s on one core


def test_without_furniture_only_the_seven_classes() -> None:
    seen: set[int] = set()
    for i in range(4):
        _, label = render_street(np.random.default_rng([0, 0, i]), (96, 192), furniture=False)
        seen |= {int(c) for c in np.unique(label)}
    assert not seen & {POLE, SIGN}
    assert {ROAD, SIDEWALK, BUILDING, SKY, CAR, PERSON} <= seen
