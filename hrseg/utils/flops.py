"""Counting parameters and multiply-adds with ``torch.utils.flop_counter``.

The HRNet papers' "GFLOPs" are multiply-adds of convolution and linear layers divided by 2**30
(the official ``get_model_summary`` divides by 1024**3). ``FlopCounterMode`` counts 2 FLOPs per
multiply-add of exactly those ops (convolutions and matrix products), so both conventions derive
from one count: ``gmacs = macs / 1e9`` and ``gflops_paper = macs / 2**30``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def gflops_paper(self) -> float:
        return self.macs / 2 ** 30


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure_complexity(model: nn.Module, input_size: tuple[int, int], batch: int = 1) -> Complexity:
    """Parameters and multiply-adds per image of one forward pass at ``input_size`` (H, W)."""
    was_training = model.training
    model.eval()
    x = torch.zeros(batch, 3, *input_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    model.train(was_training)
    return Complexity(count_params(model), counter.get_total_flops() // (2 * batch))
