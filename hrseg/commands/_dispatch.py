"""The ``hrseg`` command (and ``python -m hrseg``): ``hrseg COMMAND [TASK] ARGS...``.

The commands are the modules of :mod:`hrseg.commands` (see its docstring), found when the
command runs, so a command added there needs no entry here. ``export``, ``weights`` and
``serve`` also dispatch to ``main(argv)`` of the packages ``hrseg.export`` / ``hrseg.weights`` /
``hrseg.serve`` when those exist and no commands module of that name does; otherwise they
are not offered.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import os
import pkgutil
import platform
import sys
from pathlib import Path
from typing import Callable, Iterator

import hrseg
import hrseg.commands as package
from hrseg.cli import run_cli
from hrseg.errors import ConfigError

TASKS = ("pose", "seg", "det", "multi")
VERBS = ("train", "test", "infer")
OPTIONAL_PACKAGES = {"export": "hrseg.export", "weights": "hrseg.weights", "serve": "hrseg.serve"}
# Optional backends and dependencies whose versions a bug report needs (distribution names).
REPORTED = ("opencv-python-headless", "opencv-python", "pycocotools", "albumentations", "pillow", "matplotlib",
            "tqdm", "safetensors", "timm", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt",
            "tensorboard", "fastapi", "uvicorn", "websockets", "trackers", "supervision")


def commands() -> dict[str, str]:
    """Command words ('train pose', 'bench', 'export', ...) -> the module whose ``main`` runs it."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        verb, _, task = info.name.partition("_")
        words = f"{verb} {task}" if verb in VERBS and task in TASKS else info.name.replace("_", "-")
        found[words] = f"{package.__name__}.{info.name}"
    for word, module in OPTIONAL_PACKAGES.items():
        if word not in found and _exists(module):
            found[word] = module
    return found


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def summary(module: str) -> str:
    """The first sentence of a module's docstring (its first paragraph up to ". "), read without
    importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".")


def usage(found: dict[str, str]) -> str:
    width = max(len(w) for w in found)
    lines = [f"  hrseg {words.ljust(width)}  {summary(module)}" for words, module in sorted(found.items())]
    return ("usage: hrseg COMMAND [TASK] [ARGS...]   (hrseg COMMAND --help for its options and examples)\n\n"
            "High-resolution networks for keypoints (pose), segmentation (seg) and detection (det).\n\n"
            "commands:\n" + "\n".join(lines) + "\n  hrseg --version" + " " * max(0, width - 9) +
            "  versions of hrseg, torch, torchvision, numpy and the optional backends found\n\n"
            "examples:\n"
            "  hrseg train pose                                   # the synthetic mini-split, CPU, ~5 min\n"
            "  hrseg train pose hrnet_w32_coco_256x192 --dry-run  # a shipped config, by name\n"
            "  hrseg infer pose photo.jpg --weights pose_hrnet_w32_256x192.pth\n"
            "  hrseg configs pose\n")


def version_report() -> str:
    """hrseg, Python, torch (and its accelerator), torchvision, numpy and the optional packages found."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch
    import torchvision

    cuda = f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s) visible" if torch.version.cuda else "CPU build"
    lines = [f"hrseg {hrseg.__version__} ({Path(hrseg.__file__).parent})",
             f"python {platform.python_version()} ({platform.platform()})",
             f"torch {torch.__version__} ({cuda})", f"torchvision {torchvision.__version__}",
             f"numpy {numpy.__version__}"]
    found, missing = [], []
    for dist in REPORTED:
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            missing.append(dist)
    lines.append("found: " + ", ".join(found))
    lines.append("not installed: " + (", ".join(missing) or "-"))
    return "\n".join(lines)


@contextlib.contextmanager
def _prog(name: str) -> Iterator[None]:
    """argparse names the program after sys.argv[0]: make the subcommand's usage read 'hrseg train pose'."""
    saved = sys.argv[0]
    sys.argv[0] = name
    try:
        yield
    finally:
        sys.argv[0] = saved


def resolve(argv: list[str], found: dict[str, str]) -> tuple[str, str, list[str]]:
    """(command words, module, the command's own arguments) for ``argv``; ConfigError if unknown."""
    if argv[0] in VERBS:
        task = argv[1] if len(argv) > 1 else ""
        words = f"{argv[0]} {task}"
        if words not in found:
            raise ConfigError(f"hrseg {argv[0]}: give a task, one of {', '.join(TASKS)} "
                              f"(e.g. hrseg {argv[0]} pose --help)" if not task or task.startswith("-")
                              else f"hrseg {argv[0]}: unknown task {task!r}; one of {', '.join(TASKS)}")
        return words, found[words], argv[2:]
    if argv[0] not in found:
        import difflib

        close = difflib.get_close_matches(argv[0], [w.split()[0] for w in found], n=2)
        hint = f"; did you mean {' or '.join(dict.fromkeys(close))}?" if close else "; hrseg --help lists them"
        raise ConfigError(f"hrseg: unknown command {argv[0]!r}{hint}")
    return argv[0], found[argv[0]], argv[1:]


def main(argv: list[str] | None = None) -> int:
    """Run ``hrseg ARGS``: errors of the user's input are one line and exit status 2 (run_cli)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    found = commands()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(found))
        return 0
    if argv[0] in ("-V", "--version"):
        print(version_report())
        return 0
    words, module, rest = resolve(argv, found)
    entry: Callable[[list[str]], int] | None = getattr(importlib.import_module(module), "main", None)
    if entry is None:
        raise ConfigError(f"hrseg {words}: {module} has no main(argv) to run")
    with _prog(f"hrseg {words}"):
        return entry(rest)


def console() -> None:
    """The console script ``hrseg`` (pyproject.toml)."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`hrseg models | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
