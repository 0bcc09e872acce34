"""mmpose's MPII files (16 joints, 256x256 crops): the keypoint set against mmpose's dataset info, a
file of theirs by name through the task's predictor and the Python API."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hrseg
from hrseg.codecs.msra import HeatmapCodec
from hrseg.errors import ConfigError
from hrseg.meta.keypoints import MPII_PERSON
from hrseg.tasks.pose import TASK
from hrseg.utils.image_io import read_image
from hrseg.weights import get_weights

# mmpose configs/_base_/datasets/mpii.py, transcribed: keypoint_info's names and swaps, skeleton_info's links
MMPOSE_NAMES = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
                "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
                "left_elbow", "left_wrist"]
MMPOSE_UPPER = ["thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
                "left_elbow", "left_wrist"]
MMPOSE_LINKS = [("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "pelvis"),
                ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("pelvis", "thorax"),
                ("thorax", "upper_neck"), ("upper_neck", "head_top"), ("upper_neck", "right_shoulder"),
                ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("upper_neck", "left_shoulder"),
                ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist")]


def test_the_mpii_set_is_mmposes():
    index = {n: i for i, n in enumerate(MMPOSE_NAMES)}
    assert list(MPII_PERSON.names) == MMPOSE_NAMES
    assert list(MPII_PERSON.skeleton) == [(index[a], index[b]) for a, b in MMPOSE_LINKS]
    assert list(MPII_PERSON.upper_body_ids) == [index[n] for n in MMPOSE_UPPER]
    swapped = [MMPOSE_NAMES[j] for j in MPII_PERSON.flip_index]
    assert swapped == [n.replace("left", "@").replace("right", "left").replace("@", "right") for n in MMPOSE_NAMES]
    assert MPII_PERSON.weights[0] == 1.5 and len(MPII_PERSON.sigmas) == 16


@pytest.mark.parametrize("name, decoder", [("pose_hrnet_w32.mmpose0x_mpii_256x256", "argmax"),
                                           ("pose_hrnet_w48.mmpose0x_mpii_256x256_dark", "dark")])
def test_published_mpii_files_set_their_joints_and_crops(name, decoder):
    cfg = TASK.config_for_record(get_weights(name), None)
    codec = HeatmapCodec.from_config(cfg)
    assert (codec.input_size, codec.heatmap_size, codec.sigma, codec.decoder) == ((256, 256), (64, 64), 2.0, decoder)
    assert cfg["data"]["keypoints"]["names"] == MMPOSE_NAMES and cfg["model"]["num_joints"] == 16
    with torch.device("meta"):
        assert TASK.build_model(cfg).head.final_layer.out_channels == 16


def test_an_mpii_file_by_name_predicts_mpii_joints(publish_as, shared_data):
    """A file of the MPII kind by name (a small 16-joint model served under such a record's name): the
    predictor crops 256x256 and names MPII's joints, the overlay draws them; the Python API builds the
    16-joint head and refuses a contradicting ``num_joints``."""
    record = publish_as(hrseg.build_model("pose_hrnet_w18_small_v1", num_joints=16),
                        "pose_hrnet_w32.mmpose0x_mpii_256x256", "pose_hrnet_w18_small_v1")
    model, cfg = TASK.load_model(record.name)
    image = read_image(shared_data / "coco_mini" / "images" / "000000000785.jpg")
    predictor = TASK.predictor(model, cfg, person_detector=lambda img: [[280.0, 40.0, 150.0, 330.0, 1.0]])
    assert predictor.describe()["input_size"] == [256, 256]
    people = predictor.predict(image)
    assert list(people[0]["keypoints"]) == MMPOSE_NAMES
    drawn = predictor.draw(image, people)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert hrseg.build_model("pose_hrnet_w18_small_v1", weights=record.name).head.final_layer.out_channels == 16
    with pytest.raises(ConfigError, match="num_joints=17, but the weights"):
        hrseg.build_model("pose_hrnet_w18_small_v1", weights=record.name, num_joints=17)
