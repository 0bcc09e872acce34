"""UDP's combined maps (the ``udp_regress`` recipes: a disk and two offset maps per joint) against
transcriptions of mmpose's functions: the targets (1.x ``generate_offset_heatmap``), the decoding
(1.x ``UDPHeatmap.decode``, 0.x ``keypoints_from_heatmaps``), the flip (``flip_heatmaps(...,
'udp_combined')``), the loss (``CombinedTargetMSELoss``); the device targets against the codec; the
round trip image -> crop -> maps -> keypoints; the published files' settings and a file of their
kind through the task's predictor."""
from __future__ import annotations

from itertools import product

import cv2
import numpy as np
import pytest
import torch

import hrseg
from hrseg.codecs.combined import decode_combined, encode_combined
from hrseg.codecs.heatmap import udp_stride
from hrseg.codecs.heatmap_torch import codec_targets
from hrseg.codecs.msra import HeatmapCodec
from hrseg.errors import ConfigError
from hrseg.geometry import affine_transform, box_to_center_scale, get_udp_affine_transform, warp_crop
from hrseg.inference.pose_postprocess import flip_back, flip_test
from hrseg.losses.keypoint import CombinedTargetMSELoss, keypoint_loss
from hrseg.meta.keypoints import FLIP_PAIRS, flip_index
from hrseg.tasks.pose import TASK
from hrseg.utils.image import normalize
from hrseg.utils.image_io import read_image
from hrseg.weights import get_weights

IN, HM = (192, 256), (48, 64)  # (w, h)
RADIUS_FACTOR = 0.0546875


# -- transcriptions of mmpose's functions (the oracle) ---------------------------------------------------
def _mmpose_offset_heatmap(heatmap_size, keypoints, keypoints_visible, radius_factor):
    """mmpose 1.x ``codecs/utils/offset_heatmap.py::generate_offset_heatmap``."""
    N, K, _ = keypoints.shape
    W, H = heatmap_size
    heatmaps = np.zeros((K, 3, H, W), dtype=np.float32)
    keypoint_weights = keypoints_visible.copy()
    x = np.arange(0, W, 1)
    y = np.arange(0, H, 1)[:, None]
    radius = radius_factor * max(W, H)
    for n, k in product(range(N), range(K)):
        if keypoints_visible[n, k] < 0.5:
            continue
        mu = keypoints[n, k]
        x_offset = (mu[0] - x) / radius
        y_offset = (mu[1] - y) / radius
        heatmaps[k, 0] = np.where(x_offset ** 2 + y_offset ** 2 <= 1, 1., 0.)
        heatmaps[k, 1] = x_offset
        heatmaps[k, 2] = y_offset
    return heatmaps.reshape(K * 3, H, W), keypoint_weights


def _mmpose_heatmap_maximum(heatmaps):
    """mmpose 1.x ``get_heatmap_maximum`` for (K, H, W)."""
    K, H, W = heatmaps.shape
    flat = heatmaps.reshape(K, -1)
    x_locs, y_locs = np.unravel_index(np.argmax(flat, axis=1), shape=(H, W))
    locs = np.stack((y_locs, x_locs), axis=-1).astype(np.float32)
    vals = np.amax(flat, axis=1)
    locs[vals <= 0.] = -1
    return locs, vals


def _mmpose1x_decode(encoded, blur_kernel_size=11, radius_factor=RADIUS_FACTOR):
    """mmpose 1.x ``UDPHeatmap.decode``, combined branch, up to the heatmap coordinates."""
    heatmaps = encoded.copy()
    _K, H, W = heatmaps.shape
    K = _K // 3
    for cls_heatmap in heatmaps[::3]:
        ks = 2 * blur_kernel_size + 1
        cv2.GaussianBlur(cls_heatmap, (ks, ks), 0, cls_heatmap)
    radius = radius_factor * max(W, H)
    x_offset = heatmaps[1::3].flatten() * radius
    y_offset = heatmaps[2::3].flatten() * radius
    keypoints, scores = _mmpose_heatmap_maximum(heatmaps[::3])
    index = (keypoints[..., 0] + keypoints[..., 1] * W).flatten()
    index += W * H * np.arange(0, K)
    index = index.astype(int)
    keypoints += np.stack((x_offset[index], y_offset[index]), axis=-1)
    return keypoints.astype(np.float32), scores


def _mmpose0x_decode(heatmaps, kernel=11, valid_radius_factor=RADIUS_FACTOR):
    """mmpose 0.x ``keypoints_from_heatmaps(use_udp=True, target_type='CombinedTarget')`` up to the heatmap
    coordinates (its ``_get_max_preds`` as 1.x's maximum)."""
    heatmaps = heatmaps.copy()
    N, K, H, W = heatmaps.shape
    for person_heatmaps in heatmaps:
        for i, heatmap in enumerate(person_heatmaps):
            kt = 2 * kernel + 1 if i % 3 == 0 else kernel
            cv2.GaussianBlur(heatmap, (kt, kt), 0, heatmap)
    valid_radius = valid_radius_factor * H
    offset_x = heatmaps[:, 1::3, :].flatten() * valid_radius
    offset_y = heatmaps[:, 2::3, :].flatten() * valid_radius
    heatmaps = heatmaps[:, ::3, :]
    preds = np.stack([_mmpose_heatmap_maximum(h)[0] for h in heatmaps])
    maxvals = np.stack([_mmpose_heatmap_maximum(h)[1] for h in heatmaps])[..., None]
    index = (preds[..., 0] + preds[..., 1] * W).flatten()
    index += W * H * np.arange(0, N * K / 3)
    index = index.astype(int).reshape(N, K // 3, 1)
    preds += np.concatenate((offset_x[index], offset_y[index]), axis=2)
    return preds, maxvals


def _mmpose_flip_udp_combined(heatmaps, flip_indices):
    """mmpose 1.x ``flip_heatmaps(..., flip_mode='udp_combined', shift_heatmap=False)``."""
    B, C, H, W = heatmaps.shape
    heatmaps = heatmaps.view(B, C // 3, 3, H, W)
    heatmaps = heatmaps.flip(-1)
    heatmaps = heatmaps[:, flip_indices]
    heatmaps[:, :, 1] = -heatmaps[:, :, 1]
    return heatmaps.view(B, C, H, W)


def _mmpose_combined_loss(output, target, target_weight, use_target_weight=True):
    """mmpose ``CombinedTargetMSELoss`` (0.x and 1.x)."""
    criterion = torch.nn.MSELoss(reduction="mean")
    batch_size, num_channels = output.shape[:2]
    heatmaps_pred = output.reshape((batch_size, num_channels, -1)).split(1, 1)
    heatmaps_gt = target.reshape((batch_size, num_channels, -1)).split(1, 1)
    loss = 0.
    num_joints = num_channels // 3
    for idx in range(num_joints):
        heatmap_pred, heatmap_gt = heatmaps_pred[idx * 3].squeeze(), heatmaps_gt[idx * 3].squeeze()
        offset_x_pred, offset_x_gt = heatmaps_pred[idx * 3 + 1].squeeze(), heatmaps_gt[idx * 3 + 1].squeeze()
        offset_y_pred, offset_y_gt = heatmaps_pred[idx * 3 + 2].squeeze(), heatmaps_gt[idx * 3 + 2].squeeze()
        if use_target_weight:
            heatmap_pred = heatmap_pred * target_weight[:, idx]
            heatmap_gt = heatmap_gt * target_weight[:, idx]
        loss += 0.5 * criterion(heatmap_pred, heatmap_gt)
        loss += 0.5 * criterion(heatmap_gt * offset_x_pred, heatmap_gt * offset_x_gt)
        loss += 0.5 * criterion(heatmap_gt * offset_y_pred, heatmap_gt * offset_y_gt)
    return loss / num_joints


def _joints(rng, n=17, margin=20.0):
    joints = rng.uniform([-margin, -margin], [IN[0] + margin, IN[1] + margin], (n, 2)).astype(np.float32)
    return joints, (rng.random(n) > 0.2).astype(np.float32)


def _codec(**options) -> HeatmapCodec:
    return HeatmapCodec((IN[1], IN[0]), (HM[1], HM[0]), udp=True, heatmap_type="combined", **options)


# -- the pieces against mmpose's -------------------------------------------------------------------------
def test_combined_targets_are_mmposes():
    rng = np.random.default_rng(0)
    for _ in range(100):
        joints, vis = _joints(rng)
        got, weight = encode_combined(joints, vis, IN, HM)
        want, want_weight = _mmpose_offset_heatmap(HM, (joints / udp_stride(IN, HM))[None], vis[None], RADIUS_FACTOR)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(weight[:, 0], want_weight[0])
    assert got.shape == (51, 64, 48) and got[0::3].max() == 1 and set(np.unique(got[0::3])) <= {0.0, 1.0}


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_combined_device_targets_equal_the_codec(device):
    rng = np.random.default_rng(1)
    samples = [_joints(rng) for _ in range(8)]
    joints = torch.from_numpy(np.stack([s[0] for s in samples])).to(device)
    vis = torch.from_numpy(np.stack([s[1] for s in samples])).to(device)
    for weighted in (False, True):
        codec = _codec(use_different_joints_weight=weighted)
        joint_weights = np.linspace(1.0, 1.5, 17)
        target, weight = codec_targets(codec, joints, vis, joint_weights)
        for i, (j, v) in enumerate(samples):
            want, want_weight = codec.encode(j, v, joint_weights)
            np.testing.assert_allclose(target[i].cpu().numpy(), want, atol=1e-6, rtol=0)
            np.testing.assert_allclose(weight[i].cpu().numpy(), want_weight, atol=1e-6, rtol=0)


def _noisy_maps(rng, n=3):
    """Combined targets of random people plus noise (every disk's maximum positive after the blur)."""
    maps = np.stack([encode_combined(*_joints(rng, margin=0.0), IN, HM)[0] for _ in range(n)])
    return (maps + rng.normal(0, 0.05, maps.shape).astype(np.float32) + np.float32(0.01)).astype(np.float32)


def test_combined_decoding_is_mmpose_1x_and_0x():
    rng = np.random.default_rng(2)
    maps = _noisy_maps(rng)
    coords, scores = decode_combined(maps, blur=11)
    for i in range(len(maps)):
        want, want_scores = _mmpose1x_decode(maps[i])
        np.testing.assert_allclose(coords[i], want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(scores[i, :, 0], want_scores, atol=1e-6, rtol=0)
    coords0, scores0 = decode_combined(maps, blur=11, offset_blur=11)
    want0, want_scores0 = _mmpose0x_decode(maps)
    np.testing.assert_allclose(coords0, want0, atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores0, want_scores0, atol=1e-6, rtol=0)
    assert np.abs(coords0 - coords).max() > 1e-3  # the offsets' blur is not nothing


def test_combined_flip_is_mmposes_and_undoes_itself():
    maps = torch.from_numpy(_noisy_maps(np.random.default_rng(3)))
    got = flip_back(maps, FLIP_PAIRS, maps_per_joint=3)
    torch.testing.assert_close(got, _mmpose_flip_udp_combined(maps.clone(), flip_index(FLIP_PAIRS, 17)))
    torch.testing.assert_close(flip_back(got, FLIP_PAIRS, maps_per_joint=3), maps)


@pytest.mark.parametrize("weighted", [True, False])
def test_combined_loss_is_mmposes(weighted):
    g = torch.Generator().manual_seed(0)
    output, target = torch.randn(4, 51, 16, 12, generator=g), torch.rand(4, 51, 16, 12, generator=g)
    weight = (torch.rand(4, 17, 1, generator=g) > 0.3).float()
    torch.testing.assert_close(CombinedTargetMSELoss(weighted)(output, target, weight),
                               _mmpose_combined_loss(output, target, weight, weighted))
    assert isinstance(keypoint_loss({"type": "mse", "use_target_weight": True}, 3), CombinedTargetMSELoss)
    with pytest.raises(ConfigError, match="loss.type"):
        keypoint_loss({"type": "ohkm", "use_target_weight": True, "topk": 8}, 3)


def test_perfect_combined_maps_decode_to_the_joints():
    """Image joints -> UDP crop -> combined targets -> the codec's decoding -> image pixels, for boxes of
    any shape: back within a thousandth of a pixel (the joints inside the crop). A joint's score is its
    blurred disk's maximum (about 0.35 for a perfect disk, as mmpose's), above the rescoring's 0.2."""
    rng = np.random.default_rng(4)
    codec = _codec()
    for _ in range(20):
        x, y, w, h = rng.uniform(0, 300), rng.uniform(0, 300), rng.uniform(40, 400), rng.uniform(40, 400)
        center, scale = box_to_center_scale(x, y, w, h, IN[0] / IN[1])
        image_joints = rng.uniform([x, y], [x + w, y + h], (17, 2))
        crop_joints = affine_transform(image_joints, get_udp_affine_transform(center, scale, 0, IN))
        maps, _ = codec.encode(crop_joints, np.ones(17), [1.0] * 17)
        got, scores = codec.decode(torch.from_numpy(maps[None]), center[None], scale[None])
        np.testing.assert_allclose(got[0], image_joints, atol=1e-3)
        assert 0.2 < scores.min() and scores.max() < 0.4


def test_combined_config_checks():
    with pytest.raises(ConfigError, match="data.udp=True"):
        TASK.load_config(None, ["data.heatmap_type=combined"])
    with pytest.raises(ConfigError, match="heatmap_type"):
        TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "data.heatmap_type=gauss"])
    with pytest.raises(ConfigError, match="offset_blur"):
        TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "data.heatmap_type=combined",
                                "test.offset_blur=4"])
    with pytest.raises(ConfigError, match="loss.type"):
        TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "data.heatmap_type=combined",
                                "loss.type=ohkm"])
    with pytest.raises(ConfigError, match="mixup"):
        TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "data.heatmap_type=combined",
                                "progressive.enabled=True", "progressive.mixup=[0.0,0.2]"])
    cfg = TASK.load_config(None, ["data.udp=True", "test.shift_heatmap=False", "data.heatmap_type=combined"])
    with torch.device("meta"):
        assert TASK.build_model(cfg).head.final_layer.out_channels == 51


@pytest.mark.parametrize("name, offset_blur", [("pose_hrnet_w32.mmpose1x_coco_256x192_udp_regress", 0),
                                               ("pose_hrnet_w32.mmpose0x_coco_256x192_udp_regress", 11)])
def test_published_udp_regress_files_are_combined_end_to_end(name, offset_blur):
    record = get_weights(name)
    codec = HeatmapCodec.from_config(cfg := TASK.config_for_record(record, None))
    assert (codec.kind, codec.offset_blur, codec.blur_kernel) == ("udp_combined", offset_blur, 11)
    assert not cfg["test"]["shift_heatmap"] and record.maps_per_joint == 3
    with torch.device("meta"):
        assert TASK.build_model(cfg).head.final_layer.out_channels == 51


def test_a_udp_regress_file_predicts_through_the_combined_maps(publish_as, shared_data):
    """A file of the udp_regress kind by name (a small model served under such a record's name): the
    predictor crops with UDP's matrix, flip-tests the three maps a joint and decodes them, as a by-hand
    pipeline; the Python API builds the model with its 51 maps."""
    record = publish_as(hrseg.build_model("pose_hrnet_w18_small_v1", maps_per_joint=3),
                        "pose_hrnet_w32.mmpose1x_coco_256x192_udp_regress", "pose_hrnet_w18_small_v1")
    model, cfg = TASK.load_model(record.name)
    assert hrseg.build_model("pose_hrnet_w18_small_v1", weights=record.name).head.final_layer.out_channels == 51

    image = read_image(shared_data / "coco_mini" / "images" / "000000000785.jpg")
    box = [280.0, 40.0, 150.0, 330.0]
    predictor = TASK.predictor(model, cfg, person_detector=lambda img: [box + [1.0]])
    assert predictor.describe()["codec"] == "udp_combined"
    got = np.array([v[:2] for v in predictor.predict(image)[0]["keypoints"].values()])

    center, scale = box_to_center_scale(*box, IN[0] / IN[1])
    crop = normalize(warp_crop(image, get_udp_affine_transform(center, scale, 0, IN), IN))[None]
    with torch.no_grad():
        maps = flip_test(model.eval(), crop, FLIP_PAIRS, shift_heatmap=False, maps_per_joint=3)
    coords, _ = decode_combined(maps, blur=11)
    want = affine_transform(coords[0], get_udp_affine_transform(center, scale, 0, HM, inv=True))
    np.testing.assert_allclose(got, want, atol=0.05)
