"""The official segmentation test protocols (test.protocol) against a transcription of the
official code: HRNet-Semantic-Segmentation (branch HRNet-OCR) lib/datasets/base_dataset.py
(``inference``, ``multi_scale_inference``: PASCAL-Context) and lib/datasets/cityscapes.py
(``multi_scale_inference``). The transcription works on the uint8 image resized as hrseg does
(the one documented difference: the official code resizes the normalised float image)."""
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


class Tiny(nn.Module):
    """Logits at stride 4 that depend on their neighbourhood (so windows and padding matter)."""

    def __init__(self, k: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.AvgPool2d(4, ceil_mode=True),
                                 nn.Conv2d(8, k, 3, padding=1))
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


def _inference(model, image, flip, align):  # base_dataset.inference
    size = image.size()
    pred = F.interpolate(model(image), size=size[-2:], mode="bilinear", align_corners=align)
    if flip:
        out = F.interpolate(model(torch.flip(image, [3])), size=size[-2:], mode="bilinear", align_corners=align)
        pred = (pred + torch.flip(out, [3])) * 0.5
    return pred.exp()


def official(model, image_u8, scales, flip, base_size, crop, dataset, align):
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
                preds = torch.zeros(1, 5, height, width)
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
                preds = _inference(model, _normalize(pad(new)), flip, align)[:, :, :height, :width]
            else:
                if height < crop[0] or width < crop[1]:
                    new = pad(new)
                new_h, new_w = new.shape[:2]
                rows = int(np.ceil(1.0 * (new_h - crop[0]) / stride[0])) + 1
                cols = int(np.ceil(1.0 * (new_w - crop[1]) / stride[1])) + 1
                preds = torch.zeros(1, 5, new_h, new_w)
                count = torch.zeros(1, 1, new_h, new_w)
                for r in range(rows):
                    for c in range(cols):
                        h0, w0 = r * stride[0], c * stride[1]
                        h1, w1 = min(h0 + crop[0], new_h), min(w0 + crop[1], new_w)
                        window = new[h0:h1, w0:w1]
                        if h1 == new_h or w1 == new_w:
                            window = pad(window)
                        pred = _inference(model, _normalize(window), flip, align)
                        preds[:, :, h0:h1, w0:w1] += pred[:, :, 0:h1 - h0, 0:w1 - w0]
                        count[:, :, h0:h1, w0:w1] += 1
                preds = (preds / count)[:, :, :height, :width]
        final = final + F.interpolate(preds, (ori_h, ori_w), mode="bilinear", align_corners=align)
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
    assert set(OFFICIAL_MS) == {"cityscapes", "pascal_context"}
    with pytest.raises(ConfigError, match="protocol_dataset"):
        resolve_test_settings(dict(protocol="official_ms"))
    with pytest.raises(ConfigError, match="test.protocol"):
        resolve_test_settings(dict(protocol="offical"))

