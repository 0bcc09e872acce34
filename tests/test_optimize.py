"""The inference path (BatchNorm folded, channels_last) equals eager evaluation."""
from __future__ import annotations

import pytest
import torch

import hrseg
from conftest import randomize_weights




@pytest.mark.parametrize("name", ["pose_hrnet_w18_small_v1", "seg_hrnetv2_w18_small_v1", "hrnetv2p_w18_small_v1",
                                  "hrnet_w18_small_v2"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_optimized_equals_eager(name, channels_last):
    model = randomize_weights(hrseg.build_model(name))
    fast = hrseg.optimize_for_inference(model, channels_last=channels_last)
    x = torch.randn(2, 3, 96, 72)
    with torch.no_grad():
        a, b = model(x), fast(x)
    a, b = (a, b) if isinstance(a, list) else ([a], [b])
    for u, v in zip(a, b):
        scale = u.abs().max().item()
        assert (u - v).abs().max().item() <= 1e-4 * max(1.0, scale)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert model.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_optimize_leaves_the_original_model_alone():
    model = hrseg.build_model("pose_hrnet_w18_small_v1").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hrseg.optimize_for_inference(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["pose_hrnet_w18_small_v1", "hrnet_w18_small_v1"])
def test_bfloat16_path_returns_float32_close_to_eager(name):
    """bfloat16 weights and activations: float32 outputs (tensors or lists), within bfloat16's
    precision of eager (its 8-bit mantissa gives relative errors of a few 1e-3 per layer)."""
    model = randomize_weights(hrseg.build_model(name))
    fast = hrseg.optimize_for_inference(model, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in fast.parameters())
    x = torch.randn(2, 3, 96, 72)
    with torch.no_grad():
        a, b = model(x), fast(x)
    a, b = (a, b) if isinstance(a, list) else ([a], [b])
    for u, v in zip(a, b):
        assert v.dtype == torch.float32 and v.shape == u.shape
        rel = ((u - v).norm() / u.norm()).item()
        assert 0 < rel < 0.05  # not float32 (0) and not garbage
    with pytest.raises(ValueError, match="dtype"):
        hrseg.optimize_for_inference(model, dtype=torch.int8)
