"""The HRNet backbone and its representations: shapes, parameter counts, complexity."""
from __future__ import annotations

import json
import math

import pytest
import torch

import hrseg
from hrseg.errors import ConfigError
from hrseg.models.backbones import HRNet, hrnet_spec, named_spec, named_specs
from hrseg.models.representations import V1, V2, V2p
from hrseg.utils.flops import measure_complexity

BACKBONES = ["hrnet_w18_small_v1", "hrnet_w18_small_v2", "hrnet_w18", "hrnet_w30", "hrnet_w32", "hrnet_w40",
             "hrnet_w44", "hrnet_w48", "hrnet_w64"]
WIDTH = {"hrnet_w18_small_v1": 16, "hrnet_w18_small_v2": 18}


def test_named_configurations_are_all_listed():
    assert set(BACKBONES) == set(named_specs())
    assert set(BACKBONES) <= set(hrseg.list_models())
    for name in ("pose_hrnet_w32", "pose_hrnet_w48", "seg_hrnetv2_w18", "seg_hrnetv2_w48", "hrnetv2p_w32"):
        assert name in hrseg.list_models()


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("size", [(64, 64), (96, 72), (100, 75)])
def test_stream_shapes(name, size):
    """Streams at strides 4..32 with widths C..8C; sizes not divisible by 32 round up."""
    model = hrseg.build_model(name).eval()
    c = WIDTH.get(name, int(name.split("_w")[1].split("_")[0]))
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [o.shape[1] for o in outs] == [c, 2 * c, 4 * c, 8 * c] == model.out_channels
    assert model.out_strides == [4, 8, 16, 32]
    for k, o in enumerate(outs):
        assert tuple(o.shape[-2:]) == tuple(math.ceil(s / 2 ** (k + 2)) for s in size)


def test_structure_follows_the_paper():
    spec = named_spec("hrnet_w32")
    assert [s.num_modules for s in spec.stages] == [1, 1, 4, 3]
    assert [s.num_branches for s in spec.stages] == [1, 2, 3, 4]
    assert all(b == 4 for s in spec.stages for b in s.num_blocks)
    assert spec.stages[0].block == "BOTTLENECK" and spec.stages[0].out_channels() == [256]
    assert spec.stages[3].num_channels == (32, 64, 128, 256)
    model = HRNet(spec)
    # Fusion down-paths: stride-2 3x3 conv + BN, ReLU between consecutive ones, none after the last.
    path = model.stage4[0].fuse_layers[3][0]
    assert len(path) == 3
    assert [len(step) for step in path] == [3, 3, 2]
    assert all(step[0].stride == (2, 2) and step[0].kernel_size == (3, 3) for step in path)
    # Up-paths: 1x1 conv + BN (upsampling happens in forward).
    up = model.stage4[0].fuse_layers[0][3]
    assert up[0].kernel_size == (1, 1) and isinstance(up[1], torch.nn.BatchNorm2d) and len(up) == 2


def test_width_and_depth_are_configuration():
    spec = hrnet_spec(8, modules=(1, 1, 1), blocks=1, stage1_blocks=1, stage1_planes=16)
    model = HRNet(spec).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [8, 16, 32, 64]
    assert len(model.stage3) == 1 and len(model.stage3[0].branches[0]) == 1


@pytest.mark.parametrize("norm", ["BN", "SyncBN", "GN"])
def test_norm_is_selectable(norm):
    model = hrseg.build_model("hrnet_w18_small_v1", norm=norm).eval()
    kinds = {type(m).__name__ for m in model.modules()}
    expected = {"BN": "BatchNorm2d", "SyncBN": "SyncBatchNorm", "GN": "GroupNorm"}[norm]
    assert expected in kinds
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))[0].shape[1] == 16


def test_unknown_names_are_clear_errors():
    with pytest.raises(ConfigError, match="did you mean"):
        hrseg.build_model("pose_hrnet_w33")
    with pytest.raises(ConfigError, match="unknown norm"):
        hrseg.build_model("hrnet_w18", norm="LN")
    with pytest.raises(ConfigError, match="bad option"):
        hrseg.build_model("hrnet_w18", colour="red")


def test_fusion_upsampling_is_selectable():
    x = torch.randn(1, 3, 64, 64)
    torch.manual_seed(1)
    nearest = hrseg.build_model("hrnet_w18_small_v1", upsample="nearest").eval()
    torch.manual_seed(1)
    bilinear = hrseg.build_model("hrnet_w18_small_v1", upsample="bilinear").eval()
    for m in (nearest, bilinear):  # make the fusion matter
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.1)
    bilinear.load_state_dict(nearest.state_dict())
    with torch.no_grad():
        assert not torch.allclose(nearest(x)[0], bilinear(x)[0])


def test_representations():
    feats = [torch.randn(2, c, 16 // 2 ** i, 12 // 2 ** i) for i, c in enumerate([18, 36, 72, 144])]
    v1, v2, v2p = V1([18, 36, 72, 144]), V2([18, 36, 72, 144]), V2p([18, 36, 72, 144])
    assert v1(feats) is feats[0]
    out = v2(feats)
    assert out.shape == (2, 270, 16, 12) and v2.out_channels == 270
    assert torch.equal(out[:, :18], feats[0])
    levels = v2p(feats)
    assert [tuple(t.shape) for t in levels] == [(2, 256, 16, 12), (2, 256, 8, 6), (2, 256, 4, 3),
                                                (2, 256, 2, 2), (2, 256, 1, 1)]
    assert v2p.out_strides == [4, 8, 16, 32, 64]


def test_task_model_shapes():
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        assert hrseg.build_model("pose_hrnet_w18_small_v1").eval()(x).shape == (1, 17, 32, 24)
        assert hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=60).eval()(x).shape == (1, 60, 32, 24)
        levels = hrseg.build_model("hrnetv2p_w18_small_v1").eval()(x)
    assert len(levels) == 5 and levels[0].shape == (1, 256, 32, 24)


def _layout_params(path) -> int:
    layout = json.loads(path.read_text())
    return sum(math.prod(s) for k, s in layout.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


@pytest.mark.parametrize("name,layout,stated", [
    ("pose_hrnet_w32", "pose_hrnet_w32_256x192.json", 28.54e6),
    ("pose_hrnet_w48", "pose_hrnet_w48_256x192.json", 63.60e6),
    ("seg_hrnetv2_w48", "seg_hrnet_w48_cityscapes_19.json", 65.86e6),
])
def test_parameter_counts_match_the_official_models(name, layout, stated, shared_reference):
    model = hrseg.build_model(name)
    params = sum(p.numel() for p in model.parameters())
    assert params == _layout_params(shared_reference / "checkpoint_layouts" / layout)
    assert abs(params - stated) / stated < 0.001


def test_parameter_count_pascal_context(shared_reference):
    model = hrseg.build_model("seg_hrnetv2_w48", num_classes=59)
    assert sum(p.numel() for p in model.parameters()) == _layout_params(
        shared_reference / "checkpoint_layouts" / "seg_hrnet_w48_pascal_ctx_59.json")


@pytest.mark.parametrize("name,size,gflops", [
    ("pose_hrnet_w32", (256, 192), 7.1), ("pose_hrnet_w48", (256, 192), 14.6),
    ("pose_hrnet_w32", (384, 288), 16.0), ("pose_hrnet_w48", (384, 288), 32.9),
])
def test_gflops_match_the_papers(name, size, gflops):
    with torch.device("meta"):  # shapes alone: the counter needs no arithmetic (the same count, in a second)
        model = hrseg.build_model(name)
    c = measure_complexity(model, size)
    assert abs(c.gflops_paper - gflops) / gflops < 0.01
    assert c.gmacs == pytest.approx(c.macs / 1e9)


def test_segmentation_gflops_at_cityscapes_size():
    with torch.device("meta"):
        model = hrseg.build_model("seg_hrnetv2_w48")
    c = measure_complexity(model, (1024, 2048))
    assert abs(c.gflops_paper - 696.2) / 696.2 < 0.01
    # counted on shapes alone (the meta device) as on real tensors: checked on a small model
    with torch.device("meta"):
        small = hrseg.build_model("seg_hrnetv2_w18_small_v1")
    real = measure_complexity(hrseg.build_model("seg_hrnetv2_w18_small_v1"), (64, 128))
    assert measure_complexity(small, (64, 128)) == real and real.macs > 0


def test_package_never_imports_openmmlab():
    import subprocess
    import sys

    code = ("import sys, hrseg, torch; m = hrseg.build_model('pose_hrnet_w18_small_v1');"
            "hrseg.optimize_for_inference(m.eval());"
            "import hrseg.checkpoint, hrseg.benchmark;"
            "bad = [k for k in sys.modules if k.split('.')[0] in ('mmcv', 'mmengine')]; print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
