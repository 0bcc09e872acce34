"""A faster inference path: BatchNorm folded into the preceding convolutions, channels_last.

Folding removes one memory pass per convolution; channels_last lets oneDNN (CPU) and cuDNN
(GPU) pick their fastest convolution kernels. The result equals eager evaluation to float
rounding (tests check 1e-4).

``dtype=torch.bfloat16`` also stores the weights in bfloat16 and runs the convolutions in it
(inputs are cast on the way in, outputs back to float32 on the way out): about twice the
float32 throughput on CPUs with native bfloat16 (AVX512-BF16, AMX) and on GPUs, at the cost of
bfloat16's 8-bit mantissa (relative differences around 1e-2 in the outputs). Where the CPU
lacks those instructions bfloat16 is emulated and slower: keep float32 there.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Mapping

import torch
import torch.fx as fx
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from hrseg.errors import ConfigError


def fold_batchnorm(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` and fold every BatchNorm that directly follows a convolution into it.

    The model must be in eval mode (folding uses the running statistics).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    traced = fx.symbolic_trace(copy.deepcopy(model))
    modules = dict(traced.named_modules())
    for node in list(traced.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.modules.batchnorm._BatchNorm):
            continue
        src = node.args[0]
        if not (isinstance(src, fx.Node) and src.op == "call_module"
                and isinstance(modules.get(src.target), nn.Conv2d) and len(src.users) == 1):
            continue
        fused = fuse_conv_bn_eval(modules[src.target], modules[node.target])
        parent, _, name = src.target.rpartition(".")
        setattr(traced.get_submodule(parent) if parent else traced, name, fused)
        modules[src.target] = fused
        node.replace_all_uses_with(src)
        traced.graph.erase_node(node)
    traced.graph.lint()
    traced.delete_all_unused_submodules()
    traced.recompile()
    return traced


def _to_float32(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.float()
    if isinstance(out, (list, tuple)):
        return type(out)(_to_float32(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_float32(v) for k, v in out.items()}
    return out


class InferenceWrapper(nn.Module):
    """Runs the wrapped model on inputs in its memory format and dtype; outputs come back as
    float32 (tensors, or lists / tuples / dicts of them)."""

    def __init__(self, model: nn.Module, channels_last: bool = True, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.dtype = dtype
        self.model = model.to(dtype=dtype, memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> Any:
        out = self.model(x.to(dtype=self.dtype, memory_format=self.memory_format))
        return out if self.dtype == torch.float32 else _to_float32(out)


def optimize_for_inference(model: nn.Module, channels_last: bool = True,
                           dtype: torch.dtype = torch.float32) -> nn.Module:
    """An eval-mode copy of ``model`` with BatchNorm folded, (by default) channels_last, and its
    weights in ``dtype`` (float32 by default, equal to eager; bfloat16 for about 2x on hardware
    that has it, see the module docstring). The original model is left unchanged.
    """
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype}")
    folded = fold_batchnorm(copy.deepcopy(model).eval())
    for p in folded.parameters():
        p.requires_grad_(False)
    optimized = folded if not channels_last and dtype == torch.float32 else InferenceWrapper(folded, channels_last,
                                                                                              dtype)
    if hasattr(model, "align_corners"):  # a segmentation model's final resize (the test reads it; folding drops it)
        optimized.align_corners = model.align_corners
    return optimized.eval()


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def inference_model(model: nn.Module, test_cfg: Mapping[str, Any]) -> nn.Module:
    """What the validation during training (and the server) predicts with: the bare model (a DDP /
    DataParallel wrapper removed) in eval mode, through :func:`optimize_for_inference` unless
    ``test.optimize`` is False, in ``test.dtype`` (a name of :data:`DTYPES`, default float32)."""
    model = getattr(model, "module", model).eval()
    if not test_cfg.get("optimize", True):
        return model
    dtype = test_cfg.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ConfigError(f"test.dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return optimize_for_inference(model, dtype=DTYPES[dtype])


def compile_errors() -> tuple[type[BaseException], ...]:
    """What a failed ``torch.compile`` raises on its first call (a missing or broken compiler);
    imported when asked (torch._dynamo is slow to import)."""
    from torch._dynamo.exc import BackendCompilerFailed

    try:
        from torch._inductor.exc import InductorError
    except ImportError:  # older torch
        return (BackendCompilerFailed,)
    return BackendCompilerFailed, InductorError


def _check_compiler() -> None:
    """Inductor's CPU code needs a C++ compiler: say so at once rather than at the first call."""
    import shutil

    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "clang++", "c++"]
    if not any(shutil.which(c) for c in candidates):
        raise ConfigError(f"--backend compiled: torch.compile needs a C++ compiler and none of "
                          f"{', '.join(candidates)} is on the PATH; install one (g++) or run --backend optimized")


def torch_model(model: nn.Module, backend: str, dtype: str = "float32") -> nn.Module:
    """``model`` ready for the PyTorch backend ``backend``: ``torch`` (eager, float32, as built),
    ``optimized`` (:func:`optimize_for_inference` in ``dtype``) or ``compiled`` (that through
    ``torch.compile`` with Inductor's weight freezing: the weights become constants, so
    convolutions get pre-packed weights and fused epilogues; the first call compiles)."""
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose {', '.join(DTYPES)}")
    model = model.eval()
    if backend == "torch":
        if dtype != "float32":
            raise ConfigError(f"the torch backend (eager) runs float32; run {dtype} with --backend optimized, "
                              "compiled or openvino")
        return model
    if backend not in ("optimized", "compiled"):
        raise ConfigError(f"unknown PyTorch backend {backend!r}; choose torch, optimized or compiled")
    if backend == "compiled":
        _check_compiler()
    optimized = optimize_for_inference(model, dtype=DTYPES[dtype])
    return optimized if backend == "optimized" else torch.compile(optimized, options={"freezing": True})
