"""train.compile: torch.compile of the model's repeated regions (HRNet modules, residual blocks)."""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import test_engine
from hrseg.engine import TRAIN_DEFAULTS
from hrseg.engine.speed import compile_regions, resolve_speed
from hrseg.errors import ConfigError
from hrseg.models import build_model
from hrseg.models.backbones.hrnet import HighResolutionModule
from hrseg.models.blocks import BasicBlock, Bottleneck


def test_compile_is_asked_for_and_off_with_deterministic():
    assert "compile" in TRAIN_DEFAULTS["train"]
    assert not resolve_speed("cpu").compile and not resolve_speed("cuda").compile  # not measured on a GPU yet
    assert resolve_speed("cpu", compile=True).compile and resolve_speed("cuda", compile=True).compile
    exact = resolve_speed("cuda", compile=True, deterministic=True)
    assert not exact.compile and "compile off: train.deterministic" in exact.describe()
    assert "3 regions compiled" in resolve_speed("cpu", compile=True).describe(3)
    with pytest.raises(ConfigError, match="train.compile"):
        resolve_speed("cpu", compile="max-autotune")


def compiled(module: nn.Module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None


@pytest.mark.parametrize("name, bottlenecks, modules", [("pose_hrnet_w32", 4, 1 + 4 + 3),
                                                         ("pose_hrnet_w18_small_v1", 1, 1 + 1 + 1)])
def test_regions_are_the_hrnet_modules_and_the_blocks_outside_them(name, bottlenecks, modules):
    model = build_model(name)
    keys = list(model.state_dict())
    assert compile_regions(model) == bottlenecks + modules
    kinds = [type(m) for m in model.modules() if compiled(m)]
    assert kinds.count(Bottleneck) == bottlenecks and kinds.count(HighResolutionModule) == modules
    inner = [m for hr in model.modules() if isinstance(hr, HighResolutionModule) for m in hr.modules()
             if isinstance(m, BasicBlock)]
    assert inner and not any(compiled(m) for m in inner)  # compiled with their module, not again
    assert list(model.state_dict()) == keys  # checkpoints keep their names


class BlockNet(nn.Module):
    """A region (hrseg's BasicBlock) between two plain convolutions; no Dropout, whose masks would
    be drawn differently."""

    def __init__(self, norm: bool = True):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BasicBlock(8, 8), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        return self.body(x)


@pytest.mark.slow  # trains twice, compiling (17 s in the lower-bound run)
def test_compiled_training_trains_as_the_eager_one_and_evaluates_eagerly(tmp_path, monkeypatch):
    # on the Trainer's default device: the CPU here; CUDA where there is one (inside the CUDA graph
    # there). float32 and no autotuning, so the two runs differ only by the fused kernels' rounding.
    # SGD: Adam's first steps divide by the gradients' size, which turns last-bit differences of
    # near-zero gradients into whole steps
    monkeypatch.setattr(test_engine, "TinyNet", BlockNet)
    make_trainer = functools.partial(test_engine.make_trainer, max_epochs=2, amp=False, cudnn_benchmark=False,
                                     optimizer_cfg=dict(type="SGD", lr=0.05, momentum=0.9))
    torch._dynamo.reset()
    try:
        eager = make_trainer(tmp_path / "eager")
        eager.fit()
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        fast = make_trainer(tmp_path / "compiled", compile=True)
        fast.fit()  # evaluates after epoch 2
        assert fast.compiled_regions == 1 and compiled(fast.model.body[1])
        # one graph, the training step's; evaluation (eval mode, no_grad) ran eagerly
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs == 1
        assert "1 regions compiled, evaluation eager" in (tmp_path / "compiled" / "train.log").read_text()
        for (k, a), b in zip(eager.model.state_dict().items(), fast.model.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)  # BatchNorm's statistics too
        assert fast.metrics["score"] == pytest.approx(eager.metrics["score"], rel=1e-4)
        if fast.graphed is not None:  # CUDA: the compiled kernels captured in the graph
            assert fast.graphed.graph is not None and fast.graphed.disabled is None
    finally:
        torch._dynamo.reset()
