"""mmcv's parameter-wise optimizer options, its warmup kinds and the official segmentation code's lr
timing (hrseg.engine.schedules), each against a transcription of the code the recipes come from."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hrseg.engine.schedules import build_optimizer, build_scheduler, check_schedule, param_groups
from hrseg.errors import ConfigError


class _Net(nn.Module):
    """Every kind of parameter mmcv's rules tell apart: conv weights and biases, BatchNorm, GroupNorm,
    a depthwise convolution with a bias, a frozen layer, and a head outside the backbone."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, groups=8),
                                      nn.GroupNorm(2, 8), nn.Conv2d(8, 8, 1))
        self.backbone[4].weight.requires_grad_(False)
        self.head = nn.Sequential(nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4), nn.Linear(4, 2))


def _mmcv_add_params(module: nn.Module, base_lr: float, base_wd: float, paramwise: dict, prefix: str = "",
                     out: dict | None = None) -> dict:
    """mmcv 1.x DefaultOptimizerConstructor.add_params without custom keys and DCN: name -> (lr, wd)."""
    out = {} if out is None else out
    is_norm = isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
                                  nn.GroupNorm, nn.LayerNorm))
    is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
    for name, param in module.named_parameters(recurse=False):
        if not param.requires_grad:
            continue
        lr, wd = base_lr, base_wd
        if name == "bias" and not is_norm:
            lr = base_lr * paramwise.get("bias_lr_mult", 1.0)
        if is_norm:
            wd = base_wd * paramwise.get("norm_decay_mult", 1.0)
        elif is_dwconv:
            wd = base_wd * paramwise.get("dwconv_decay_mult", 1.0)
        elif name == "bias":
            wd = base_wd * paramwise.get("bias_decay_mult", 1.0)
        out[f"{prefix}.{name}" if prefix else name] = (lr, wd)
    for child_name, child in module.named_children():
        _mmcv_add_params(child, base_lr, base_wd, paramwise, f"{prefix}.{child_name}" if prefix else child_name, out)
    return out


def _lr_wd_by_name(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}


@pytest.mark.parametrize("paramwise", [
    dict(bias_lr_mult=2.0, bias_decay_mult=0.0),  # mmdetection's FCOS
    dict(norm_decay_mult=0.0),
    dict(bias_lr_mult=3.0, bias_decay_mult=0.5, norm_decay_mult=0.25, dwconv_decay_mult=0.1),
])
def test_paramwise_options_equal_mmcv(paramwise):
    model = _Net()
    optimizer = build_optimizer(model, dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=1e-4, **paramwise))
    expected = _mmcv_add_params(model, 0.01, 1e-4, paramwise)
    got = _lr_wd_by_name(model, optimizer)
    assert got.keys() == expected.keys()  # the frozen weight left out
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-12), name
    assert got["backbone.2.bias"][1] == pytest.approx(1e-4 * paramwise.get("dwconv_decay_mult", 1.0))
    assert optimizer.param_groups[0]["lr"] == 0.01  # the logged lr is the base lr


def test_paramwise_options_multiply_onto_the_head_lr():
    model = _Net()
    optimizer = build_optimizer(model, dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=1e-4, head_lr_mult=10.0,
                                            bias_lr_mult=2.0, bias_decay_mult=0.0))
    got = _lr_wd_by_name(model, optimizer)
    assert got["head.0.bias"] == pytest.approx((0.2, 0.0))
    assert got["head.0.weight"] == pytest.approx((0.1, 1e-4))
    assert got["head.1.bias"] == pytest.approx((0.1, 1e-4))  # a norm layer's bias: neither multiplier
    assert got["backbone.4.bias"] == pytest.approx((0.02, 0.0))
    assert got["backbone.0.weight"] == pytest.approx((0.01, 1e-4))
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_without_paramwise_options_one_group_as_before():
    model = _Net()
    assert len(build_optimizer(model, dict(type="Adam", lr=1e-3)).param_groups) == 1
    groups = param_groups(model, {"head_lr_mult": 10.0})
    assert [(lr, wd) for lr, wd, _ in groups] == [(1.0, 1.0), (10.0, 1.0)]
    assert [len(params) for *_, params in groups] == [8, 6]  # the frozen weight left out
    with pytest.raises(ConfigError, match="head_lr_mult needs a model with a 'backbone'"):
        param_groups(nn.Linear(2, 2), {"head_lr_mult": 2.0})


def _lrs(schedule: dict, iters: int, iters_per_epoch: int = 10, max_epochs: int = 5) -> list[float]:
    """The lr each of the first ``iters`` optimizer steps runs at."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.01)
    scheduler = build_scheduler(optimizer, schedule, iters_per_epoch, max_epochs)
    lrs = []
    for _ in range(iters):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("kind", ["linear", "constant", "exp"])
def test_warmup_kinds_equal_mmcv(kind):
    """mmcv's LrUpdaterHook.get_warmup_lr on a step schedule (mmdetection's schedule_1x), iteration by iteration."""
    ratio, warmup_iters = 1.0 / 3, 7

    def mmcv_lr(cur_iter: int) -> float:
        regular = 0.01 * 0.1 ** sum(cur_iter // 10 >= s for s in (2, 4))
        if cur_iter >= warmup_iters:
            return regular
        if kind == "constant":
            return regular * ratio
        if kind == "linear":
            return regular * (1 - (1 - cur_iter / warmup_iters) * (1 - ratio))
        return regular * ratio ** (1 - cur_iter / warmup_iters)

    got = _lrs(dict(type="multistep", milestones=[2, 4], warmup=kind, warmup_iters=warmup_iters, warmup_ratio=ratio),
               50)
    assert got == pytest.approx([mmcv_lr(i) for i in range(50)], rel=1e-12)
    assert len(set(got[:warmup_iters])) == (1 if kind == "constant" else warmup_iters)


def test_set_after_step_equals_the_official_segmentation_loop():
    """lib/core/function.py train: optimizer.step(), then adjust_learning_rate(..., i_iter + cur_iters)."""
    total = 50
    lr, official = 0.01, []
    for it in range(total):
        official.append(lr)
        lr = 0.01 * (1 - it / total) ** 0.9  # adjust_learning_rate after the step
    got = _lrs(dict(type="poly", power=0.9, set_after_step=True), total)
    assert got == pytest.approx(official, rel=1e-12)
    before = _lrs(dict(type="poly", power=0.9), total)
    assert got[:2] == [0.01, 0.01] and got[2:] == pytest.approx(before[1:-1], rel=1e-12)


def test_unknown_warmup_is_one_config_error():
    with pytest.raises(ConfigError, match=r"schedule.warmup: unknown warmup 'cosine'.*known: linear, constant, exp"):
        check_schedule(dict(type="SGD", lr=0.01), dict(type="poly", warmup="cosine"), 3)
