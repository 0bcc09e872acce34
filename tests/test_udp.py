"""UDP (unbiased data processing, Huang et al. CVPR 2020) end to end: the crop matrix, the targets,
the DARK-UDP refinement against transcriptions of mmpose's functions; the round trip image ->
crop -> targets -> keypoints; the flip test without a shift; the published UDP files' settings."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrseg.codecs.heatmap import decode, encode, refine_dark_udp
from hrseg.codecs.heatmap_torch import batch_targets
from hrseg.codecs.msra import HeatmapCodec
from hrseg.data.pose.transforms import fliplr_joints, top_down_crop
from hrseg.errors import ConfigError
from hrseg.geometry import affine_transform, get_affine_transform, get_udp_affine_transform
from hrseg.meta.keypoints import FLIP_PAIRS
from hrseg.tasks.pose import TASK
from hrseg.weights import get_weights

IN, HM = (192, 256), (48, 64)  # (w, h)


# -- transcriptions of mmpose's functions (the oracle; mmpose/codecs/utils, structures/bbox) ------------
def _mmpose_udp_warp_matrix(center, scale, rot, output_size):
    input_size = center * 2
    rot_rad = np.deg2rad(rot)
    warp_mat = np.zeros((2, 3), dtype=np.float32)
    scale_x = (output_size[0] - 1) / scale[0]
    scale_y = (output_size[1] - 1) / scale[1]
    warp_mat[0, 0] = math.cos(rot_rad) * scale_x
    warp_mat[0, 1] = -math.sin(rot_rad) * scale_x
    warp_mat[0, 2] = scale_x * (-0.5 * input_size[0] * math.cos(rot_rad) + 0.5 * input_size[1] * math.sin(rot_rad)
                                + 0.5 * scale[0])
    warp_mat[1, 0] = math.sin(rot_rad) * scale_y
    warp_mat[1, 1] = math.cos(rot_rad) * scale_y
    warp_mat[1, 2] = scale_y * (-0.5 * input_size[0] * math.sin(rot_rad) - 0.5 * input_size[1] * math.cos(rot_rad)
                                + 0.5 * scale[1])
    return warp_mat


def _mmpose_udp_heatmaps(heatmap_size, keypoints, keypoints_visible, sigma):
    N, K, _ = keypoints.shape
    W, H = heatmap_size
    heatmaps = np.zeros((K, H, W), dtype=np.float32)
    keypoint_weights = keypoints_visible.copy()
    radius = sigma * 3
    gaussian_size = 2 * radius + 1
    x = np.arange(0, gaussian_size, 1, dtype=np.float32)
    y = x[:, None]
    for n in range(N):
        for k in range(K):
            if keypoints_visible[n, k] < 0.5:
                continue
            mu = (keypoints[n, k] + 0.5).astype(np.int64)
            left, top = (mu - radius).astype(np.int64)
            right, bottom = (mu + radius + 1).astype(np.int64)
            if left >= W or top >= H or right < 0 or bottom < 0:
                keypoint_weights[n, k] = 0
                continue
            mu_ac = keypoints[n, k]
            x0 = y0 = gaussian_size // 2
            x0 += mu_ac[0] - mu[0]
            y0 += mu_ac[1] - mu[1]
            gaussian = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2))
            g_x1, g_x2 = max(0, -left), min(W, right) - left
            g_y1, g_y2 = max(0, -top), min(H, bottom) - top
            h_x1, h_x2 = max(0, left), min(W, right)
            h_y1, h_y2 = max(0, top), min(H, bottom)
            region = heatmaps[k, h_y1:h_y2, h_x1:h_x2]
            np.maximum(region, gaussian[g_y1:g_y2, g_x1:g_x2], out=region)
    return heatmaps, keypoint_weights


def _mmpose_blur(heatmaps, kernel):
    import cv2

    border = (kernel - 1) // 2
    K, H, W = heatmaps.shape
    for k in range(K):
        origin_max = np.max(heatmaps[k])
        dr = np.zeros((H + 2 * border, W + 2 * border), dtype=np.float32)
        dr[border:-border, border:-border] = heatmaps[k].copy()
        dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
        heatmaps[k] = dr[border:-border, border:-border].copy()
        heatmaps[k] *= origin_max / np.max(heatmaps[k])
    return heatmaps


def _mmpose_refine_dark_udp(keypoints, heatmaps, blur_kernel_size):
    N, K = keypoints.shape[:2]
    H, W = heatmaps.shape[1:]
    heatmaps = _mmpose_blur(heatmaps, blur_kernel_size)
    np.clip(heatmaps, 1e-3, 50., heatmaps)
    np.log(heatmaps, heatmaps)
    heatmaps_pad = np.pad(heatmaps, ((0, 0), (1, 1), (1, 1)), mode="edge").flatten()
    for n in range(N):
        index = keypoints[n, :, 0] + 1 + (keypoints[n, :, 1] + 1) * (W + 2)
        index += (W + 2) * (H + 2) * np.arange(0, K)
        index = index.astype(int).reshape(-1, 1)
        i_ = heatmaps_pad[index]
        ix1 = heatmaps_pad[index + 1]
        iy1 = heatmaps_pad[index + W + 2]
        ix1y1 = heatmaps_pad[index + W + 3]
        ix1_y1_ = heatmaps_pad[index - W - 3]
        ix1_ = heatmaps_pad[index - 1]
        iy1_ = heatmaps_pad[index - 2 - W]
        dx = 0.5 * (ix1 - ix1_)
        dy = 0.5 * (iy1 - iy1_)
        derivative = np.concatenate([dx, dy], axis=1).reshape(K, 2, 1)
        dxx = ix1 - 2 * i_ + ix1_
        dyy = iy1 - 2 * i_ + iy1_
        dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
        hessian = np.concatenate([dxx, dxy, dxy, dyy], axis=1).reshape(K, 2, 2)
        hessian = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2))
        keypoints[n] -= np.einsum("imn,ink->imk", hessian, derivative).squeeze()
    return keypoints


# -- the pieces against mmpose's -------------------------------------------------------------------
def test_udp_crop_matrix_is_mmposes_and_inverts():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c, s = rng.uniform(50, 600, 2), rng.uniform(0.3, 3.0, 2)
        rot = float(rng.uniform(-90, 90))
        ours = get_udp_affine_transform(c, s, rot, IN)
        np.testing.assert_allclose(ours, _mmpose_udp_warp_matrix(c, s * 200, rot, IN), rtol=1e-6, atol=1e-4)
        back = get_udp_affine_transform(c, s, rot, IN, inv=True)
        pts = rng.uniform(0, 200, (5, 2))
        np.testing.assert_allclose(affine_transform(affine_transform(pts, ours), back), pts, atol=2e-3)
    # the box's edges land on the first and last pixel centres; the official crop maps them to 0 and w
    c, s = np.array([100.0, 200.0]), np.array([0.96, 1.28])
    edges = np.array([[100 - 96, 200 - 128], [100 + 96, 200 + 128]])
    np.testing.assert_allclose(affine_transform(edges, get_udp_affine_transform(c, s, 0, IN)), [[0, 0], [191, 255]],
                               atol=1e-4)
    np.testing.assert_allclose(affine_transform(edges, get_affine_transform(c, s, 0, IN)), [[0, 0], [192, 256]],
                               atol=1e-3)


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_udp_targets_are_mmposes(sigma):
    """Bit for bit up to float rounding, on 300 random 17-joint samples (joints near and past the
    edges included); mmpose encodes ``keypoints / scale_factor`` with a float32 stride."""
    in_size, hm_size = ((192, 256), (48, 64)) if sigma == 2 else ((288, 384), (72, 96))
    stride = ((np.array(in_size) - 1) / (np.array(hm_size) - 1)).astype(np.float32)
    rng = np.random.default_rng(1)
    for _ in range(300):
        joints = rng.uniform(-40, np.array(in_size) + 40, (17, 2)).astype(np.float32)
        vis = (rng.random(17) > 0.2).astype(np.float32)
        target, weight = encode(joints, vis, in_size, hm_size, sigma, udp=True)
        want, want_w = _mmpose_udp_heatmaps(hm_size, (joints / stride)[None], vis[None], sigma)
        np.testing.assert_allclose(target, want, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(weight[:, 0], want_w[0])


@pytest.mark.parametrize("sigma", [0.75, 1.125, 2.625])
def test_udp_peak_on_the_joint_whatever_sigma(sigma):
    """mmpose's window arithmetic (a float radius) puts the Gaussian a cell off for non-integer
    3 sigma, as its MSRA codec's; here the Gaussian is at the exact position."""
    stride = (np.array(IN) - 1) / (np.array(HM) - 1)
    for cell in [(5.3, 6.7), (0.2, 0.4), (20.0, 30.4), (47.0, 63.0)]:
        joint = (np.array(cell) * stride).astype(np.float32)[None]
        target, weight = encode(joint, np.ones(1), IN, HM, sigma, udp=True)
        assert weight[0, 0] == 1
        y, x = np.unravel_index(target[0].argmax(), target[0].shape)
        assert (x, y) == (int(cell[0] + 0.5), int(cell[1] + 0.5))
        # the Gaussian's centre, from the log-ratio of the neighbours, is the exact position
        if 0 < x < HM[0] - 1:
            right, left = np.log(target[0, y, [x + 1, x - 1]].astype(np.float64))
            assert x + (right - left) * sigma ** 2 / 2 == pytest.approx(joint[0, 0] / stride[0], abs=2e-3)


def test_udp_device_targets_equal_the_codec():
    rng = np.random.default_rng(2)
    joints = rng.uniform(-20, 210, (6, 17, 2)).astype(np.float32)
    vis = (rng.random((6, 17)) > 0.2).astype(np.float32)
    for sigma in (2.0, 1.125):
        got, got_w = batch_targets(torch.from_numpy(joints), torch.from_numpy(vis), IN, HM, sigma, udp=True)
        for i in range(6):
            want, want_w = encode(joints[i], vis[i], IN, HM, sigma, udp=True)
            np.testing.assert_allclose(got[i].numpy(), want, rtol=0, atol=1e-6)
            np.testing.assert_array_equal(got_w[i].numpy(), want_w)


def test_dark_udp_refinement_is_mmposes():
    """The same refinement as mmpose's, peaks on the border included (they move half a cell
    outward: the edge padding, as mmpose's); an empty map stays finite (mmpose's blur divides 0 by 0)."""
    rng = np.random.default_rng(3)
    stride = (np.array(IN) - 1) / (np.array(HM) - 1)
    joints = rng.uniform(8 * stride, (np.array(HM) - 9) * stride, (4, 17, 2)).astype(np.float32)
    joints[0, :3] = [[0, 0], [191, 255], [1, 254]]
    heatmaps = np.stack([encode(j, np.ones(17), IN, HM, 2.0, udp=True)[0] for j in joints])
    heatmaps = heatmaps + rng.uniform(0, 0.02, heatmaps.shape).astype(np.float32)
    heatmaps[1, 5] = 0
    coords = np.stack(np.unravel_index(heatmaps.reshape(4, 17, -1).argmax(-1), HM[::-1])[::-1], -1).astype(np.float32)
    ours = refine_dark_udp(coords, heatmaps, 11)
    with np.errstate(invalid="ignore"):
        want = np.stack([_mmpose_refine_dark_udp(coords[i:i + 1].copy(), heatmaps[i].copy(), 11)[0] for i in range(4)])
    finite = np.isfinite(want).all(-1)
    assert finite.sum() == 4 * 17 - 1 and np.isfinite(ours).all()
    np.testing.assert_allclose(ours[finite], want[finite], atol=1e-3)
    np.testing.assert_allclose(ours[0, :3], [[-0.5, -0.5], [47.5, 63.5], [-0.5, 63.5]], atol=2e-3)
    inside = finite.copy()
    inside[0, :3] = False  # away from the borders the refinement finds the joints to a tenth of a cell
    assert np.abs(ours - joints / stride)[inside].max() < 0.1


# -- the whole of it ---------------------------------------------------------------------------------------
def _round_trip(udp: bool, decoder: str, rng: np.random.Generator) -> np.ndarray:
    """Image joints -> the crop (no augmentation) -> targets -> decoded back to the image."""
    codec = HeatmapCodec((256, 192), (64, 48), 2.0, decoder=decoder, udp=udp)
    image = np.zeros((480, 640, 3), np.uint8)
    center, scale = np.array([300.0, 240.0], np.float32), np.array([1.2, 1.6], np.float32)
    joints = rng.uniform([200, 120], [400, 360], (17, 2)).astype(np.float32)
    crop = top_down_crop(image, center, scale, joints, np.ones(17), (192, 256), udp=udp)
    target, _ = codec.encode(crop.joints, crop.joints_vis, np.ones(17))
    preds, _ = codec.decode(target[None], center[None], scale[None])
    return preds[0] - joints


def test_udp_round_trip_is_unbiased():
    """A perfect network's heatmaps decode to the joints: UDP + DARK-UDP within 0.05 image px (the
    crop is 1.25 image px a crop pixel, 5 a heatmap cell; measured 0.041), no bias; the official
    pipeline's argmax with the quarter offset is off by up to 2.5 px (measured 2.49, 1.26 on average)."""
    rng = np.random.default_rng(4)
    udp = np.concatenate([_round_trip(True, "dark", rng) for _ in range(10)])
    official = np.concatenate([_round_trip(False, "argmax", rng) for _ in range(10)])
    assert np.abs(udp).max() < 0.05 and np.abs(udp.mean(0)).max() < 0.01
    assert np.abs(official).max() > 2.0 and np.abs(official).mean() > 1.0


def test_udp_flip_needs_no_shift():
    """Mirroring a UDP crop (x -> w - 1 - x, as the training flip) mirrors its targets exactly: the
    flip test's mirrored heatmaps line up unshifted (test.shift_heatmap=False)."""
    rng = np.random.default_rng(5)
    joints = rng.uniform(10, 180, (17, 2)).astype(np.float32)
    target, _ = encode(joints, np.ones(17), IN, HM, 2.0, udp=True)
    mirrored, vis = fliplr_joints(joints, np.ones(17), IN[0], FLIP_PAIRS)
    flipped, _ = encode(mirrored, vis, IN, HM, 2.0, udp=True)
    back = flipped[:, :, ::-1].copy()
    for a, b in FLIP_PAIRS:
        back[[a, b]] = back[[b, a]]
    np.testing.assert_allclose(back, target, atol=1e-5)  # 191 - x in float32
    # the official encoding (stride 4 over w, not w - 1) is a cell off when mirrored: what its shift makes up for
    cells = (4 * rng.integers(3, 44, (17, 2))).astype(np.float32)
    mirrored, vis = fliplr_joints(cells, np.ones(17), IN[0], FLIP_PAIRS)
    official, _ = encode(cells, np.ones(17), IN, HM, 2.0)
    back = encode(mirrored, vis, IN, HM, 2.0)[0][:, :, ::-1].copy()
    for a, b in FLIP_PAIRS:
        back[[a, b]] = back[[b, a]]
    assert np.abs(back - official).max() > 0.1  # a cell off: exp(-1 / 8) against 1 at the peak
    shifted = back.copy()
    shifted[:, :, 1:] = back[:, :, :-1]  # pose_postprocess.flip_test's shift_heatmap (column 0 kept)
    np.testing.assert_allclose(shifted[:, :, 1:], official[:, :, 1:], atol=1e-6)


def test_decode_udp_inverts_udp_crops_of_any_box():
    rng = np.random.default_rng(6)
    """Keypoints decoded to the image go back through the crop to their heatmap cells (joints 8 or
    more cells inside the map, where the targets' Gaussians are whole)."""
    rng = np.random.default_rng(6)
    stride = (np.array(IN) - 1) / (np.array(HM) - 1)
    centers, scales = rng.uniform(100, 500, (3, 2)), rng.uniform(0.5, 2, (3, 2))
    cells = rng.uniform(8, np.array(HM) - 9, (3, 17, 2))
    heatmaps = np.stack([encode(c * stride, np.ones(17), IN, HM, 2.0, udp=True)[0] for c in cells])
    preds, _ = decode(heatmaps, centers, scales, "dark", 11, udp=True)
    for i in range(3):
        crop_pts = affine_transform(preds[i], get_udp_affine_transform(centers[i], scales[i], 0, IN))
        np.testing.assert_allclose(crop_pts / stride, cells[i], atol=0.05)


# -- configs and the published files --------------------------------------------------------------------
def test_udp_config_checks():
    """A codec setting that cannot work is an error when the config is read (``--dry-run`` included)."""
    with pytest.raises(ConfigError, match="shift_heatmap=False"):
        TASK.load_config(None, ["data.udp=True"])
    with pytest.raises(ConfigError, match="unbiased_encoding must be false"):
        TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "data.unbiased_encoding=True"])
    with pytest.raises(ConfigError, match="positive odd"):
        TASK.load_config(None, ["test.blur_kernel=10"])
    cfg = TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "test.decoder=dark"])
    codec = HeatmapCodec.from_config(cfg)
    assert codec.udp and codec.blur_kernel == 11 and codec.rescaled((384, 288)).blur_kernel == 17


@pytest.mark.parametrize("name, kernel", [("pose_hrnet_w32.mmpose1x_coco_256x192_udp", 11),
                                          ("pose_hrnet_w48.mmpose1x_coco_384x288_udp", 11),
                                          ("pose_hrnet_w32.mmpose0x_coco_384x288_udp", 17)])
def test_published_udp_files_are_udp_end_to_end(name, kernel):
    record = get_weights(name)
    cfg = TASK.config_for_record(record, None)
    codec = HeatmapCodec.from_config(cfg)
    assert codec.udp and codec.decoder == "dark" and not cfg["test"]["shift_heatmap"]
    assert codec.blur_kernel == kernel and list(codec.input_size) == record.meta["input_size"]
    plain = HeatmapCodec.from_config(TASK.config_for_record(get_weights(name.replace("_udp", "")), None))
    assert not plain.udp and plain.decoder == "argmax"


def test_real_coco_ground_truth_round_trip_udp(shared_data, tmp_path):
    """The codec check of tests/test_heatmap_codec.py (coco_mini's 201 people, GT boxes, 256x192, 64x48,
    sigma 2) through UDP's crop, targets and DARK-UDP decoding: the targets' quantisation is gone, so
    AP is that of unbiased DARK (measured 0.963; official argmax 0.953, unbiased DARK 0.962)."""
    from hrseg.data.pose.coco_keypoints import CocoKeypoints
    from hrseg.data.pose.transforms import transform_joints
    from hrseg.evaluation.coco_keypoints import evaluate_keypoints
    from hrseg.inference.pose_postprocess import pose_results, write_keypoint_results

    ann = shared_data / "coco_mini" / "person_keypoints.json"
    adapter = CocoKeypoints(ann, shared_data / "coco_mini" / "images", IN[::-1])
    people = adapter.gt_instances()
    centers, scales = np.stack([p.center for p in people]), np.stack([p.scale for p in people])
    figures = {}
    for udp, decoder in ((False, "argmax"), (True, "dark")):
        codec = HeatmapCodec((256, 192), (64, 48), 2.0, decoder=decoder, udp=udp)
        heatmaps = []
        for p in people:
            joints, vis = transform_joints(p.joints, p.joints_vis, codec.crop_transform(p.center, p.scale), IN)
            heatmaps.append(codec.encode(joints, vis, np.ones(17))[0])
        preds, maxvals = codec.decode(np.stack(heatmaps), centers, scales)
        results = pose_results(preds, maxvals, [p.image_id for p in people], centers, scales, [p.score for p in people])
        path = write_keypoint_results(tmp_path / f"{decoder}.json", results)
        figures[udp] = evaluate_keypoints(adapter.coco, path, verbose=False)["AP"]
    print("\nUDP codec round-trip keypoint AP:", figures)
    assert figures[True] >= 0.96 and figures[True] > figures[False] + 0.005


def test_a_udp_file_predicts_through_udp_end_to_end(publish_as, shared_data):
    """Published UDP weights by name (a small model served under a UDP record's name): the predictor
    crops with UDP's matrix, flip-tests without the shift and decodes with DARK-UDP, as a by-hand
    pipeline; the same weights through the official codec give other keypoints."""
    import hrseg
    from hrseg.codecs.heatmap import decode as decode_heatmaps
    from hrseg.geometry import box_to_center_scale, warp_crop
    from hrseg.inference.pose_postprocess import flip_test
    from hrseg.utils.image import normalize
    from hrseg.utils.image_io import read_image

    record = publish_as(hrseg.build_model("pose_hrnet_w18_small_v1"), "pose_hrnet_w32.mmpose1x_coco_256x192_udp",
                        "pose_hrnet_w18_small_v1")
    model, cfg = TASK.load_model(record.name)
    assert cfg["data"]["udp"] and not cfg["test"]["shift_heatmap"] and cfg["test"]["decoder"] == "dark"

    image = read_image(shared_data / "coco_mini" / "images" / "000000000785.jpg")
    box = [280.0, 40.0, 150.0, 330.0]
    predictor = TASK.predictor(model, cfg, person_detector=lambda img: [box + [1.0]])
    assert predictor.describe()["codec"] == "udp"
    got = np.array([v[:2] for v in predictor.predict(image)[0]["keypoints"].values()])

    center, scale = box_to_center_scale(*box, 192 / 256)
    crop = normalize(warp_crop(image, get_udp_affine_transform(center, scale, 0, IN), IN))[None]
    with torch.no_grad():
        heatmaps = flip_test(model.eval(), crop, FLIP_PAIRS, shift_heatmap=False)
    want, _ = decode_heatmaps(heatmaps, center[None], scale[None], "dark", 11, udp=True)
    np.testing.assert_allclose(got, want[0], atol=0.05)

    official = dict(cfg, data=dict(cfg["data"], udp=False), test=dict(cfg["test"], shift_heatmap=True))
    other = TASK.predictor(model, official, person_detector=lambda img: [box + [1.0]]).predict(image)[0]
    assert np.abs(np.array([v[:2] for v in other["keypoints"].values()]) - got).max() > 0.5


def test_the_users_options_win_over_a_records_settings():
    """--cfg-options go over what a published file's record sets (its decoder, blur kernel), as for
    segmentation's records."""
    cfg = TASK.config_for_record(get_weights("pose_hrnet_w48.mmpose1x_coco_384x288_udp"),
                                 ["test.decoder=argmax", "test.blur_kernel=17"])
    assert cfg["data"]["udp"] and cfg["test"]["decoder"] == "argmax" and cfg["test"]["blur_kernel"] == 17
    dark = TASK.config_for_record(get_weights("pose_hrnet_w32.mmpose1x_coco_256x192_dark"), ["test.decoder=none"])
    assert dark["test"]["decoder"] == "none" and not dark["data"]["udp"]
