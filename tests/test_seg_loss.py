"""Segmentation losses against independent computations (per-pixel numpy, the official OHEM rule)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hrseg.losses.segmentation import SegCrossEntropy, ohem_cross_entropy, ohem_cross_entropy_device


def _batch(seed: int = 0, k: int = 5, shape=(2, 12, 16)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape[0], k, *shape[1:], generator=g) * 2
    label = torch.randint(0, k, shape, generator=g)
    label[:, :3, :4] = 255
    return logits, label


def _pixel_ce(logits: torch.Tensor, label: torch.Tensor, weight=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per labelled pixel: -w[y] log softmax[y], w[y], softmax[y] (numpy, pixel by pixel)."""
    x = logits.double().numpy()
    y = label.numpy()
    losses, weights, probs = [], [], []
    for b, i, j in zip(*np.nonzero(y != 255)):
        z = x[b, :, i, j]
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        c = y[b, i, j]
        w = 1.0 if weight is None else weight[c]
        losses.append(-w * np.log(p[c]))
        weights.append(w)
        probs.append(p[c])
    return np.array(losses), np.array(weights), np.array(probs)


def test_cross_entropy_ignore_and_class_weights() -> None:
    logits, label = _batch()
    losses, weights, _ = _pixel_ce(logits, label)
    assert SegCrossEntropy()(logits, label)["loss"].item() == pytest.approx(losses.mean(), rel=1e-5)
    cw = [0.5, 1.0, 2.0, 1.5, 0.8]
    losses, weights, _ = _pixel_ce(logits, label, cw)
    got = SegCrossEntropy(class_weight=cw)(logits, label)["loss"].item()
    assert got == pytest.approx(losses.sum() / weights.sum(), rel=1e-5)  # weighted mean, as torch
    with pytest.raises(ValueError, match="class_weight"):
        SegCrossEntropy(class_weight=[1.0, 2.0])(logits, label)


@pytest.mark.parametrize("thresh,min_kept", [(0.7, 10), (0.3, 100), (0.99, 5), (0.5, 10_000)])
def test_ohem_matches_the_official_rule(thresh: float, min_kept: int) -> None:
    logits, label = _batch(1)
    losses, _, probs = _pixel_ce(logits, label)
    kth = np.sort(probs)[min(min_kept, len(probs) - 1)]
    keep = probs < max(kth, thresh)
    expected = losses[keep].mean()
    got = ohem_cross_entropy(logits, label, thresh, min_kept).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # the GPU's selection (no host synchronisation), run here on CPU tensors: the same loss and gradient
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ohem_cross_entropy(a, label, thresh, min_kept).backward()
    device = ohem_cross_entropy_device(b, label, thresh, min_kept)
    device.backward()
    assert device.item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(a.grad, b.grad, atol=1e-7, rtol=1e-5)
    assert keep.sum() >= min(min_kept, len(probs) - 1)
    # through the module, with the logits at stride 4 upsampled to the label size first
    small = logits[:, :, ::4, ::4].contiguous()
    up = F.interpolate(small, size=label.shape[-2:], mode="bilinear", align_corners=False)
    crit = SegCrossEntropy(ohem=True, ohem_thresh=thresh, ohem_min_kept=min_kept)
    assert crit(small, label)["loss"].item() == pytest.approx(ohem_cross_entropy(up, label, thresh, min_kept).item())


def test_ohem_keeps_only_hard_pixels_and_gets_gradients() -> None:
    logits, label = _batch(2)
    logits.requires_grad_(True)
    loss = ohem_cross_entropy(logits, label, thresh=0.6, min_kept=1)
    loss.backward()
    probs = torch.softmax(logits.detach(), 1).gather(1, label.clamp(max=4).unsqueeze(1))[:, 0]
    easy = (probs >= 0.6) & (label != 255)
    assert easy.any() and torch.all(logits.grad.abs().sum(1)[easy] == 0)
    assert torch.all(logits.grad.abs().sum(1)[label == 255] == 0)


def test_all_ignored_gives_zero_not_nan() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    label = torch.full((1, 4, 4), 255)
    for crit in (SegCrossEntropy(), SegCrossEntropy(ohem=True)):
        loss = crit(logits, label)["loss"]
        assert loss.item() == 0.0
        loss.backward()
    loss = ohem_cross_entropy_device(logits, label)
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()


def test_auxiliary_output_weighted_and_plain_ce() -> None:
    logits, label = _batch(3)
    aux = logits.flip(1)
    crit = SegCrossEntropy(ohem=True, ohem_thresh=0.7, ohem_min_kept=10, weights=(1.0, 0.4))
    out = crit([logits, aux], label)
    main = ohem_cross_entropy(logits, label, 0.7, 10)
    plain = F.cross_entropy(aux, label, ignore_index=255)  # OHEM on the main output only, as official
    assert out["loss_seg"].item() == pytest.approx(main.item())
    assert out["loss_aux"].item() == pytest.approx(plain.item())
    assert out["loss"].item() == pytest.approx(main.item() + 0.4 * plain.item())
    assert set(SegCrossEntropy()(logits, label)) == {"loss"}
