"""MBConv: hand-computed outputs, the block interface, options, and use inside HRNet."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hrseg.errors import ConfigError
from hrseg.models.backbones.hrnet import HRNet, hrnet_spec
from hrseg.models.blocks import get_block, make_blocks
from hrseg.models.mbconv import MBConv, drop_path


def exact_bn(channels: int) -> nn.BatchNorm2d:
    """BatchNorm whose eval-mode output is exactly ``weight * x + bias`` (running stats 0/1, eps 0)."""
    return nn.BatchNorm2d(channels, eps=0.0)


def set_affine(bn: nn.BatchNorm2d, weight: list[float], bias: list[float]) -> None:
    bn.weight.copy_(torch.tensor(weight))
    bn.bias.copy_(torch.tensor(bias))


@torch.no_grad()
def test_hand_computed_block_without_expansion():
    """2 channels, ratio 1 (no expansion conv), ReLU, SE to 1 channel, identity shortcut."""
    block = MBConv(2, 2, 1, exact_bn, expand_ratio=1, kernel_size=3, se_ratio=0.5, activation="relu").eval()
    assert block.conv_pw is None and block.downsample is None
    assert block.se.conv_reduce.out_channels == 1  # max(1, int(2 * 0.5))
    # Depthwise: channel 0 keeps its centre pixel (identity), channel 1 sums its 3x3 box.
    block.conv_dw.weight.zero_()
    block.conv_dw.weight[0, 0, 1, 1] = 1.0
    block.conv_dw.weight[1, 0] = 1.0
    set_affine(block.bn2, [1.0, 1.0], [0.0, -5.0])
    # SE: z = relu(0.5 * mean0 - 0.5 * mean1); gate0 = sigmoid(0 * z) = 1/2, gate1 = sigmoid(ln3 * z).
    block.se.conv_reduce.weight.copy_(torch.tensor([0.5, -0.5]).view(1, 2, 1, 1))
    block.se.conv_reduce.bias.zero_()
    block.se.conv_expand.weight.copy_(torch.tensor([0.0, math.log(3.0)]).view(2, 1, 1, 1))
    block.se.conv_expand.bias.zero_()
    # Projection swaps the channels; bn3 shifts channel 0 by -1 (no activation after it).
    block.conv_pwl.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]).view(2, 2, 1, 1))
    set_affine(block.bn3, [1.0, 1.0], [-1.0, 0.0])

    x0 = [[1, -2, 3], [-4, 6, -6], [7, -8, 9]]
    x1 = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    x = torch.tensor([[x0, x1]], dtype=torch.float32)

    # Depthwise + bn2 + ReLU:
    #   ch0 = relu(x0)                          = [[1,0,3],[0,6,0],[7,0,9]]      (mean 26/9)
    #   ch1 = relu(box-count - 5) = relu([[4,6,4],[6,9,6],[4,6,4]] - 5)
    #                                           = [[0,1,0],[1,4,1],[0,1,0]]      (mean 8/9)
    # SE: z = relu(0.5 * 26/9 - 0.5 * 8/9) = 1 -> gate0 = 0.5, gate1 = sigmoid(ln 3) = 3/4
    #   ch0 = [[.5,0,1.5],[0,3,0],[3.5,0,4.5]],  ch1 = [[0,.75,0],[.75,3,.75],[0,.75,0]]
    # Projection (swap) + bn3 bias (-1, 0) + residual x:
    #   out0 = ch1 - 1 + x0,  out1 = ch0 + x1
    expected = torch.tensor([[
        [[0.0, -2.25, 2.0], [-4.25, 8.0, -6.25], [6.0, -8.25, 8.0]],
        [[1.5, 1.0, 2.5], [1.0, 4.0, 1.0], [4.5, 1.0, 5.5]],
    ]])
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-6)


@torch.no_grad()
def test_hand_computed_block_with_expansion():
    """1 -> 2 hidden channels (ratio 2), no SE: the block computes 2|x| + x."""
    block = MBConv(1, 1, 1, exact_bn, expand_ratio=2, se_ratio=0.0, activation="relu").eval()
    assert block.se is None and block.conv_pw.out_channels == 2
    block.conv_pw.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))  # (x, -x), then ReLU
    block.conv_dw.weight.zero_()
    block.conv_dw.weight[:, 0, 1, 1] = 1.0                                   # identity
    block.conv_pwl.weight.copy_(torch.tensor([1.0, 1.0]).view(1, 2, 1, 1))   # relu(x) + relu(-x) = |x|
    set_affine(block.bn3, [2.0], [0.0])
    x = torch.tensor([[[[1.0, -2.0, 3.0], [-4.0, 0.0, -6.0], [7.0, -8.0, 9.0]]]])
    expected = torch.tensor([[[[3.0, 2.0, 9.0], [4.0, 0.0, 6.0], [21.0, 8.0, 27.0]]]])
    torch.testing.assert_close(block(x), expected, rtol=0, atol=0)


def test_block_interface_and_options():
    assert get_block("MBCONV") is MBConv and MBConv.expansion == 1
    block = MBConv(8, 16, 2, nn.BatchNorm2d, expand_ratio=3, kernel_size=5, activation="hardswish")
    assert block.downsample is not None                      # projection where channels change
    assert block.conv_pw.out_channels == 24 and block.conv_dw.kernel_size == (5, 5)
    assert block.se.conv_reduce.out_channels == 2            # int(8 * 0.25), from the input width
    assert isinstance(block.act1, nn.Hardswish) and isinstance(block.se.act, nn.Hardswish)
    assert isinstance(MBConv(4, 4).act2, nn.SiLU)            # swish by default
    assert block(torch.randn(2, 8, 9, 7)).shape == (2, 16, 5, 4)
    with pytest.raises(ConfigError, match="activation"):
        MBConv(4, 4, activation="gelu2")
    with pytest.raises(TypeError):                           # typos are not swallowed
        MBConv(4, 4, se_rato=0.5)
    seq = make_blocks("MBCONV", 6, 12, 3, nn.BatchNorm2d, expand_ratio=2)
    assert seq[0].downsample is not None and all(b.downsample is None for b in seq[1:])


def test_drop_path():
    x = torch.ones(64, 3, 2, 2)
    assert drop_path(x, 0.5, training=False) is x
    assert torch.equal(drop_path(x, 1.0, training=True), torch.zeros_like(x))
    y = drop_path(x, 0.5, training=True)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1/(1-0.5)
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)  # whole samples dropped
    block = MBConv(4, 4, drop_path_rate=1.0).train()
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(block(x), x)           # branch dropped: identity only
    block.eval()
    assert not torch.equal(block(x), x)


def test_hrnet_with_mbconv_branches_trains_and_folds():
    from hrseg.inference.optimize import optimize_for_inference

    spec = hrnet_spec(8, modules=(1, 1, 1), blocks=1, stage1_blocks=1, stage1_planes=8,
                      stem_width=8).with_block("MBCONV", expand_ratio=2, se_ratio=0.25)
    model = HRNet(spec)
    assert isinstance(model.stage3[0].branches[0][0], MBConv)
    x = torch.randn(2, 3, 64, 48)
    outs = model(x)
    assert [o.shape[1:] for o in outs] == [(8, 16, 12), (16, 8, 6), (32, 4, 3), (64, 2, 2)]
    sum(o.square().mean() for o in outs).backward()
    assert model.stage4[0].branches[3][0].se.conv_expand.weight.grad is not None
    model.eval()
    with torch.no_grad():
        reference = model(x)
        fast = optimize_for_inference(model)(x)
    for a, b in zip(reference, fast):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


# -- Fused-MBConv (EfficientNetV2) ------------------------------------------------------------------
def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_fused_mbconv_shapes_and_parameter_count():
    from hrseg.models.mbconv import FusedMBConv

    assert get_block("FUSED_MBCONV") is FusedMBConv and FusedMBConv.expansion == 1
    # 8 -> 16 channels, stride 2, expansion 4, 3x3, SE 1/4 (2 channels, from the input width):
    #   conv_exp 8*32*9 = 2304, bn1 2*32 = 64, SE (32*2 + 2) + (2*32 + 32) = 162,
    #   conv_pwl 32*16 = 512, bn2 2*16 = 32, shortcut 8*16 + 2*16 = 160  -> 3234
    block = FusedMBConv(8, 16, 2, nn.BatchNorm2d, expand_ratio=4, kernel_size=3, se_ratio=0.25)
    assert block.conv_exp.kernel_size == (3, 3) and block.conv_exp.groups == 1 and block.conv_exp.stride == (2, 2)
    assert n_params(block) == 2304 + 64 + 162 + 512 + 32 + 160
    assert block(torch.randn(2, 8, 9, 7)).shape == (2, 16, 5, 4)
    # 5x5, expansion 6, no SE (EfficientNetV2's default for fused stages), identity shortcut:
    #   conv_exp 4*24*25 = 2400, bn1 48, conv_pwl 24*4 = 96, bn2 8 -> 2552
    block = FusedMBConv(4, 4, 1, nn.BatchNorm2d, expand_ratio=6, kernel_size=5)
    assert block.se is None and block.downsample is None and n_params(block) == 2400 + 48 + 96 + 8
    assert block(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)
    with pytest.raises(ConfigError, match="odd"):
        FusedMBConv(4, 4, kernel_size=4)
    with pytest.raises(ConfigError, match="expand_ratio"):
        FusedMBConv(4, 4, expand_ratio=0.5)


@torch.no_grad()
def test_fused_mbconv_expansion_one_is_a_single_conv():
    """Expansion 1: one 3x3 conv straight to ``planes`` + norm + act, no projection; hand-computed."""
    from hrseg.models.mbconv import FusedMBConv

    block = FusedMBConv(1, 1, 1, exact_bn, expand_ratio=1, kernel_size=3, activation="relu").eval()
    assert block.conv_pwl is None and block.se is None and block.conv_exp.out_channels == 1
    assert n_params(block) == 9 + 2  # the 3x3 kernel and bn1's affine
    block.conv_exp.weight.fill_(1.0)               # 3x3 box sum (zero padding)
    set_affine(block.bn1, [1.0], [-5.0])
    x = torch.ones(1, 1, 3, 3)
    # box counts [[4,6,4],[6,9,6],[4,6,4]] - 5, ReLU -> [[0,1,0],[1,4,1],[0,1,0]], + x
    expected = torch.tensor([[[[1.0, 2.0, 1.0], [2.0, 5.0, 2.0], [1.0, 2.0, 1.0]]]])
    torch.testing.assert_close(block(x), expected, rtol=0, atol=0)
    # with a channel change the expansion-1 conv maps in -> planes and a projection shortcut adds
    block = FusedMBConv(3, 5, 1, nn.BatchNorm2d, expand_ratio=1)
    assert block.conv_exp.out_channels == 5 and n_params(block) == 3 * 5 * 9 + 10 + 3 * 5 + 10


def test_hrnet_with_fused_and_mbconv_stages():
    """Stages may mix block types: Fused-MBConv in stage 2, MBConv in 3, BASIC in 4."""
    from dataclasses import replace

    from hrseg.models.mbconv import FusedMBConv

    spec = hrnet_spec(8, modules=(1, 1, 1), blocks=1, stage1_blocks=1, stage1_planes=8, stem_width=8)
    stages = list(spec.stages)
    stages[1] = replace(stages[1], block="FUSED_MBCONV", block_options=(("expand_ratio", 4.0), ("kernel_size", 5)))
    stages[2] = replace(stages[2], block="MBCONV", block_options=(("expand_ratio", 6.0),))
    model = HRNet(replace(spec, stages=tuple(stages)))
    assert isinstance(model.stage2[0].branches[1][0], FusedMBConv)
    assert model.stage2[0].branches[1][0].conv_exp.kernel_size == (5, 5)
    assert isinstance(model.stage3[0].branches[0][0], MBConv)
    outs = model(torch.randn(2, 3, 64, 48))
    assert [o.shape[1:] for o in outs] == [(8, 16, 12), (16, 8, 6), (32, 4, 3), (64, 2, 2)]
