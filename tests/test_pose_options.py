"""What a user gives beside a pose checkpoint: the OKS sigmas and flip pairs of the config or
--cfg-options (the checkpoint records its own), and the score a boxes file's person must reach."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hrseg
from hrseg.errors import ConfigError
from hrseg.meta.keypoints import OKS_SIGMAS
from hrseg.tasks import pose

SIZE = ["model.name=pose_hrnet_w18_small_v1", "data.input_size=[64,48]", "data.heatmap_size=[16,12]",
        "data.sigma=1.0"]


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    cfg = pose.load_pose_config(None, SIZE)
    torch.manual_seed(0)
    return hrseg.save_checkpoint(tmp_path / "pose.pth", pose.TASK.build_model(cfg),
                                 meta={"config": cfg, "model": pose.TASK.model_meta(cfg)})


def test_sigmas_and_flip_pairs_given_at_test_time_replace_the_checkpoints(checkpoint: Path) -> None:
    _, cfg = pose.TASK.load_model(checkpoint)
    assert pose.keypoint_set(cfg).sigmas == tuple(OKS_SIGMAS)  # the recorded set
    sigmas = [0.5] * 17
    _, cfg = pose.TASK.load_model(checkpoint, cfg_options=[f"data.sigmas={sigmas}", "data.flip_pairs=[[1,2]]"])
    keypoints = pose.keypoint_set(cfg)
    assert keypoints.sigmas == tuple(sigmas) and keypoints.flip_pairs == ((1, 2),)
    assert keypoints.names == pose.COCO_PERSON.names  # the joints stay the weights'
    # a config given beside the checkpoint counts too
    _, cfg = pose.TASK.load_model(checkpoint, pose.load_pose_config(None, [*SIZE, f"data.sigmas={sigmas}"]))
    assert pose.keypoint_set(cfg).sigmas == tuple(sigmas)
    with pytest.raises(ConfigError, match=r"^data\.sigmas: 2 values for 17 keypoints"):
        pose.TASK.load_model(checkpoint, cfg_options=["data.sigmas=[0.5,0.5]"])
    nan_at_4 = ",".join("nan" if i == 4 else "0.5" for i in range(17))
    with pytest.raises(ConfigError, match=r"^data\.sigmas: nan for keypoint 4 \(right_ear\)"):
        pose.TASK.load_model(checkpoint, cfg_options=[f"data.sigmas=[{nan_at_4}]"])
    with pytest.raises(ConfigError, match=r"^data\.flip_pairs: pair \[2, 3\] repeats joint 2"):
        pose.TASK.load_model(checkpoint, cfg_options=["data.flip_pairs=[[1,2],[2,3]]"])


def test_a_boxes_files_people_are_kept_from_the_score_threshold_on(checkpoint: Path, tmp_path: Path) -> None:
    """--det-score-thr keeps a boxes file's boxes as it keeps a detector's (it was ignored)."""
    image = np.full((120, 160, 3), 80, np.uint8)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [[10, 10, 40, 80, 0.9], [90, 20, 40, 80, 0.1], [60, 30, 30, 60]]}))
    counts = {}
    for thr in (0.0, 0.5, 0.95):
        predictor = pose.TASK.build_predictor(checkpoint, boxes_file=boxes, det_score_thr=thr,
                                              cfg_options=["test.backend=torch"])
        counts[thr] = len(predictor(image, key="a.png"))
    assert counts == {0.0: 3, 0.5: 2, 0.95: 1}  # a box without a score scores 1
