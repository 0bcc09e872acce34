"""Segmentation inference: sliding windows, whole image, multi-scale + flip, sizes, OCR model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hrseg
from hrseg.errors import CheckpointError, ConfigError
from hrseg import load_checkpoint
from hrseg.inference.optimize import inference_model
from hrseg.inference.segmentation import predict_labels, predict_scores, windows
from hrseg.utils.flops import count_params


class PixelModel(nn.Module):
    """A per-pixel classifier (1x1 conv): any window predicts exactly what the whole image
    predicts at its pixels, so sliding-window accumulation must reproduce whole-image scores."""

    def __init__(self, k: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_windows_cover_the_image_and_stay_inside() -> None:
    for (h, w), crop, stride in [((70, 100), (40, 48), (20, 30)), ((30, 20), (40, 48), (27, 32)),
                                 ((512, 1024), (512, 512), (341, 341)), ((101, 37), (32, 32), (32, 32))]:
        cover = np.zeros((h, w), int)
        for y0, y1, x0, x1 in windows(h, w, crop, stride):
            assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
            assert (y1 - y0, x1 - x0) == (min(crop[0], h), min(crop[1], w))
            cover[y0:y1, x0:x1] += 1
        assert cover.min() >= 1


def test_whole_and_slide_agree_on_a_per_pixel_model() -> None:
    model = PixelModel().eval()
    image = _image(64, 96)
    whole = predict_scores(model, image, dict(mode="whole"))
    assert whole.shape == (4, 64, 96)
    one_window = predict_scores(model, image, dict(mode="slide", crop_size=[64, 96]))
    torch.testing.assert_close(one_window, whole)
    for crop, stride in (([32, 48], [16, 24]), ([30, 40], None), ([17, 23], [5, 7])):
        slide = predict_scores(model, image, dict(mode="slide", crop_size=crop, stride=stride))
        torch.testing.assert_close(slide, whole)  # overlaps averaged exactly, nothing left out
    assert np.array_equal(predict_labels(model, image, dict(mode="slide", crop_size=[17, 23])),
                          whole.argmax(0).numpy().astype(np.uint8))


def test_flip_and_scales_average_probabilities() -> None:
    model = PixelModel().eval()
    image = _image(45, 67, 1)  # odd sizes: scores come back at exactly the input size
    probs = predict_scores(model, image, dict(scales=[0.5, 1.0, 1.5], flip=True))
    assert probs.shape == (4, 45, 67)
    torch.testing.assert_close(probs.sum(0), torch.ones(45, 67))
    # flipping a mirror-symmetric image changes nothing
    sym = np.concatenate([image, image[:, ::-1]], axis=1)
    one = predict_scores(model, sym, dict(flip=False)).softmax(0)
    both = predict_scores(model, sym, dict(flip=True))
    torch.testing.assert_close(both, one, atol=1e-5, rtol=0)
    labels = predict_labels(model, image, dict(scales=[0.75, 1.25], flip=True))
    assert labels.dtype == np.uint8 and labels.shape == (45, 67) and labels.max() < 4


def test_base_size_resizes_and_scores_return_to_input_size() -> None:
    model = PixelModel().eval()
    image = _image(30, 50, 2)
    scores = predict_scores(model, image, dict(base_size=100))
    assert scores.shape == (4, 30, 50)
    with pytest.raises(ValueError, match="uint8 RGB"):
        predict_scores(model, image.astype(np.float32), {})
    with pytest.raises(ConfigError, match="test.mode: expected 'whole' or 'slide', got 'tiles'"):
        predict_scores(model, image, dict(mode="tiles"))


def _official_keys(model: nn.Module) -> dict[str, torch.Tensor]:
    """An hrseg segmentation state dict in the official layout: backbone and head at the top."""
    return {k.split(".", 1)[1]: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["seg_hrnetv2_w18_small_v1", "seg_hrnetv2_ocr_w18_small_v1"])
def test_small_models_official_layout_and_optimized_path(name: str, tmp_path: Path) -> None:
    from hrseg.tasks.segmentation import TASK

    torch.manual_seed(0)
    model = hrseg.build_model(name, num_classes=7).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so folding is exercised
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "official.pth"
    torch.save({"state_dict": _official_keys(model)}, path)
    with pytest.raises(CheckpointError, match="official.pth: the file records no model"):
        TASK.load_model(path)  # never guessed from the block counts: the config names the model
    config = TASK.load_config(None, [f"model.name={name}", "model.num_classes=7"])
    loaded, cfg = TASK.load_model(path, config)
    assert cfg["model"]["name"] == name and cfg["model"]["num_classes"] == 7
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    fresh = hrseg.build_model(name, num_classes=7).eval()
    report = load_checkpoint(fresh, path)
    assert report.loaded == len(model.state_dict()) and not report.not_loaded
    image = _image(70, 90, 3)
    eager = predict_scores(fresh, image, dict(mode="slide", crop_size=[48, 64]))
    fast = predict_scores(inference_model(fresh, {}), image, dict(mode="slide", crop_size=[48, 64]))
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=1e-4)
    fresh.train()
    out = fresh(torch.randn(2, 3, 64, 64))
    if "ocr" in name:
        assert isinstance(out, list) and [o.shape for o in out] == [(2, 7, 16, 16)] * 2
    else:
        assert out.shape == (2, 7, 16, 16)


def test_ocr_w48_matches_the_official_layout_and_size(shared_reference: Path) -> None:
    layout = json.loads((shared_reference / "checkpoint_layouts" / "seg_hrnet_w48_ocr_cityscapes_19.json").read_text())
    with torch.device("meta"):
        model = hrseg.build_model("seg_hrnetv2_ocr_w48")
    assert count_params(model) == 70_372_678  # 70.37M, the official figure
    aliases = sorted(model.checkpoint_aliases.items(), key=lambda kv: -len(kv[0]))

    def ours(key: str) -> str:
        return next(dst + key[len(src):] for src, dst in aliases if key.startswith(src))

    state = model.state_dict()
    assert [ours(k) for k in layout] == list(state)  # every key, in the official order
    assert all(list(state[ours(k)].shape) == shape for k, shape in layout.items())


def test_large_whole_images_go_by_windows() -> None:
    calls: list[tuple[int, int]] = []
    model = PixelModel().eval()
    model.register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape[-2:])))
    image = _image(60, 80, 4)
    whole = predict_scores(model, image, dict(mode="whole"))
    assert calls == [(60, 80)]
    calls.clear()
    capped = predict_scores(model, image, dict(mode="whole", max_whole_pixels=1000, crop_size=[30, 40]))
    assert len(calls) > 1 and all(c == (30, 40) for c in calls)
    torch.testing.assert_close(capped, whole)


@pytest.mark.slow
def test_segmentation_path_never_imports_openmmlab() -> None:
    import subprocess
    import sys

    code = ("import sys, numpy as np, hrseg; "
            "import hrseg.inference.segmentation as I, hrseg.inference.optimize, hrseg.evaluation.segmentation, hrseg.losses.segmentation, "
            "hrseg.visualization.segmentation, hrseg.checkpoint; "
            "m = hrseg.inference.optimize.inference_model(hrseg.build_model('seg_hrnetv2_ocr_w18_small_v1'), {}); "
            "I.predict_labels(m, np.zeros((40, 60, 3), np.uint8), dict(mode='slide', crop_size=[32, 32])); "
            "bad = [k for k in sys.modules if k.split('.')[0] in ('mmcv', 'mmengine')]; print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sliding_windows_batched_equal_one_at_a_time() -> None:
    """Windows go through the network window_batch at a time; the scores are those of one at a time."""
    torch.manual_seed(0)
    model = hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=5).eval()
    image = _image(90, 130, seed=3)
    cfg = dict(mode="slide", crop_size=[64, 64], stride=[40, 40])
    single = predict_scores(model, image, {**cfg, "window_batch": 1})
    for batch in (3, 8):
        torch.testing.assert_close(predict_scores(model, image, {**cfg, "window_batch": batch}), single,
                                   atol=1e-4, rtol=1e-4)


class FixedSizeModel(PixelModel):
    """A per-pixel model that, as a fixed-size exported graph, takes inputs of one size only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert tuple(x.shape[-2:]) == (32, 48), f"a {tuple(x.shape[-2:])} input"
        return super().forward(x)


def test_pad_to_crop_gives_every_window_the_crops_size() -> None:
    """test.pad_to_crop (a fixed-size export's record): an image smaller than the crop, in one side or
    both, is padded with black to it, every window has the crop's size, and the scores are the image's."""
    torch.manual_seed(0)
    fixed = FixedSizeModel().eval()
    free = PixelModel().eval()
    free.load_state_dict(fixed.state_dict())
    cfg = dict(mode="slide", crop_size=[32, 48], pad_to_crop=True, flip=True)
    for h, w in ((20, 30), (20, 100), (70, 40), (32, 48)):
        image = _image(h, w, seed=h)
        scores = predict_scores(fixed, image, cfg)
        assert scores.shape == (4, h, w)
        # a per-pixel model: the padding changes nothing at the image's pixels
        torch.testing.assert_close(scores, predict_scores(free, image, dict(mode="whole", flip=True)))
    with pytest.raises(AssertionError, match="a \\(20, 30\\) input"):  # without it, the window is the image
        predict_scores(fixed, _image(20, 30), dict(mode="slide", crop_size=[32, 48]))


def test_class_indices_are_argmax_ties_included() -> None:
    """The label map comes from ``max(0).indices`` (torch's argmax over a short leading dimension is
    slow on the CPU): the same classes as argmax, the first on ties, at any shape."""
    from hrseg.inference.segmentation import scores_to_labels
    from hrseg.models.segmentation import class_indices

    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 3, (7, 33, 45), generator=g).float()  # many ties
    assert (scores.max(0).values == scores.sort(0, descending=True).values[1]).any()
    assert torch.equal(class_indices(scores), scores.argmax(0))
    assert torch.equal(class_indices(scores[None], 1), scores[None].argmax(1))
    np.testing.assert_array_equal(scores_to_labels(scores, band=8), scores.argmax(0).numpy())


class LowResModel(PixelModel):
    """Logits at a quarter of the input, as the HRNet heads give them; ``align_corners`` as the
    weights were trained."""

    def __init__(self, align_corners: bool) -> None:
        super().__init__()
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[..., ::4, ::4])


def test_the_final_resize_follows_the_models_align_corners_unless_the_test_sets_it() -> None:
    """The official code's one MODEL.ALIGN_CORNERS serves training and test: published OCR weights
    (align_corners=True) were tested with a False resize when only the model knew."""
    image = _image(37, 53)
    for align in (True, False):
        model = LowResModel(align).eval()
        torch.manual_seed(0)
        own = predict_scores(model, image, dict(mode="whole"))
        for setting in (True, False):
            given = predict_scores(model, image, dict(mode="whole", align_corners=setting))
            assert torch.equal(own, given) == (setting == align)


def test_the_seg_predictor_tests_as_its_weights_were_trained() -> None:
    """A config that leaves test.align_corners (LIP + OCR) tests an OCR model with its True; the
    recipe's own value wins when it gives one."""
    from hrseg.tasks.segmentation import TASK, load_seg_config  # the task layer, above inference
    cfg = load_seg_config("configs/seg/synthetic_mini.py",
                          ["model.name=seg_hrnetv2_ocr_w18_small_v1", "test.backend=torch"])
    assert cfg["test"]["align_corners"] is None
    model = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", num_classes=cfg["model"]["num_classes"])
    assert TASK.predictor(model, cfg).test_cfg["align_corners"] is True
    cfg["test"]["align_corners"] = False
    assert TASK.predictor(model, cfg).test_cfg["align_corners"] is False
    lip = load_seg_config("configs/seg/ocr_hrnetv2_w48_lip_473x473.py")
    assert lip["model"]["align_corners"] is True and lip["test"]["align_corners"] is None
