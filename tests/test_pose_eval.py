"""COCO keypoint evaluation: the same numbers as pycocotools called directly, on real data."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.data.pose.coco_keypoints import load_coco_keypoints, split_image_ids
from hrseg.errors import DataError
from hrseg.evaluation.coco_keypoints import STAT_NAMES, evaluate_keypoints, format_table


@pytest.fixture(scope="module")
def gt_file(shared_data: Path) -> Path:
    return shared_data / "coco_mini" / "person_keypoints.json"


@pytest.fixture(scope="module")
def gt(gt_file: Path) -> COCO:
    return load_coco_keypoints(gt_file)


def _noisy_results(coco: COCO, sigma: float, seed: int) -> list[dict]:
    """Ground-truth people with keypoints, moved by Gaussian noise, with random scores."""
    rng = np.random.default_rng(seed)
    out = []
    for ann in coco.loadAnns(coco.getAnnIds(iscrowd=False)):
        if ann["num_keypoints"] == 0:
            continue
        k = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        k[:, :2] += rng.normal(0, sigma, (len(k), 2))
        k[:, 2] = 1.0
        out.append({"image_id": ann["image_id"], "category_id": 1,
                    "keypoints": k.reshape(-1).tolist(), "score": float(rng.uniform(0.1, 1))})
    return out


def _pycocotools(gt_file: Path, results: list[dict], img_ids=None) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_file))
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_matches_pycocotools_on_real_data(gt_file: Path, gt: COCO, capsys):
    results = _noisy_results(gt, sigma=3.0, seed=0)
    stats = evaluate_keypoints(gt_file, results)
    assert list(stats) == list(STAT_NAMES)
    np.testing.assert_allclose(list(stats.values()), _pycocotools(gt_file, results), atol=1e-12)
    assert 0.5 < stats["AP"] < 0.8  # the shared README's figure for this noise: 0.662
    out = capsys.readouterr().out
    assert "| AP |" in out and f"{stats['AP']:.3f}" in out
    # on the val2017 subset, with a loaded COCO
    val = split_image_ids(gt, "val2017")
    assert len(val) == 21
    sub = evaluate_keypoints(gt, results, img_ids=val, verbose=False)
    np.testing.assert_allclose(list(sub.values()), _pycocotools(gt_file, results, val), atol=1e-12)
    assert sub["AP"] != stats["AP"]


def test_ground_truth_scores_one(gt_file: Path, gt: COCO, tmp_path: Path):
    results = _noisy_results(gt, sigma=0.0, seed=1)
    path = tmp_path / "gt_results.json"
    path.write_text(json.dumps(results))
    stats = evaluate_keypoints(gt, path, verbose=False)
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)


def test_empty_results_give_zeros_with_a_warning(gt: COCO, tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        stats = evaluate_keypoints(gt, [], verbose=False)
    assert "no keypoint results" in caplog.text
    assert stats == {k: 0.0 for k in STAT_NAMES}
    path = tmp_path / "empty.json"
    path.write_text("[]")
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        assert evaluate_keypoints(gt, path, verbose=False)["AP"] == 0.0
    assert str(path.name) in caplog.text


def test_bad_results_are_data_errors(gt: COCO, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 785, "category_id": 1, "keypo')
    with pytest.raises(DataError, match="bad.json.*not valid JSON"):
        evaluate_keypoints(gt, bad, verbose=False)
    with pytest.raises(DataError, match="not found"):
        evaluate_keypoints(gt, tmp_path / "missing.json", verbose=False)
    with pytest.raises(DataError, match="lacks field.*score"):
        evaluate_keypoints(gt, [{"image_id": 785, "category_id": 1, "keypoints": [0] * 51}],
                           verbose=False)
    with pytest.raises(DataError, match="image id 12345"):
        evaluate_keypoints(gt, [{"image_id": 12345, "category_id": 1, "keypoints": [0] * 51,
                                 "score": 1.0}], verbose=False)


@pytest.mark.parametrize("keypoints", [[float("nan")] * 51, [10.0, 20.0, 1.0], [5.0] * 34, "17 people",
                                       [5.0] * 50 + [None]])
def test_keypoints_not_17_finite_triples_are_data_errors(gt: COCO, tmp_path: Path, keypoints):
    """pycocotools took any list: NaNs scored AP 1.0, three values were broadcast over 17 keypoints,
    34 values (no scores) failed deep inside it."""
    path = tmp_path / "res.json"
    path.write_text(json.dumps([{"image_id": 785, "category_id": 1, "keypoints": keypoints, "score": 1.0}]))
    with pytest.raises(DataError, match=r"res.json: the keypoints of a result for image id 785 are not 17 x "
                                        r"\(x, y, score\), 51 finite numbers"):
        evaluate_keypoints(gt, path, verbose=False)


def test_format_table():
    table = format_table({"AP": 0.5, "AR": 0.25})
    assert table.splitlines() == ["| keypoints | AP | AR |", "|---|---|---|", "| | 0.500 | 0.250 |"]
