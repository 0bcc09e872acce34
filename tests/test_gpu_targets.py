"""The batch's heatmap targets made with torch (on the GPU in training) equal the CPU codec's."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hrseg.codecs.heatmap import encode
from hrseg.codecs.heatmap_torch import batch_targets, codec_targets
from hrseg.data.pose.dataset import CocoPoseDataset, pose_collate
from hrseg.meta.keypoints import JOINT_WEIGHTS

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _joints(rng: np.random.Generator, n: int, k: int, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Joints inside, on the edge of and well outside the crop, some unlabelled, some exactly
    on the rounding boundaries (x / stride + 0.5 an integer)."""
    w, h = image_size
    joints = rng.uniform([-0.4 * w, -0.4 * h], [1.4 * w, 1.4 * h], (n, k, 2)).astype(np.float32)
    joints[:, :3] = rng.integers(0, 2 * min(w, h), (n, 3, 2)) / 2.0  # half-pixel positions
    joints[:, 3] = [-1.0, -1.0]  # the window still touches the map
    joints[:, 4] = [w - 0.01, h - 0.01]
    vis = (rng.random((n, k)) > 0.2).astype(np.float32)
    return joints, vis


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sigma,heatmap,image", [(2.0, (48, 64), (192, 256)), (1.0, (24, 32), (96, 128)),
                                                 (2.5, (48, 64), (192, 256)), (3.0, (72, 96), (288, 384)),
                                                 (1.7, (20, 30), (96, 128))])
@pytest.mark.parametrize("unbiased", [False, True])
def test_batch_targets_equal_the_cpu_codec(device, sigma, heatmap, image, unbiased):
    rng = np.random.default_rng(int(sigma * 10) + unbiased)
    joints, vis = _joints(rng, 6, 17, image)
    target, weight = batch_targets(torch.from_numpy(joints).to(device), torch.from_numpy(vis).to(device),
                                   image, heatmap, sigma, unbiased)
    assert target.shape == (6, 17, heatmap[1], heatmap[0]) and target.dtype == torch.float32
    assert weight.shape == (6, 17, 1)
    zero_weight = 0
    for i in range(len(joints)):
        want_t, want_w = encode(joints[i], vis[i], image, heatmap, sigma, unbiased=unbiased)
        np.testing.assert_allclose(target[i].cpu().numpy(), want_t, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(weight[i].cpu().numpy(), want_w)
        zero_weight += int((want_w == 0).sum() - (vis[i] == 0).sum())
    assert zero_weight > 0  # some labelled joints' windows missed the map: the clipping was exercised


def test_joint_weights_and_the_codec_object():
    from hrseg.codecs.msra import HeatmapCodec

    rng = np.random.default_rng(5)
    joints, vis = _joints(rng, 3, 17, (192, 256))
    codec = HeatmapCodec((256, 192), (64, 48), 2.0, use_different_joints_weight=True)
    target, weight = codec_targets(codec, torch.from_numpy(joints), torch.from_numpy(vis[..., None]), JOINT_WEIGHTS)
    for i in range(3):
        want_t, want_w = codec.encode(joints[i], vis[i], JOINT_WEIGHTS)
        np.testing.assert_allclose(target[i].numpy(), want_t, rtol=0, atol=1e-6)
        np.testing.assert_allclose(weight[i].numpy(), want_w, rtol=0, atol=0)
    assert weight.max() > 1  # the official per-joint multipliers (1.5 for some joints)


def test_worker_without_targets_and_device_targets_from_the_batch(shared_data: Path):
    mini = shared_data / "coco_mini"
    kwargs = dict(input_size=(128, 96), heatmap_size=(32, 24), sigma=1.0, img_ids=[785, 790], seed=3)
    drawn = CocoPoseDataset(mini / "person_keypoints.json", mini / "images", train=True, **kwargs)
    bare = CocoPoseDataset(mini / "person_keypoints.json", mini / "images", train=True, **kwargs)
    bare.draw_targets = False
    full = pose_collate([drawn[i] for i in range(len(drawn))])
    light = pose_collate([bare[i] for i in range(len(bare))])
    assert "target" not in light and "target_weight" not in light
    assert torch.equal(full["image"], light["image"])  # the same crops and augmentation
    for device in DEVICES:
        meta = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in light["meta"].items()}
        target, weight = bare.device_targets(meta)
        torch.testing.assert_close(target.cpu(), full["target"], rtol=0, atol=1e-6)
        assert torch.equal(weight.cpu(), full["target_weight"])
    bare.set_stage((64, 48))  # a progressive stage: the rescaled codec's targets
    drawn.set_stage((64, 48))
    small = pose_collate([drawn[i] for i in range(len(drawn))])
    bare_small = pose_collate([bare[i] for i in range(len(bare))])
    torch.testing.assert_close(bare.device_targets(bare_small["meta"])[0], small["target"], rtol=0, atol=1e-6)
