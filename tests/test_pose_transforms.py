"""Top-down pose transforms: the official affine crop, flips, half-body, augmentation ranges."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hrseg.meta.keypoints import FLIP_INDEX, FLIP_PAIRS, NUM_JOINTS
from hrseg.data.pose.transforms import (
    IMAGENET_MEAN, IMAGENET_STD, PoseAugment, affine_transform, box_to_center_scale,
    fliplr_joints, get_affine_transform, half_body_center_scale, normalize, photometric,
    top_down_crop, transform_joints, warp_crop,
)

SIZE = (192, 256)  # network input (w, h)
NO_AUG = dict(scale_factor=0.0, rotation_prob=0.0, half_body_prob=0.0, flip_prob=0.0)


def test_affine_matrix_by_hand():
    # a 200 px box (scale 1) onto a 200x200 output: a pure translation
    t = get_affine_transform(np.array([100.0, 50.0]), np.array([1.0, 1.0]), 0, (200, 200))
    np.testing.assert_allclose(t, [[1, 0, 0], [0, 1, 50]], atol=1e-5)
    # scale 2 (a 400 px box) onto 100 px: a quarter, centre to centre
    t = get_affine_transform(np.array([300.0, 200.0]), 2.0, 0, (100, 100))
    np.testing.assert_allclose(affine_transform([300.0, 200.0], t), [50, 50], atol=1e-4)
    np.testing.assert_allclose(t[:, :2], [[0.25, 0], [0, 0.25]], atol=1e-6)
    # rotation by +90 degrees: a point right of the centre goes above it in the output
    t = get_affine_transform(np.array([100.0, 100.0]), np.array([1.0, 1.0]), 90, (200, 200))
    np.testing.assert_allclose(affine_transform([150.0, 100.0], t), [100, 50], atol=1e-4)
    # inv is the inverse map
    c, s = np.array([321.5, 123.25]), np.array([1.7, 2.2])
    fwd = get_affine_transform(c, s, 33.0, SIZE)
    inv = get_affine_transform(c, s, 33.0, SIZE, inv=True)
    pts = np.array([[10.0, 20.0], [300.0, 41.5], [123.0, 456.0]])
    np.testing.assert_allclose(affine_transform(affine_transform(pts, fwd), inv), pts, atol=1e-3)


def test_box_to_center_scale_official_values():
    # the first person of image 785 after box cleaning; widened to w/h = 0.75, then 1.25x
    c, s = box_to_center_scale(280.79, 44.73, 217.7, 345.68, 192 / 256)
    np.testing.assert_allclose(c, [389.64, 217.57], atol=1e-3)
    np.testing.assert_allclose(s, [345.68 * 0.75 / 200 * 1.25, 345.68 / 200 * 1.25], rtol=1e-6)
    # a wide box keeps its width and grows in height
    c, s = box_to_center_scale(0, 0, 300, 100, 0.75, padding=1.0)
    np.testing.assert_allclose(s, [1.5, 2.0], rtol=1e-6)


def _dot_image(h: int, w: int, x: int, y: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[y, x] = 255
    return img


def test_dot_lands_where_the_matrix_says():
    # 90 degree rotation at scale 1 maps pixel centres onto pixel centres: the dot is exact
    img = _dot_image(300, 400, 230, 170)
    c, s = np.array([200.0, 150.0]), np.array([192 / 200, 256 / 200])
    t = get_affine_transform(c, s, 90, SIZE)
    crop = warp_crop(img, t, SIZE)
    yx = np.unravel_index(np.argmax(crop[:, :, 0]), crop.shape[:2])
    np.testing.assert_allclose(affine_transform([230.0, 170.0], t), [yx[1], yx[0]], atol=1e-3)

    # arbitrary rotation and zoom: the centroid of a smooth blob follows the matrix
    blob = np.zeros((300, 400), np.float32)
    blob[170, 230] = 1.0
    blob = cv2.GaussianBlur(blob, (0, 0), 3.0)
    img = np.repeat((blob / blob.max() * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    t = get_affine_transform(np.array([210.0, 160.0]), np.array([0.5, 0.66]), -37.0, SIZE)
    crop = warp_crop(img, t, SIZE)[:, :, 0].astype(np.float64)
    ys, xs = np.mgrid[: crop.shape[0], : crop.shape[1]]
    centroid = [(crop * xs).sum() / crop.sum(), (crop * ys).sum() / crop.sum()]
    np.testing.assert_allclose(affine_transform([230.0, 170.0], t), centroid, atol=0.1)


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    np.testing.assert_array_equal(img[:, ::-1][:, ::-1], img)
    joints = rng.uniform(0, 59, (NUM_JOINTS, 2)).astype(np.float32)
    vis = np.ones(NUM_JOINTS, np.float32)
    vis[[3, 8]] = 0
    j1, v1 = fliplr_joints(joints, vis, 60)
    j2, v2 = fliplr_joints(j1, v1, 60)
    np.testing.assert_allclose(j2, joints * vis[:, None], atol=1e-5)
    np.testing.assert_array_equal(v2, vis)
    # one flip: x -> W - x - 1 and left/right labels swapped
    np.testing.assert_allclose(j1[2], [60 - joints[1, 0] - 1, joints[1, 1]], atol=1e-5)
    assert v1[4] == 0 and v1[3] == 1 and v1[7] == 0 and v1[8] == 1
    assert list(FLIP_INDEX[:5]) == [0, 2, 1, 4, 3] and len(FLIP_PAIRS) == 8


def test_flipped_crop_keeps_image_and_joints_together():
    """A dot drawn at the left wrist is, after a flipped crop, where the right wrist label is."""
    img = _dot_image(300, 400, 250, 120)
    joints = np.zeros((NUM_JOINTS, 2), np.float32)
    vis = np.zeros(NUM_JOINTS, np.float32)
    joints[9], vis[9] = (250, 120), 1  # left wrist
    c, s = np.array([200.0, 150.0]), np.array([192 / 200, 256 / 200])  # scale 1: exact pixels
    out = top_down_crop(img, c, s, joints, vis, SIZE, np.random.default_rng(0),
                        PoseAugment(**{**NO_AUG, "flip_prob": 1.0}))
    assert out.flipped and out.joints_vis[10] == 1 and out.joints_vis[9] == 0
    yx = np.unravel_index(np.argmax(out.image[:, :, 0]), out.image.shape[:2])
    np.testing.assert_allclose(out.joints[10], [yx[1], yx[0]], atol=1e-3)
    assert out.center[0] == pytest.approx(400 - 200.0 - 1)


def test_visibility_follows_keypoints_leaving_the_crop():
    joints = np.array([[100.0, 100.0], [10.0, 100.0], [100.0, 199.0], [300.0, 5.0]] + [[0, 0]] * 13)
    vis = np.array([1, 1, 1, 1] + [0] * 13, np.float32)
    c, s = np.array([100.0, 100.0]), np.array([0.6, 0.8])  # crop covers x 40..160, y 20..180
    t = get_affine_transform(c, s, 0, SIZE)
    j, v = transform_joints(joints, vis, t, SIZE)
    assert list(v[:4]) == [1, 0, 0, 0] and v[4:].sum() == 0
    np.testing.assert_allclose(j[0], [96, 128], atol=1e-3)
    _, v_off = transform_joints(joints, vis, t, SIZE, clip_visibility=False)
    assert list(v_off[:4]) == [1, 1, 1, 1]
    # the same through the full crop, and a rotation that takes a joint out of the crop
    img = np.zeros((200, 200, 3), np.uint8)
    assert list(top_down_crop(img, c, s, joints, vis, SIZE).joints_vis[:4]) == [1, 0, 0, 0]
    edge = joints.copy()
    edge[1] = (100.0, 30.0)  # inside, near the top edge; rotating 90 degrees moves it out
    assert top_down_crop(img, c, s, edge, vis, SIZE).joints_vis[1] == 1
    t90 = get_affine_transform(c, s, 90, SIZE)
    assert transform_joints(edge, vis, t90, SIZE)[1][1] == 0


def test_half_body_official_rules():
    joints = np.zeros((NUM_JOINTS, 2), np.float32)
    joints[:11] = np.stack([np.linspace(100, 140, 11), np.linspace(50, 150, 11)], 1)
    joints[11:] = np.stack([np.linspace(100, 130, 6), np.linspace(160, 300, 6)], 1)
    vis = np.ones(NUM_JOINTS, np.float32)
    picks = set()
    for seed in range(20):
        c, s = half_body_center_scale(joints, vis, 0.75, np.random.default_rng(seed))
        picks.add(round(float(c[1])))
        # 1.5x the joints' box, widened to w/h 0.75
        upper = c[1] < 155
        pts = joints[:11] if upper else joints[11:]
        h = pts[:, 1].max() - pts[:, 1].min()
        np.testing.assert_allclose(s, [h * 0.75 / 200 * 1.5, h / 200 * 1.5], rtol=1e-5)
    assert picks == {100, 230}  # both halves occur
    # lower body with only 2 joints: the upper body is taken whatever the draw
    vis2 = vis.copy()
    vis2[13:] = 0
    for seed in range(5):
        c, _ = half_body_center_scale(joints, vis2, 0.75, np.random.default_rng(seed))
        assert c[1] == pytest.approx(100)
    # fewer than 2 labelled joints: no half body
    vis3 = np.zeros(NUM_JOINTS, np.float32)
    vis3[0] = 1
    assert half_body_center_scale(joints, vis3, 0.75, np.random.default_rng(0)) is None


def test_augmentation_ranges_and_determinism():
    img = np.zeros((64, 64, 3), np.uint8)
    joints = np.full((NUM_JOINTS, 2), 32.0, np.float32)
    vis = np.zeros(NUM_JOINTS, np.float32)  # no half body: scales stay comparable
    c, s = np.array([32.0, 32.0]), np.array([0.3, 0.4])
    aug = PoseAugment()
    size = (24, 32)
    scales, rots, flips = [], [], []
    for seed in range(400):
        out = top_down_crop(img, c, s, joints, vis, size, np.random.default_rng(seed), aug)
        scales.append(out.scale[0] / s[0])
        rots.append(out.rotation)
        flips.append(out.flipped)
    scales, rots = np.array(scales), np.array(rots)
    assert scales.min() >= 0.65 - 1e-6 and scales.max() <= 1.35 + 1e-6 and scales.std() > 0.2
    assert np.abs(rots).max() <= 90 and (rots != 0).mean() == pytest.approx(0.6, abs=0.08)
    assert np.mean(flips) == pytest.approx(0.5, abs=0.08)
    a = top_down_crop(img, c, s, joints, vis, size, np.random.default_rng(7), aug)
    b = top_down_crop(img, c, s, joints, vis, size, np.random.default_rng(7), aug)
    assert (a.rotation, a.flipped) == (b.rotation, b.flipped)
    np.testing.assert_array_equal(a.scale, b.scale)


def test_photometric_is_seeded_and_keeps_geometry():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)
    outs = [photometric(img, np.random.default_rng(s)) for s in (1, 1, 2, 3, 4, 5)]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert all(o.shape == img.shape and o.dtype == np.uint8 for o in outs)
    assert any(not np.array_equal(o, img) for o in outs)


def test_normalize_imagenet():
    img = np.full((4, 3, 3), 255, np.uint8)
    x = normalize(img)
    assert x.shape == (3, 4, 3) and x.dtype == torch.float32
    expected = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x[:, 0, 0].numpy(), expected, rtol=1e-6)
