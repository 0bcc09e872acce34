"""The options that make a training step fast on a GPU (the config's ``train`` section), and what
each one resolves to on the run's device. ``None`` means automatic: on under CUDA where the
option keeps the training exact, off on the CPU, so a CPU run trains exactly as without them
(``device_normalize``, which gives the same bits everywhere, is on everywhere).

- ``deterministic``: deterministic kernels, cuDNN autotuning off, no CUDA graph; a resumed run
  continues bit for bit on CUDA too (on the CPU it always does).
- ``cudnn_benchmark``: cuDNN autotuning (the official recipes' ``CUDNN.BENCHMARK: True``); auto =
  on under CUDA unless ``deterministic``.
- ``fused_optimizer``: Adam / AdamW / SGD as one fused multi-tensor kernel; auto = on under CUDA.
  Under float16 AMP the GradScaler hands its scale and inf flag to the fused kernel on the device,
  so the step never waits for the host. Except SGD with momentum under float16 AMP: torch's fused
  SGD allocates its momentum buffers with ``empty_like`` on its first step, and a first step the
  GradScaler skips (an overflow, usual at its initial scale) leaves them unset: the loss of
  ``tests/test_training_speed.py``'s eager run was NaN by the third iteration on an H100 (torch
  2.11). That optimizer runs unfused (foreach), with a note; bfloat16 has no scaler.
- ``channels_last``: model and 4-d inputs in NHWC memory, the layout cuDNN's tensor-core kernels
  and its BatchNorm work in; auto = on under CUDA for a static-shape step (no ``step_note``). With
  NCHW, cuDNN converts every convolution's input and output and runs its slowest BatchNorm kernels:
  on an H100 (torch 2.11, float16, CUDA graph) the W32 pose step went from 738 to 1,338 images/s,
  the W48 segmentation step from 46 to 77. The R-CNN steps (detection, multi-task) stay NCHW unless
  asked: not measured, and torchvision's RoI heads were written for NCHW.
- ``cuda_graph``: forward, loss and backward (BatchNorm included) captured once in a CUDA graph
  and replayed; the optimizer runs after it, eagerly, as fused kernels. Auto = on under CUDA for
  one process with a static-shape step; off, with the reason logged, when deterministic, when
  distributed, with an epoch hook (progressive stages change shapes and regularisation), when the
  task's ``train_step`` says why it cannot be captured (its attribute ``no_cuda_graph``, e.g. OHEM's
  host synchronisations), or for a batch whose shapes differ from the captured one (detection, a
  batch with skipped images); a capture that fails anyway is logged and the step runs eagerly.
- ``gpu_targets``: the task draws its targets on the device from the batch (pose heatmaps, see
  :mod:`hrseg.codecs.heatmap_torch`); the DataLoader workers then only decode and warp. Auto = on
  under CUDA. The engine resolves it and tells the task's ``train_step`` (:func:`tell_step`).
- ``device_normalize``: the workers send the crops as uint8 (a quarter of float32's bytes through
  shared and pinned memory and the host-to-device copy) and the task's ``train_step`` normalises
  the batch on its device (:class:`hrseg.utils.image.Normalizer`, the same operations as a worker's
  normalisation, so on the CPU the same bits). Auto = on, on every device: a worker does half the
  work, and a CPU run trains bit for bit as with the workers normalising. Pose and segmentation
  follow it, told like ``gpu_targets``.
- ``amp_dtype``: 'float16' (with GradScaler, the default) or 'bfloat16' (no scaler) for AMP.
- ``prefetch_factor``: batches each DataLoader worker prepares ahead; auto = 4 under CUDA with
  workers (PyTorch's default 2 otherwise).
- ``persistent_workers``: DataLoader workers started once for the run, not every epoch, and one
  iterator for the run, so they prepare the next epoch's batches while this one ends; they yield bit
  for bit what fresh workers would (:mod:`hrseg.engine.workers`: the epoch and the workers' seeds
  travel with the indices); auto = on under CUDA with workers, off with an epoch hook
  (progressive stages change the dataset in the main process) and on the CPU.
- ``compile``: ``torch.compile`` (inductor) of the model's repeated regions, in place: every
  submodule whose class sets ``compile_region = True`` (HRNet's ``HighResolutionModule`` and the
  residual blocks outside them; :func:`compile_regions`), so that BatchNorm, ReLU, the fuse layers'
  additions and upsampling run as fused kernels, forward and backward. Regional, not the whole step:
  modules alike share one compiled graph (W32's 12 regions compile 6 graphs), where a compile of the
  whole step had not finished after 170 s on an H200. Inside a CUDA graph the compiled kernels are
  captured like any others (the warm-up runs compile). Evaluation runs eagerly
  (``torch.compiler.set_stance('force_eager')``): no compile for its shapes and eval mode. The
  arithmetic is fused, so the numbers differ from the eager step's by rounding (float32 on the CPU:
  a step's gradients within 1e-5 relative). Auto = off: its GPU figure is not measured yet
  (docs/training.md). Off with ``deterministic`` (the exact resume is promised for the eager step).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from hrseg.errors import ConfigError

SPEED_DEFAULTS: dict[str, Any] = dict(
    deterministic=False, cudnn_benchmark=None, fused_optimizer=None, channels_last=None, cuda_graph=None,
    gpu_targets=None, device_normalize=None, amp_dtype="float16", prefetch_factor=None, persistent_workers=None,
    compile=None,
)
AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
CUDA_PREFETCH = 4


@dataclass(frozen=True)
class SpeedOptions:
    """The resolved options of one run (booleans, a dtype) and one sentence on each that is off
    under CUDA or asked for in vain (``notes``)."""

    deterministic: bool = False
    cudnn_benchmark: bool = False
    fused_optimizer: bool = False
    channels_last: bool = False
    cuda_graph: bool = False
    gpu_targets: bool = False
    device_normalize: bool = False
    amp_dtype: torch.dtype = torch.float16
    prefetch_factor: int | None = None
    persistent_workers: bool = False
    compile: bool = False
    grad_scaler: bool = False  # float16 AMP under CUDA: the Trainer's GradScaler is on
    notes: tuple[str, ...] = ()

    def describe(self, compiled_regions: int = 0) -> str:
        """One log line: what is on (and how many regions :func:`compile_regions` compiled)."""
        names = ("cudnn_benchmark", "fused_optimizer", "channels_last", "cuda_graph", "gpu_targets", "device_normalize",
                 "compile")
        on = [name for name in names if getattr(self, name)]
        parts = [f"speed options: {', '.join(on) if on else 'none'}"]
        if self.deterministic:
            parts.append("deterministic kernels")
        if self.prefetch_factor:
            parts.append(f"prefetch {self.prefetch_factor} batches per worker")
        if self.persistent_workers:
            parts.append("persistent workers")
        if self.compile:
            parts.append(f"{compiled_regions} regions compiled, evaluation eager")
        return "; ".join(parts + list(self.notes))


def _flag(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"train.{name}: expected true, false or null (automatic), got {value!r}")


def resolve_speed(device: torch.device | str, *, deterministic: bool = False, cudnn_benchmark: bool | None = None,
                  fused_optimizer: bool | None = None, channels_last: bool | None = None,
                  cuda_graph: bool | None = None, gpu_targets: bool | None = None,
                  device_normalize: bool | None = None, amp_dtype: str = "float16", prefetch_factor: int | None = None,
                  distributed: bool = False, epoch_hook: bool = False, num_workers: int = 0,
                  step_note: str | None = None, amp: bool = True,
                  optimizer: Mapping[str, Any] | None = None,
                  persistent_workers: bool | None = None, compile: bool | None = None,
                  seeded_loader: bool = True) -> SpeedOptions:
    """The options for a run on ``device`` (see the module docstring). ``step_note``: why the
    task's step cannot be captured (its ``train_step.no_cuda_graph``), None when it can;
    ``amp`` and ``optimizer`` (the optimizer's config): whether a fused optimizer is safe;
    ``seeded_loader``: the DataLoader has a generator (:func:`hrseg.engine.build_dataloader` sets
    one), which persistent workers need to give the batches fresh workers would."""
    cuda = torch.device(device).type == "cuda"
    deterministic = bool(deterministic)
    flags = {name: _flag(name, value) for name, value in (
        ("cudnn_benchmark", cudnn_benchmark), ("fused_optimizer", fused_optimizer), ("channels_last", channels_last),
        ("cuda_graph", cuda_graph), ("gpu_targets", gpu_targets), ("device_normalize", device_normalize),
        ("persistent_workers", persistent_workers), ("compile", compile))}
    if str(amp_dtype) not in AMP_DTYPES:
        raise ConfigError(f"train.amp_dtype: expected one of {', '.join(AMP_DTYPES)}, got {amp_dtype!r}")
    if prefetch_factor is not None and (type(prefetch_factor) is not int or prefetch_factor < 1):  # not True
        raise ConfigError(f"train.prefetch_factor: expected a positive integer or null, got {prefetch_factor!r}")

    def auto(name: str, default: bool) -> bool:
        """The option as the config gives it, or ``default`` when it is null (automatic)."""
        return default if flags[name] is None else flags[name]

    notes: list[str] = []
    benchmark = auto("cudnn_benchmark", cuda and not deterministic)
    if benchmark and deterministic:
        notes.append("cudnn_benchmark off: train.deterministic")
        benchmark = False
    graph, why_not = flags["cuda_graph"], None
    if not cuda:
        why_not = "needs CUDA"
    elif deterministic:
        why_not = "train.deterministic (an exact resume is promised for the eager step)"
    elif distributed:
        why_not = "distributed (DDP's gradient hooks are not captured)"
    elif epoch_hook:
        why_not = "an epoch hook (progressive stages change input sizes and regularisation between epochs)"
    elif step_note:
        why_not = step_note
    if why_not is not None:
        if graph or (graph is None and cuda):
            notes.append(f"cuda_graph off: {why_not}")
        graph = False
    elif graph is None:
        graph = True
    if prefetch_factor is None and cuda and num_workers > 0:
        prefetch_factor = CUDA_PREFETCH
    if num_workers == 0:
        prefetch_factor = None  # a DataLoader without workers takes none
    persistent = auto("persistent_workers", cuda) and num_workers > 0
    why_fresh = ("an epoch hook changes the dataset between epochs" if epoch_hook else
                 None if seeded_loader else "the DataLoader has no generator (build it with build_dataloader)")
    if persistent and why_fresh:
        if flags["persistent_workers"]:
            notes.append(f"persistent_workers off: {why_fresh}")
        persistent = False
    compiled = auto("compile", False)
    if compiled and deterministic:
        notes.append("compile off: train.deterministic (an exact resume is promised for the eager step)")
        compiled = False
    fused = auto("fused_optimizer", cuda)
    scaler = cuda and bool(amp) and str(amp_dtype) == "float16"
    if fused and scaler and _sgd_with_momentum(optimizer):
        notes.append("fused_optimizer off: torch's fused SGD leaves its momentum uninitialised when the "
                     "GradScaler skips the first step (float16); train.amp_dtype=bfloat16 allows it")
        fused = False
    return SpeedOptions(
        deterministic=deterministic, cudnn_benchmark=bool(benchmark) and cuda,
        fused_optimizer=fused,
        channels_last=auto("channels_last", cuda and not step_note),
        cuda_graph=bool(graph),
        gpu_targets=auto("gpu_targets", cuda), device_normalize=auto("device_normalize", True),
        amp_dtype=AMP_DTYPES[str(amp_dtype)], prefetch_factor=prefetch_factor, persistent_workers=persistent,
        compile=compiled, grad_scaler=scaler, notes=tuple(notes))


def check_speed(train: Mapping[str, Any]) -> None:
    """A :class:`~hrseg.errors.ConfigError` for a malformed speed option of a config's ``train``
    section, raised as a run starts, before it builds its data (``Task.train``, bench-train): the
    checks are :func:`resolve_speed`'s; the Trainer resolves the options later, for its device."""
    resolve_speed("cpu", **{name: train[name] for name in SPEED_DEFAULTS if name in train})


def tell_step(train_step: Any, options: SpeedOptions) -> None:
    """Hand a run's resolved options to its task's ``train_step`` through the step's ``use_speed``
    attribute, where it has one (pose and segmentation: what their DataLoader workers do, from
    ``gpu_targets`` and ``device_normalize``), so a task follows the options as the Trainer resolved
    them for its device, decided here once. Called before the workers start."""
    use_speed = getattr(train_step, "use_speed", None)
    if use_speed is not None:
        use_speed(options)


def _sgd_with_momentum(optimizer: Mapping[str, Any] | None) -> bool:
    cfg = optimizer or {}
    return str(cfg.get("type", "")).lower() == "sgd" and bool(cfg.get("momentum", 0))


def compile_regions(model: nn.Module) -> int:
    """``torch.compile`` in place every submodule whose class sets ``compile_region = True`` (and
    nothing inside it again); the parameters' names, and so the checkpoints, stay as they are.
    Returns how many were compiled."""
    count = 0
    for child in model.children():
        if getattr(type(child), "compile_region", False):
            child.compile()
            count += 1
        else:
            count += compile_regions(child)
    return count


def configure_kernels(options: SpeedOptions) -> None:
    """Deterministic kernels or cuDNN autotuning, as the options say (process-wide settings)."""
    if options.deterministic:
        # cuBLAS is deterministic only with a fixed workspace (read when CUDA's cuBLAS starts)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif options.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
