"""What progressive learning saves at a real training size (EfficientNetV2's first claim).

The mini-split study (:mod:`~hrseg.experiments.progressive_study`) trains at 64x48 and 64x128, where
a step's fixed costs (reading and cropping the image, encoding targets, per-layer overheads on tiny
tensors) do not shrink with the crop, so smaller stages save less than their pixels. This measures,
for a named model at the size it is really trained at (pose 256x192, segmentation 512x1024 crops),
on random data and this machine's CPU:

* the model's training step (forward, loss, backward, Adam; :func:`~hrseg.experiments.common.train_step_seconds`)
  at each progressive stage's input size, with the stage's dropout and stochastic depth set;
* the stage's RandAugment over the batch's uint8 crops and its Mixup of the batch;

and from them the cost of an epoch of the study's arms relative to fixed size (a), stages of equal
length: (b) sizes only, (c) sizes with the rising regularization, (d) fixed size with the final
regularization. The rest of a data pipeline (decoding the image, the affine crop, target encoding)
is left out: on a training machine DataLoader workers run it beside the step.
"""
from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hrseg.data.augment import build_randaugment, mixup_images
from hrseg.engine.progressive import build_schedule
from hrseg.experiments.common import fastest_seconds, markdown, train_step_seconds


def stage_costs(model: torch.nn.Module, final_size: Sequence[int], batch: int, progressive: Mapping[str, Any],
                iters: int = 5, seed: int = 0) -> dict[str, Any]:
    """Per progressive stage: input size, step seconds, RandAugment and Mixup seconds per batch;
    and the epoch cost of arms b, c and d relative to arm a (returned as ``ratios``)."""
    num_stages = int(progressive.get("num_stages", 3))
    schedule = build_schedule({**progressive, "enabled": True}, final_size, max_epochs=num_stages)
    rng = np.random.default_rng(seed)
    set_regularization = getattr(model, "set_regularization", None)
    rows = []
    for stage in schedule.stages:
        if set_regularization is not None:
            set_regularization(dropout=stage.dropout, drop_path=stage.drop_path)
        step = train_step_seconds(model, stage.image_size, batch, iters=iters, seed=seed)
        crops = rng.integers(0, 256, (batch, *stage.image_size, 3), dtype=np.uint8)
        augment = build_randaugment(stage.randaugment, stage.randaugment_ops)
        randaugment = fastest_seconds(lambda: [augment(c, rng) for c in crops], iters=iters) if augment else 0.0
        images = torch.randn(batch, 3, *stage.image_size)
        mixup = fastest_seconds(lambda: mixup_images(images, stage.mixup), iters=iters) if stage.mixup > 0 else 0.0
        rows.append({"stage": stage.index + 1, "size": "x".join(map(str, stage.image_size)),
                     "pixels": stage.image_size[0] * stage.image_size[1], "step_s": step,
                     "randaugment_s": randaugment, "mixup_s": mixup, "dropout": stage.dropout,
                     "randaugment": stage.randaugment, "mixup_alpha": stage.mixup})
    if set_regularization is not None:
        set_regularization(dropout=0.0, drop_path=0.0)
    final = rows[-1]
    for r in rows:
        r["step_x_final"] = r["step_s"] / final["step_s"]
        r["pixels_x_final"] = r["pixels"] / final["pixels"]
    # the final stage's step without regularization: arm a's step (dropout and drop path cost ~nothing)
    fixed = final["step_s"]
    ratios = {
        "b": statistics.fmean(r["step_s"] for r in rows) / fixed,
        "c": statistics.fmean(r["step_s"] + r["randaugment_s"] + r["mixup_s"] for r in rows) / fixed,
        "d": (fixed + final["randaugment_s"] + final["mixup_s"]) / fixed,
        "pixels_b": statistics.fmean(r["pixels_x_final"] for r in rows),
    }
    return {"rows": rows, "ratios": ratios, "batch": batch, "threads": torch.get_num_threads()}


def cost_table(result: Mapping[str, Any]) -> str:
    """The stages as a markdown table and a line of the arms' epoch costs relative to (a)."""
    columns = [("stage", "{stage}"), ("input", "{size}"), ("pixels x final", "{pixels_x_final:.2f}"),
               ("step ms", "{step_ms:.0f}"), ("x final", "{step_x_final:.2f}"), ("RandAugment ms", "{ra_ms:.1f}"),
               ("Mixup ms", "{mix_ms:.1f}")]
    rows = [{**r, "step_ms": r["step_s"] * 1000, "ra_ms": r["randaugment_s"] * 1000, "mix_ms": r["mixup_s"] * 1000}
            for r in result["rows"]]
    q = result["ratios"]
    return (markdown(rows, columns) + f"\nepoch cost x (a), equal stages: (b) {q['b']:.2f} (its pixels "
            f"{q['pixels_b']:.2f}), (c) {q['c']:.2f}, (d) {q['d']:.2f}; batch {result['batch']}, "
            f"{result['threads']} thread(s)\n")


__all__ = ["cost_table", "stage_costs"]
