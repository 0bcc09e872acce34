"""The official segmentation test protocols (test.protocol) against a transcription of the
official code: HRNet-Semantic-Segmentation (branch HRNet-OCR) lib/datasets/base_dataset.py
(``inference``, ``multi_scale_inference``: PASCAL-Context), lib/datasets/cityscapes.py
(``multi_scale_inference``) and lib/datasets/lip.py (``testval`` squash, ``inference`` with the
left/right swap; lib/core/function.py ``testval``'s final resize). The transcription works on the
uint8 image resized as hrseg does (the one documented difference: the official code resizes the
normalised float image)."""
from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hrseg.errors import ConfigError
from hrseg.inference.segmentation import OFFICIAL_MS, predict_scores, resolve_test_settings
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.tasks.segmentation import TASK
from hrseg.weights import get_weights


class Tiny(nn.Module):
    """Logits at stride 4 that depend on their neighbourhood (so windows and padding matter)."""

    def __init__(self, k: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.AvgPool2d(4, ceil_mode=True),
                                 nn.Conv2d(8, k, 3, padding=1))
        self.k = k
        self.calls: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape[-2:]))
        return self.net(x)


def _image_resize(image, long_size):  # base_dataset.multi_scale_aug (rand_crop=False)
    h, w = image.shape[:2]
    if h > w:
        new_h, new_w = long_size, int(w * long_size / h + 0.5)
    else:
        new_w, new_h = long_size, int(h * long_size / w + 0.5)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def _normalize(u8):
    x = (u8.astype(np.float32) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1).copy())[None]


def _inference(model: nn.Module, image: torch.Tensor, flip: bool, align: bool,
               lip: bool = False) -> torch.Tensor:  # base_dataset.inference; lip.py inference (lip=True)
    size = image.size()
    pred = F.interpolate(model(image), size=size[-2:], mode="bilinear", align_corners=align)
    if flip:
        out = F.interpolate(model(torch.flip(image, [3])), size=size[-2:], mode="bilinear", align_corners=align)
        if lip:
            flip_pred = out.clone()
            flip_pred[:, 14, :, :] = out[:, 15, :, :]
            flip_pred[:, 15, :, :] = out[:, 14, :, :]
            flip_pred[:, 16, :, :] = out[:, 17, :, :]
            flip_pred[:, 17, :, :] = out[:, 16, :, :]
            flip_pred[:, 18, :, :] = out[:, 19, :, :]
            flip_pred[:, 19, :, :] = out[:, 18, :, :]
            out = flip_pred
        pred = (pred + torch.flip(out, [3])) * 0.5
    return pred.exp()


def resize_short_length(image, short_length, fit_stride):  # base_dataset.py, on the BGR image
    h, w = image.shape[:2]
    if h < w:
        new_h, new_w = short_length, int(w * short_length / h + 0.5)
    else:
        new_w, new_h = short_length, int(h * short_length / w + 0.5)
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_w = 0 if (new_w % fit_stride == 0) else fit_stride - (new_w % fit_stride)
    pad_h = 0 if (new_h % fit_stride == 0) else fit_stride - (new_h % fit_stride)
    image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT,
                               value=tuple(x * 255 for x in IMAGENET_MEAN[::-1]))
    return image, (pad_h, pad_w)


def official(model, image_u8, scales, flip, base_size, crop, dataset, align):
    label_size = image_u8.shape[:2]
    lip = dataset == "lip"
    if lip:  # lip.py __getitem__, testval: cv2.resize(image, self.crop_size) (a square crop here)
        image_u8 = cv2.resize(image_u8, crop, interpolation=cv2.INTER_LINEAR)
    border = None
    if dataset in ("ade20k", "cocostuff"):  # {ade20k,cocostuff}.py testval, on cv2.imread's BGR image
        bgr, border = resize_short_length(np.ascontiguousarray(image_u8[:, :, ::-1]), base_size, 8)
        image_u8 = np.ascontiguousarray(bgr[:, :, ::-1])
    ori_h, ori_w = image_u8.shape[:2]
    final = 0
    for scale in scales:
        new = _image_resize(image_u8, int(base_size * scale + 0.5))
        height, width = new.shape[:2]
        if dataset == "cityscapes":
            stride = crop
            if scale <= 1.0:
                preds = _inference(model, _normalize(new), flip, align)
            else:
                rows = int(np.ceil(1.0 * (height - crop[0]) / stride[0])) + 1
                cols = int(np.ceil(1.0 * (width - crop[1]) / stride[1])) + 1
                preds = torch.zeros(1, model.k, height, width)
                count = torch.zeros(1, 1, height, width)
                for r in range(rows):
                    for c in range(cols):
                        h1, w1 = min(r * stride[0] + crop[0], height), min(c * stride[1] + crop[1], width)
                        h0, w0 = max(h1 - crop[0], 0), max(w1 - crop[1], 0)
                        pred = _inference(model, _normalize(new[h0:h1, w0:w1]), flip, align)
                        preds[:, :, h0:h1, w0:w1] += pred[:, :, 0:h1 - h0, 0:w1 - w0]
                        count[:, :, h0:h1, w0:w1] += 1
                preds = preds / count
        else:
            stride = (int(crop[0] * 2.0 / 3.0), int(crop[1] * 2.0 / 3.0))

            def pad(img, size=crop):
                ph, pw = max(size[0] - img.shape[0], 0), max(size[1] - img.shape[1], 0)
                return cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))

            if max(height, width) <= np.min(crop):
                preds = _inference(model, _normalize(pad(new)), flip, align, lip)[:, :, :height, :width]
            else:
                if height < crop[0] or width < crop[1]:
                    new = pad(new)
                new_h, new_w = new.shape[:2]
                rows = int(np.ceil(1.0 * (new_h - crop[0]) / stride[0])) + 1
                cols = int(np.ceil(1.0 * (new_w - crop[1]) / stride[1])) + 1
                preds = torch.zeros(1, model.k, new_h, new_w)
                count = torch.zeros(1, 1, new_h, new_w)
                for r in range(rows):
                    for c in range(cols):
                        h0, w0 = r * stride[0], c * stride[1]
                        h1, w1 = min(h0 + crop[0], new_h), min(w0 + crop[1], new_w)
                        window = new[h0:h1, w0:w1]
                        if h1 == new_h or w1 == new_w:
                            window = pad(window)
                        pred = _inference(model, _normalize(window), flip, align, lip)
                        preds[:, :, h0:h1, w0:w1] += pred[:, :, 0:h1 - h0, 0:w1 - w0]
                        count[:, :, h0:h1, w0:w1] += 1
                preds = (preds / count)[:, :, :height, :width]
        final = final + F.interpolate(preds, (ori_h, ori_w), mode="bilinear", align_corners=align)
    if dataset == "cocostuff":  # function.py testval: only cocostuff's __getitem__ returns border_padding
        final = final[:, :, 0:final.size(2) - border[0], 0:final.size(3) - border[1]]
    if final.shape[-2:] != label_size:  # function.py testval: pred resized to the label
        final = F.interpolate(final, label_size, mode="bilinear", align_corners=align)
    return final[0]


@pytest.mark.parametrize("dataset,shape,base,crop,scales,align", [
    ("cityscapes", (40, 80), 80, (32, 64), [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], False),
    ("pascal_context", (30, 45), 26, (26, 26), [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], True),
    ("pascal_context", (45, 30), 26, (26, 26), [1.0, 2.0], False),
])
def test_official_protocol_equals_the_official_code(dataset, shape, base, crop, scales, align):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    model = Tiny().eval()
    cfg = dict(protocol="official", protocol_dataset=dataset, scales=scales, flip=True, base_size=base,
               crop_size=list(crop), align_corners=align)
    with torch.no_grad():
        ours = predict_scores(model, image, cfg)
        theirs = official(model, image, scales, True, base, crop, dataset, align)
    assert ours.shape == theirs.shape == (5, *shape)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,base,crop,scales,align", [
    ((30, 17), 24, (24, 24), [1.0], False),  # the published LIP test: one scale
    ((17, 30), 24, (24, 24), [1.0], True),
    ((25, 40), 24, (24, 24), [0.75, 1.5], False),  # scales above 1: windows on the squashed image
])
def test_lip_protocol_equals_the_official_code(shape: tuple[int, int], base: int, crop: tuple[int, int],
                                              scales: list[float], align: bool) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    model = Tiny(k=20).eval()
    cfg = dict(protocol="official", protocol_dataset="lip", scales=scales, flip=True, base_size=base,
               crop_size=list(crop), align_corners=align)
    with torch.no_grad():
        ours = predict_scores(model, image, cfg)
        theirs = official(model, image, scales, True, base, crop, "lip", align)
    assert ours.shape == theirs.shape == (20, *shape)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert model.calls[0] == crop  # the image squashed to the crop, whatever its aspect


@pytest.mark.parametrize("dataset,shape,scales,align", [
    ("ade20k", (30, 45), [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], True),  # 26x39 -> padded to 32x40
    ("cocostuff", (30, 45), [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], True),
    ("cocostuff", (47, 29), [1.0, 2.0], False),  # 42x26 -> 48x32
    ("ade20k", (16, 32), [1.0], False),  # 26x52 -> 32x56
])
def test_short_side_protocols_equal_the_official_code(dataset, shape, scales, align):
    """ADE20K and COCO-Stuff: the short side to base_size and the stride-8 padding first, the padding cut off
    (COCO-Stuff) or kept (ADE20K) before the final resize."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    model = Tiny().eval()
    cfg = dict(protocol="official", protocol_dataset=dataset, scales=scales, flip=True, base_size=26,
               crop_size=[26, 26], align_corners=align)
    with torch.no_grad():
        ours = predict_scores(model, image, cfg)
        theirs = official(model, image, scales, True, 26, (26, 26), dataset, align)
    assert ours.shape == theirs.shape == (5, *shape)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    other = "ade20k" if dataset == "cocostuff" else "cocostuff"
    with torch.no_grad():  # the two differ exactly in the padding cut off
        assert not torch.allclose(predict_scores(model, image, {**cfg, "protocol_dataset": other}), ours)


def test_cityscapes_windows_at_stride_of_one_crop_only_above_scale_one():
    model = Tiny().eval()
    image = np.zeros((40, 80, 3), np.uint8)
    cfg = dict(protocol="official", protocol_dataset="cityscapes", scales=[1.0, 1.5], flip=False, base_size=80,
               crop_size=[32, 64])
    with torch.no_grad():
        predict_scores(model, image, cfg)
    # scale 1: one 40x80 pass; scale 1.5 (60x120): 2 x 2 windows of 32x64, the last ones at the edges
    assert model.calls == [(40, 80)] + [(32, 64)] * 4


def test_official_ms_is_the_published_setting_and_needs_a_dataset():
    cfg = resolve_test_settings(dict(protocol="official_ms", protocol_dataset="pascal_context"))
    assert cfg["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0] and cfg["flip"] is True
    assert (cfg["base_size"], cfg["crop_size"]) == (520, [520, 520])
    city = resolve_test_settings(dict(protocol="official_ms", protocol_dataset="cityscapes"))
    assert city["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75] and city["crop_size"] == [1024, 2048]
    lip = resolve_test_settings(dict(protocol="official_ms", protocol_dataset="lip"))  # README: flip, one scale
    assert (lip["scales"], lip["flip"], lip["base_size"], lip["crop_size"]) == ([1.0], True, 473, [473, 473])
    for dataset in ("ade20k", "cocostuff"):  # README: 0.5-2.0 + flip, 520x520 (experiments/*/ TEST)
        cfg = resolve_test_settings(dict(protocol="official_ms", protocol_dataset=dataset))
        assert (cfg["scales"], cfg["flip"], cfg["base_size"], cfg["crop_size"]) == (
            [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], True, 520, [520, 520])
    assert set(OFFICIAL_MS) == {"cityscapes", "pascal_context", "lip", "ade20k", "cocostuff"}
    with pytest.raises(ConfigError, match="protocol_dataset"):
        resolve_test_settings(dict(protocol="official_ms"))
    with pytest.raises(ConfigError, match="resizes the short side to test.base_size"):
        resolve_test_settings(dict(protocol="official", protocol_dataset="ade20k"))
    with pytest.raises(ConfigError, match="test.protocol"):
        resolve_test_settings(dict(protocol="offical"))



# -- published weights: the test setting of their metric ---------------------------------------
def mmseg_slide(model: nn.Module, image_u8: np.ndarray, img_scale: tuple[int, int], crop: tuple[int, int],
                stride: tuple[int, int], align: bool) -> torch.Tensor:
    """mmsegmentation: Resize(img_scale, keep_ratio=True) (mmcv imrescale: the factor
    min(max(img_scale) / long edge, min(img_scale) / short edge)), then
    EncoderDecoder.slide_inference (logits of the windows averaged, resized to the image)."""
    h, w = image_u8.shape[:2]
    factor = min(max(img_scale) / max(h, w), min(img_scale) / min(h, w))
    img = _normalize(cv2.resize(image_u8, (int(w * factor + 0.5), int(h * factor + 0.5)),
                                interpolation=cv2.INTER_LINEAR))
    (h_crop, w_crop), (h_stride, w_stride) = crop, stride
    _, _, h_img, w_img = img.shape
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    preds = torch.zeros(1, model.k, h_img, w_img)
    count = torch.zeros(1, 1, h_img, w_img)
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1, x1 = h_idx * h_stride, w_idx * w_stride
            y2, x2 = min(y1 + h_crop, h_img), min(x1 + w_crop, w_img)
            y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
            crop_img = img[:, :, y1:y2, x1:x2]
            logit = F.interpolate(model(crop_img), size=crop_img.shape[2:], mode="bilinear", align_corners=align)
            preds += F.pad(logit, (x1, preds.shape[3] - x2, y1, preds.shape[2] - y2))
            count[:, :, y1:y2, x1:x2] += 1
    return F.interpolate(preds / count, size=(h, w), mode="bilinear", align_corners=align)[0]


def test_published_seg_weights_run_under_their_metrics_test_setting() -> None:
    def test_of(name: str, options: list[str] | None = None) -> dict:
        return TASK.config_for_record(get_weights(name), options)["test"]

    # mmsegmentation PASCAL-Context 59 (configs/_base_/datasets/pascal_context_59.py, fcn_hr48 480x480):
    # Resize img_scale (520, 520) keep_ratio, then test_cfg mode='slide' crop (480, 480) stride (320, 320)
    ctx = test_of("seg_hrnetv2_w48.mmseg_pascal_context_59_80k")
    assert (ctx["mode"], ctx["base_size"], ctx["crop_size"], ctx["stride"]) == ("slide", 520, [480, 480], [320, 320])
    assert (ctx["scales"], ctx["flip"], ctx["protocol"]) == ([1.0], False, None)
    for name in ("seg_hrnetv2_w48.mmseg_cityscapes_160k", "seg_hrnetv2_w48.official_cityscapes"):
        city = test_of(name)  # the whole 2048x1024 frame as it is
        assert (city["mode"], city["base_size"], city["scales"], city["flip"]) == ("whole", None, [1.0], False)
    official = resolve_test_settings(test_of("seg_hrnetv2_w48.official_pascal_context_59"))
    assert (official["protocol"], official["protocol_dataset"]) == ("official_ms", "pascal_context")
    assert official["scales"] == OFFICIAL_MS["pascal_context"]["scales"] and official["flip"]
    for name in ("seg_hrnetv2_w48.official_lip", "seg_hrnetv2_ocr_w48.official_lip"):  # the README's 55.83 / 56.48
        cfg = TASK.config_for_record(get_weights(name), None)
        lip = resolve_test_settings(cfg["test"])
        assert (lip["protocol"], lip["protocol_dataset"], lip["scales"], lip["flip"]) == ("official_ms", "lip",
                                                                                          [1.0], True)
        assert (lip["base_size"], lip["crop_size"]) == (473, [473, 473])
        data = cfg["data"]  # the LIP dataset of the recipes, its images squashed to 473x473
        assert (data["type"], data["squash"], data["crop_size"], cfg["model"]["num_classes"]) == ("lip", True,
                                                                                                 [473, 473], 20)
    # the tools' options (--mode, --cfg-options) still win over the record's setting
    whole = test_of("seg_hrnetv2_w48.mmseg_pascal_context_59_80k", ["test.mode=whole"])
    assert (whole["mode"], whole["base_size"]) == ("whole", 520)

    # and that setting is mmseg's test, number for number: 375x500 -> 390x520, two 390x480 windows
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(375, 500, 3), dtype=np.uint8)
    model = Tiny(k=7).eval()
    with torch.no_grad():
        ours = predict_scores(model, image, {**ctx, "align_corners": False})
        assert model.calls == [(390, 480)]  # one batch of the two windows
        theirs = mmseg_slide(model, image, (520, 520), (480, 480), (320, 320), False)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
