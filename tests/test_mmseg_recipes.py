"""mmsegmentation 0.x's FCN-HRNetV2 recipes: the pieces they need against transcriptions of mmsegmentation and
mmcv (v0.30.0 / mmcv 1.x), and an iteration-based run (train.max_iters).

The transcriptions keep mmsegmentation's names and order; where it draws from numpy's global random module,
:class:`NumpyRandom` hands out the draws of a seeded Generator, so hrseg (drawing from an equal Generator) and
the transcription see the same numbers.
"""
from __future__ import annotations

import csv
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hrseg
from hrseg.data.seg.transforms import SegTrainTransform, photometric_distortion
from hrseg.engine import Trainer, build_dataloader, load_state
from hrseg.errors import ConfigError
from hrseg.losses.segmentation import SegCrossEntropy
from hrseg.recipes import CONFIG_DIR
from hrseg.tasks.common import progressive_hook
from hrseg.tasks.segmentation import load_seg_config, train

from test_engine import NoisyData, TinyNet, mse_step, score


class NumpyRandom:
    """``numpy.random``'s ``randint`` / ``uniform`` as mmsegmentation calls them, from a seeded Generator."""

    def __init__(self, seed: int):
        self.g = np.random.default_rng(seed)

    def randint(self, low, high=None):
        return self.g.integers(low, high)

    def uniform(self, low, high):
        return self.g.uniform(low, high)


class PhotoMetricDistortion:
    """mmseg/datasets/pipelines/transforms.py PhotoMetricDistortion (0.x), on a BGR uint8 image."""

    def __init__(self, random, brightness_delta=32, contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
                 hue_delta=18):
        self.random = random
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def convert(self, img, alpha=1, beta=0):
        img = img.astype(np.float32) * alpha + beta
        img = np.clip(img, 0, 255)
        return img.astype(np.uint8)

    def brightness(self, img):
        if self.random.randint(2):
            return self.convert(img, beta=self.random.uniform(-self.brightness_delta, self.brightness_delta))
        return img

    def contrast(self, img):
        if self.random.randint(2):
            return self.convert(img, alpha=self.random.uniform(self.contrast_lower, self.contrast_upper))
        return img

    def saturation(self, img):
        if self.random.randint(2):
            img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)  # mmcv.bgr2hsv
            img[:, :, 1] = self.convert(img[:, :, 1],
                                        alpha=self.random.uniform(self.saturation_lower, self.saturation_upper))
            img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)  # mmcv.hsv2bgr
        return img

    def hue(self, img):
        if self.random.randint(2):
            img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
            img[:, :, 0] = (img[:, :, 0].astype(int) + self.random.randint(-self.hue_delta, self.hue_delta)) % 180
            img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
        return img

    def __call__(self, results):
        img = results["img"]
        img = self.brightness(img)
        mode = self.random.randint(2)
        if mode == 1:
            img = self.contrast(img)
        img = self.saturation(img)
        img = self.hue(img)
        if mode == 0:
            img = self.contrast(img)
        results["img"] = img
        return results


def test_photometric_distortion_is_mmsegmentations(shared_data):
    rgb = cv2.cvtColor(cv2.imread(str(shared_data / "images" / "bus.jpg")), cv2.COLOR_BGR2RGB)[100:260, 50:290]
    changed = 0
    for seed in range(48):
        ours = photometric_distortion(rgb.copy(), np.random.default_rng(seed))
        theirs = PhotoMetricDistortion(NumpyRandom(seed))({"img": np.ascontiguousarray(rgb[:, :, ::-1])})["img"]
        assert np.array_equal(ours, theirs[:, :, ::-1]), seed
        changed += not np.array_equal(ours, rgb)
    assert changed > 40  # all but the draws that skip every step (1 in 16)


def rescale_size(old_size, scale):
    """mmcv/image/geometric.py rescale_size / _scale_size for a tuple scale (keep_ratio)."""
    w, h = old_size
    max_long_edge, max_short_edge = max(scale), min(scale)
    scale_factor = min(max_long_edge / max(h, w), max_short_edge / min(h, w))
    return int(w * float(scale_factor) + 0.5), int(h * float(scale_factor) + 0.5)


def random_sample_ratio_scale(img_scale, ratio):
    """mmseg Resize.random_sample_ratio after its draw: the box scaled and cut to whole pixels."""
    return int(img_scale[0] * ratio), int(img_scale[1] * ratio)


@pytest.mark.parametrize("img_scale, shapes", [
    ((2048, 1024), [(1024, 2048), (1000, 1500)]),  # Cityscapes; a frame of another size
    ((2048, 512), [(512, 683), (375, 500), (256, 2000), (1536, 384)]),  # ADE20K, VOC; a panorama and a tall one
    ((520, 520), [(375, 500), (500, 333), (480, 480)]),  # PASCAL-Context
])
def test_keep_ratio_resize_is_mmsegmentations(img_scale, shapes):
    transform = SegTrainTransform(base_size=max(img_scale), short_size=min(img_scale))
    ratios = np.random.default_rng(0).uniform(0.5, 2.0, 200)
    for h, w in shapes:
        for ratio in ratios:
            want_w, want_h = rescale_size((w, h), random_sample_ratio_scale(img_scale, ratio))
            assert transform.rescaled_size((h, w), ratio) == (want_h, want_w), (h, w, ratio)
    # without short_size: the official HRNet code's long side, not mmsegmentation's box
    assert SegTrainTransform(base_size=2048).rescaled_size((375, 500), 1.0) == (1536, 2048)
    assert SegTrainTransform(base_size=2048, short_size=512).rescaled_size((375, 500), 1.0) == (512, 683)


def mmseg_cross_entropy(pred, label, class_weight=None, ignore_index=255):
    """mmseg/models/losses/cross_entropy_loss.py cross_entropy with avg_non_ignore=False, reduction 'mean'
    (weight_reduce_loss: loss.mean() with no avg_factor)."""
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction="none", ignore_index=ignore_index)
    return loss.mean()


def test_loss_averaged_over_every_pixel_as_mmsegmentation():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 8, 8, generator=g)
    label = torch.randint(0, 5, (2, 32, 32), generator=g)
    label[:, :10] = 255  # a third ignored
    weight = [0.5, 1.0, 1.5, 2.0, 1.0]
    up = F.interpolate(logits, size=(32, 32), mode="bilinear", align_corners=False)  # BaseDecodeHead.losses
    for class_weight in (None, weight):
        cw = None if class_weight is None else torch.tensor(class_weight)
        ours = SegCrossEntropy(class_weight=class_weight, avg_non_ignore=False)(logits, label)["loss"]
        torch.testing.assert_close(ours, mmseg_cross_entropy(up, label, cw), rtol=1e-6, atol=1e-7)
        default = SegCrossEntropy(class_weight=class_weight)(logits, label)["loss"]
        torch.testing.assert_close(default, F.cross_entropy(up, label, weight=cw, ignore_index=255))
        assert float(ours) < float(default)  # the ignored third pulls the mean down


def iteration_trainer(work_dir, max_iters, step=mse_step, num_workers=0, **kw):
    """test_engine's small run (12 samples, batch 4: 3 iterations an epoch) under mmsegmentation's schedule."""
    torch.manual_seed(123)
    loader = build_dataloader(NoisyData(), batch_size=4, num_workers=num_workers, seed=5)
    return Trainer(TinyNet(), loader, step, dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4),
                   dict(type="poly", power=0.9, min_lr=1e-4), work_dir, 99, max_iters=max_iters, evaluate=score,
                   eval_interval=2, seed=5, progress=False, **kw)


def test_max_iters_cuts_the_last_epoch_and_the_poly_schedule_runs_over_it(tmp_path):
    lrs = []

    def step(model, batch):
        lrs.append(trainer.lr)
        return mse_step(model, batch)

    trainer = iteration_trainer(tmp_path, 8, step)  # 3 epochs, the last cut to 2 iterations
    trainer.fit()
    assert (trainer.epoch, trainer.iteration, trainer.max_epochs) == (3, 8, 3)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [(r["epoch"], r["iteration"]) for r in rows] == [("1", "3"), ("2", "6"), ("3", "8")]
    assert rows[-1]["val/score"] and not rows[0]["val/score"]  # evaluated at the end (and epoch 2)
    # mmcv PolyLrUpdaterHook.get_lr at runner.iter i of max_iters 8, set before the iteration
    want = [(0.01 - 1e-4) * (1 - i / 8) ** 0.9 + 1e-4 for i in range(8)]
    assert lrs == pytest.approx(want, rel=1e-12)
    assert trainer.lr == pytest.approx(1e-4)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_max_iters_run_resumes_exactly(tmp_path, num_workers):
    full = iteration_trainer(tmp_path / "full", 10, num_workers=num_workers, deterministic=True)
    full.fit()
    calls = {"n": 0}

    def crashing_step(model, batch):  # dies in the cut last epoch (4 epochs of 3 iterations, the last 1)
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return mse_step(model, batch)

    with pytest.raises(KeyboardInterrupt):
        iteration_trainer(tmp_path / "cut", 10, crashing_step, num_workers, deterministic=True).fit()
    resumed = iteration_trainer(tmp_path / "cut", 10, num_workers=num_workers, deterministic=True, resume=True)
    assert (resumed.epoch, resumed.iteration, resumed.max_epochs) == (3, 9, 4)
    resumed.fit()
    assert resumed.iteration == full.iteration == 10
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("recipe, model", [("fcn_hr48_512x1024_160k_cityscapes", "seg_hrnetv2_w18_small_v1"),
                                           ("ocrnet_hr48_512x1024_160k_cityscapes", "seg_hrnetv2_ocr_w18_small_v1")])
def test_cityscapes_recipe_trains_by_iterations(tmp_path, recipe, model):
    """The mmsegmentation Cityscapes recipes end to end, shrunk: a small model on a tiny synthetic split, 5
    iterations (2 epochs of 3, the last cut), the recipe's keep-ratio box, cat_max_ratio, photometric
    distortion, head initialisation and loss (OCR: with its auxiliary term)."""
    cfg = load_seg_config(CONFIG_DIR / f"seg/mmseg/{recipe}.py", {
        "model.name": model, "model.pretrained": None, "data.root": str(tmp_path / "streets"),
        "data.synthetic": dict(num_train=12, num_val=2, size=[64, 128], seed=0), "data.crop_size": [32, 64],
        "data.base_size": 128, "data.short_size": 64, "data.batch_size": 4, "data.num_workers": 0,
        "train.max_iters": 5, "train.eval_interval": 1, "test.base_size": None, "test.short_size": None})
    cfg["work_dir"] = str(tmp_path / "work")
    metrics = train(cfg)
    state = load_state(tmp_path / "work" / "latest.pth")
    assert (state["epoch"], state["iteration"]) == (2, 5)
    assert 0.0 <= metrics["mIoU"] <= 1.0
    log = (tmp_path / "work" / "train.log").read_text()
    assert "train.max_iters 5: 2 epoch(s) of 3 iterations, the last one cut to 2" in log


def test_progressive_learning_refuses_an_iteration_count(tmp_path):
    cfg = load_seg_config(CONFIG_DIR / "seg/mmseg/fcn_hr48_512x1024_160k_cityscapes.py",
                          {"progressive.enabled": True, "data.root": str(tmp_path)})
    with pytest.raises(ConfigError, match="train.max_iters"):
        progressive_hook(cfg, None, [512, 1024])


def test_mmseg_head_initialisation():
    """model.head_init='mmseg': FCNHead's ConvModule kaiming_init (normal, fan_out, ReLU: std sqrt(2 / C)) and
    conv_seg N(0, 0.01), zero biases; the conv1x1's bias (mmsegmentation's has none) gets no gradient through the
    BatchNorm after it, so it stays zero."""
    torch.manual_seed(0)
    model = hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=19, head_init="mmseg")
    conv, norm, _, conv_seg = model.head.last_layer
    std = {name: float(layer.weight.detach().std()) for name, layer in (("conv", conv), ("conv_seg", conv_seg))}
    channels = conv.out_channels
    assert std["conv"] == pytest.approx(math.sqrt(2 / channels), rel=0.05)
    assert std["conv_seg"] == pytest.approx(0.01, rel=0.05)
    assert not conv.bias.any() and not conv_seg.bias.any() and not norm.bias.any() and bool((norm.weight == 1).all())
    official = hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=19).head.last_layer
    assert float(official[0].weight.detach().std()) == pytest.approx(0.001, rel=0.05)  # the official N(0, 0.001)
    model.train()
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    assert float(conv.bias.grad.abs().max()) < 1e-6 * float(conv.weight.grad.abs().max())
    with pytest.raises(ConfigError, match="head_init"):
        hrseg.build_model("seg_hrnetv2_w18_small_v1", head_init="xavier")


def test_mmseg_ocr_head_initialisation():
    """OCRNet under model.head_init='mmseg': every conv of both heads kaiming normal (fan_out), the two conv_seg
    N(0, 0.01), zero biases; without it the official choice, PyTorch's default (kaiming uniform, a=sqrt(5))."""
    torch.manual_seed(0)
    head = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", num_classes=19, head_init="mmseg").head
    class_convs = {id(head.cls_head), id(head.aux_head[3])}
    for name, conv in head.named_modules():
        if not isinstance(conv, torch.nn.Conv2d):
            continue
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        want = 0.01 if id(conv) in class_convs else math.sqrt(2 / fan_out)
        assert float(conv.weight.detach().std()) == pytest.approx(want, rel=0.1), name
        assert conv.bias is None or not conv.bias.any(), name
    default = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", num_classes=19).head
    assert default.cls_head.bias.abs().max() > 0  # PyTorch's default init draws the biases
