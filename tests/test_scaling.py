"""Compound scaling: the rule's arithmetic, the scaled pose family and the light MBConv network."""
from __future__ import annotations

import math

import pytest
import torch

import hrseg
from hrseg.errors import ConfigError
from hrseg.models.backbones.hrnet import HRNet
from hrseg.models.mbconv import MBConv
from hrseg.models.scaling import (
    EFF_BASE, EFF_COEFFICIENTS, MB_LITE, NAMED_NETWORKS, ScalableHRNet, ScalingCoefficients, round_to,
    scale_depth, scale_network,
)
from hrseg.utils.flops import measure_complexity

FAMILY = [f"pose_effhrnet_b{i}" for i in range(5)]


def test_coefficients_arithmetic_and_validation():
    c = ScalingCoefficients(1.2, 1.1, 1.15)
    assert c.flops_factor == pytest.approx(1.2 * 1.21 * 1.3225)  # 1.92
    d, w, r = c.multipliers(3)
    assert (d, w, r) == pytest.approx((1.728, 1.331, 1.520875))
    assert c.validate() is c
    with pytest.raises(ConfigError, match=">= 1"):
        ScalingCoefficients(0.9, 1.2, 1.2).validate()
    with pytest.raises(ConfigError, match="1.500"):
        ScalingCoefficients(1.5, 1.0, 1.0).validate()
    assert ScalingCoefficients(2.0, 1.0, 1.0).validate().flops_factor == 2.0


def test_rounding_and_depth():
    assert [round_to(v, 1) for v in (19.36, 19.5, 0.2)] == [19, 20, 1]
    assert round_to(338.56, 16) == 336 and round_to(376.0, 16) == 384
    # One module of 4 blocks: the blocks grow first (4.8 -> 5) ...
    assert scale_depth(1, 4, 1.2, max_blocks=8) == (1, 5)
    # ... a second module comes when they would pass max_blocks (8.29 -> 2 modules of 4) ...
    assert scale_depth(1, 4, 1.2 ** 4, max_blocks=8) == (2, 4)
    # ... and a stage never loses modules: 4 modules x 4 blocks x 1.2 = 19.2 -> 4 x 5.
    assert scale_depth(4, 4, 1.2, max_blocks=8) == (4, 5)
    assert scale_depth(3, 2, 1.0, max_blocks=8) == (3, 2)


def test_scale_network_by_hand():
    base = ScalableHRNet(width=16, modules=(1, 1, 1), blocks=(4, 4, 4), stage1_planes=32, stem_width=32,
                         input_size=(256, 192))
    assert scale_network(base, EFF_COEFFICIENTS, 0) == base
    # phi = 2: depth 1.44, width 1.21, resolution 1.3225
    net = scale_network(base, ScalingCoefficients(1.2, 1.1, 1.15), 2)
    assert net.width == 19 and net.stage1_planes == 39 and net.stem_width == 39  # 16 * 1.21, 32 * 1.21
    assert net.modules == (1, 1, 1) and net.blocks == (6, 6, 6)                  # 4 * 1.44 = 5.76
    assert net.input_size == (336, 252)                                          # 256 * 1.3225 -> x16, 4:3
    with pytest.raises(ConfigError, match="phi"):
        scale_network(base, EFF_COEFFICIENTS, -1)
    spec = net.spec()
    assert [s.num_modules for s in spec.stages] == [1, 1, 1, 1]
    assert spec.stages[3].num_channels == (19, 38, 76, 152) and spec.stages[3].num_blocks == (6,) * 4


def test_family_registered_with_the_rule():
    assert set(FAMILY + ["pose_mbhrnet_lite"]) <= set(hrseg.list_models())
    for phi, name in enumerate(FAMILY):
        assert NAMED_NETWORKS[name] == scale_network(EFF_BASE, EFF_COEFFICIENTS, phi)
    EFF_COEFFICIENTS.validate()


@pytest.mark.parametrize("name", FAMILY + ["pose_mbhrnet_lite"])
def test_shapes_of_every_scaled_model(name):
    """At its own input size (shape propagation on the meta device): 17 heatmaps at stride 4,
    branch widths C..8C and the modules and blocks the rule gave."""
    net = NAMED_NETWORKS[name]
    with torch.device("meta"):
        model = hrseg.build_model(name)
        out = model(torch.zeros(2, 3, *model.input_size))
    h, w = model.input_size
    assert model.input_size == net.input_size and h % 16 == 0 and w * 4 == h * 3
    assert out.shape == (2, 17, h // 4, w // 4)
    backbone: HRNet = model.backbone
    c = net.width
    assert [len(getattr(backbone, f"stage{s}")) for s in (2, 3, 4)] == list(net.modules)
    for s, blocks in zip((2, 3, 4), net.blocks):
        module = getattr(backbone, f"stage{s}")[0]
        assert [len(branch) for branch in module.branches] == [blocks] * s
        norms = [[m for m in branch[-1].modules() if isinstance(m, torch.nn.BatchNorm2d)] for branch in module.branches]
        assert [n[-1].num_features for n in norms] == [c * 2 ** b for b in range(s)]
    assert backbone.transition3[3][-1][-2].num_features == 8 * c  # the new stride-32 branch: 8C wide


def test_each_step_about_doubles_the_flops():
    macs = []
    for name in FAMILY:
        with torch.device("meta"):
            model = hrseg.build_model(name)
        macs.append(measure_complexity(model, model.input_size).macs)
    ratios = [b / a for a, b in zip(macs, macs[1:])]
    assert all(abs(r - 2) <= 0.15 * 2 for r in ratios), ratios
    # The product of the steps follows the coefficients' factor within the rounding.
    assert macs[-1] / macs[0] == pytest.approx(EFF_COEFFICIENTS.flops_factor ** 4, rel=0.25)


def test_a_small_scaled_model_runs_and_keeps_aspect():
    model = hrseg.build_model("pose_effhrnet_b0", num_joints=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 48)).shape == (1, 5, 16, 12)


def test_light_mbconv_network():
    model = hrseg.build_model("pose_mbhrnet_lite").eval()
    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    assert len(blocks) == 2 * (2 * 2 + 4 * 3 + 2 * 4)   # modules x branches x 2 blocks
    assert all(b.se is not None and b.conv_pw is None and isinstance(b.act2, torch.nn.SiLU) for b in blocks)
    # Separable fusion: depthwise stride-2 3x3, norm, pointwise 1x1, norm (ReLU between steps).
    path = model.backbone.stage4[0].fuse_layers[3][0]
    first = path[0]
    assert first[0].groups == first[0].in_channels == 32 and first[0].stride == (2, 2)
    assert first[2].kernel_size == (1, 1) and isinstance(first[-1], torch.nn.ReLU)
    assert not isinstance(path[-1][-1], torch.nn.ReLU)
    c = measure_complexity(model, (256, 192))
    assert c.params < 1.5e6 and c.gflops_paper < 0.35   # about Lite-HRNet-18's 1.1M / 0.2
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # non-trivial folding
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
        reference = model(x)
        folded = hrseg.optimize_for_inference(model)(x)
    assert reference.shape == (1, 17, 16, 12)
    torch.testing.assert_close(folded, reference, rtol=1e-4, atol=1e-4)
    assert MB_LITE.spec().fusion == "separable"


def test_unknown_fusion_is_a_config_error():
    from dataclasses import replace

    with pytest.raises(ConfigError, match="fusion"):
        HRNet(replace(EFF_BASE.spec(), fusion="sparse"))


def test_any_layout_from_a_config():
    """pose_scalable_hrnet takes a ScalableHRNet layout as plain config values (the search's models)."""
    b1 = NAMED_NETWORKS["pose_effhrnet_b1"]
    with torch.device("meta"):
        from_config = hrseg.build_model("pose_scalable_hrnet", width=b1.width, modules=list(b1.modules),
                                        blocks=list(b1.blocks), stage1_planes=b1.stage1_planes,
                                        stem_width=b1.stem_width, input_size=[288, 216])
        named = hrseg.build_model("pose_effhrnet_b1")
        default = hrseg.build_model("pose_scalable_hrnet")
        b0 = hrseg.build_model("pose_effhrnet_b0")
    assert repr(from_config) == repr(named) and from_config.input_size == (288, 216)
    assert repr(default) == repr(b0)
    with pytest.raises(ConfigError, match="modules"):
        hrseg.build_model("pose_scalable_hrnet", modules=[1, 2])


def test_search_grid_keeps_the_flops_budget():
    """hrseg.experiments.scaling_search: every candidate has alpha * beta^2 * gamma^2 = 2 and gamma >= 1."""
    from hrseg.experiments import scaling_search as tool

    grid = tool.candidates([1.0, 1.2, 1.4], [1.0, 1.2])
    assert [(c.alpha, c.beta) for c in grid] == [(1.0, 1.0), (1.0, 1.2), (1.2, 1.0), (1.2, 1.2), (1.4, 1.0)]
    assert all(c.flops_factor == pytest.approx(2.0, abs=0.005) and c.gamma >= 1 for c in grid)  # 1.4 x 1.44 > 2: out
    assert grid[0].gamma == pytest.approx(math.sqrt(2), abs=1e-3)
    with pytest.raises(ConfigError, match="gamma >= 1"):
        tool.candidates([2.0], [1.2])
    assert tool.signature(NAMED_NETWORKS["pose_effhrnet_b1"]) != tool.signature(NAMED_NETWORKS["pose_effhrnet_b2"])


def test_effhrnetv2_s_is_the_search_winner():
    """pose_effhrnetv2_s is the search's winning candidate on the search's base layout, at 256x192."""
    from dataclasses import replace

    from hrseg.experiments.effnetv2_search import candidate_network, parse_candidate
    from hrseg.models.mbconv import FusedMBConv
    from hrseg.models.scaling import EFFV2_S, EFFV2_SEARCH_BASE

    winner = candidate_network(replace(EFFV2_SEARCH_BASE, input_size=(256, 192)), parse_candidate("F3e4x3-F5e6x2-F3e4x2"))
    assert winner == EFFV2_S and NAMED_NETWORKS["pose_effhrnetv2_s"] is EFFV2_S
    from pathlib import Path

    from hrseg.experiments.common import base_network
    from hrseg.tasks.pose import load_pose_config

    config = Path(__file__).resolve().parents[1] / "configs" / "effnet" / "search_effnetv2.py"
    base, extra = base_network(load_pose_config(config))
    assert base == replace(EFFV2_SEARCH_BASE, input_size=(128, 96)) and extra == {"init": "kaiming"}
    with torch.device("meta"):
        model = hrseg.build_model("pose_effhrnetv2_s")
    assert model.input_size == (256, 192)
    first = model.backbone.stage2[0].branches[0][0]
    assert isinstance(first, FusedMBConv) and first.conv_exp.kernel_size == (3, 3) and first.se is None
    assert len(model.backbone.stage2[0].branches[1]) == 3 and len(model.backbone.stage4[0].branches[3]) == 2
    middle = model.backbone.stage3[0].branches[2][1]
    assert isinstance(middle, FusedMBConv) and middle.conv_exp.kernel_size == (5, 5)
    assert middle.conv_exp.out_channels == 6 * 64                      # expansion 6 on the 4C = 64 branch
    assert sum(p.numel() for p in model.parameters()) == 3_806_113     # the search's count (docs/efficientnet.md)
