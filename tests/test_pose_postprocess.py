"""Pose post-processing: flip test, rescoring, OKS-NMS and the results file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hrseg.data.pose.coco_keypoints import load_coco_keypoints
from hrseg.meta.keypoints import FLIP_PAIRS, NUM_JOINTS, OKS_SIGMAS
from hrseg.evaluation.coco_keypoints import evaluate_keypoints
from hrseg.inference.pose_postprocess import (
    flip_back, flip_test, oks_iou, oks_nms, pose_results, rescore, write_keypoint_results,
)


def test_flip_back_mirrors_and_swaps():
    hm = torch.rand(2, NUM_JOINTS, 8, 6)
    once = flip_back(hm)
    torch.testing.assert_close(flip_back(once), hm)
    torch.testing.assert_close(once[:, 1], hm[:, 2].flip(-1))  # left eye <- right eye
    torch.testing.assert_close(once[:, 0], hm[:, 0].flip(-1))  # the nose stays


def test_flip_test_fusion():
    calls = []

    def model(x: torch.Tensor) -> torch.Tensor:
        """Heatmaps that follow the image: every joint is the first channel, so a mirrored
        input gives the mirrored output (a perfectly flip-consistent model)."""
        calls.append(x.clone())
        return x[:, :1].repeat(1, NUM_JOINTS, 1, 1)

    x = torch.rand(2, 3, 8, 6)
    direct = model(x)
    fused = flip_test(model, x, FLIP_PAIRS, shift_heatmap=False)
    torch.testing.assert_close(fused, direct)
    torch.testing.assert_close(calls[-1], x.flip(3))  # the second pass saw the mirror image
    # official shift: the flipped output moves one pixel right (column 0 is kept)
    fused = flip_test(model, x)
    shifted = direct.clone()
    shifted[..., 1:] = direct[..., :-1]
    torch.testing.assert_close(fused, (direct + shifted) * 0.5)
    # a model with several outputs is judged on its last one
    fused = flip_test(lambda t: [torch.zeros_like(model(t)), model(t)], x, shift_heatmap=False)
    torch.testing.assert_close(fused, direct)


def test_rescore_official():
    maxvals = np.array([[0.1, 0.5, 0.9], [0.1, 0.2, 0.15]])
    np.testing.assert_allclose(rescore(maxvals, np.array([0.8, 1.0])), [0.7 * 0.8, 0.0])
    np.testing.assert_allclose(rescore(maxvals[..., None], np.ones(2), vis_thre=0.0),
                               [0.5, 0.15])


def test_oks_by_hand():
    # one joint, sigma 0.1 -> var (2 * 0.1)^2 = 0.04; distance 1, both areas 50:
    # e = 1 / 0.04 / 50 / 2 = 0.25
    g = np.array([[0.0, 0.0, 1.0]])
    d = np.array([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(oks_iou(g, d, 50.0, np.array([50.0, 50.0]), [0.1]),
                               [np.exp(-0.25), 1.0], rtol=1e-9)


def test_oks_nms_keeps_the_best_of_duplicates():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(100, 200, (NUM_JOINTS, 2)), np.ones((NUM_JOINTS, 1))], 1)
    b = a.copy()
    b[:, :2] += 0.5  # a near duplicate: OKS ~ 1 > 0.9
    c = a.copy()
    c[:, :2] += 300  # another person
    kpts = np.stack([a, b, c])
    areas = np.full(3, 100.0 * 100.0)
    assert oks_nms(kpts, np.array([0.5, 0.9, 0.7]), areas) == [1, 2]
    assert oks_nms(kpts, np.array([0.9, 0.5, 0.7]), areas) == [0, 2]
    assert sorted(oks_nms(kpts, np.array([0.9, 0.5, 0.7]), areas, thresh=1.0)) == [0, 1, 2]
    assert oks_nms(np.zeros((0, NUM_JOINTS, 3)), np.zeros(0), np.zeros(0)) == []
    assert len(OKS_SIGMAS) == NUM_JOINTS and OKS_SIGMAS[0] == pytest.approx(0.026)


def test_results_file_round_trip(shared_data: Path, tmp_path: Path):
    """Ground-truth keypoints of real people through rescoring, NMS, the results file and the
    evaluator: duplicates are suppressed per image only, and AP stays 1."""
    coco = load_coco_keypoints(shared_data / "coco_mini" / "person_keypoints.json")
    anns = [a for a in coco.loadAnns(coco.getAnnIds(iscrowd=False)) if a["num_keypoints"] > 0]
    kpts = np.stack([np.asarray(a["keypoints"], np.float64).reshape(-1, 3) for a in anns])
    for k, a in zip(kpts, anns):  # a prediction has every joint: put unlabelled ones mid-box
        x, y, w, h = a["bbox"]
        k[k[:, 2] == 0, :2] = (x + w / 2, y + h / 2)
    n = len(anns)
    preds = np.concatenate([kpts[..., :2], kpts[..., :2] + 0.3])  # every person twice
    maxvals = np.full((2 * n, NUM_JOINTS, 1), 0.9)
    image_ids = [a["image_id"] for a in anns] * 2
    centers = np.zeros((2 * n, 2))
    scales = np.stack([np.sqrt([a["area"], a["area"]]) / 200 for a in anns] * 2)
    box_scores = [1.0] * n + [0.5] * n
    results = pose_results(preds, maxvals, image_ids, centers, scales, box_scores)
    assert len(results) == n and all(r["score"] == pytest.approx(0.9) for r in results)
    path = write_keypoint_results(tmp_path / "out" / "keypoints_results.json", results)
    loaded = json.loads(path.read_text())
    assert len(loaded[0]["keypoints"]) == 3 * NUM_JOINTS and loaded[0]["category_id"] == 1
    assert not list(path.parent.glob(".*"))  # no temporary file left behind
    assert evaluate_keypoints(coco, path, verbose=False)["AP"] == pytest.approx(1.0)
    # without NMS the duplicates stay
    assert len(pose_results(preds, maxvals, image_ids, centers, scales, box_scores,
                            oks_thre=None)) == 2 * n
