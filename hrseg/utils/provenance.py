"""Where a result came from: the machine (cores, CPU, the kernels PyTorch dispatches, its version, the GPU),
the command as it would be typed again, and the date. Every figure carries them in its footer and every
results file keeps them (a training run's ``metrics.json`` and ``curves.png``, a test's
``metrics_test.json``, the experiments' JSONs and plots), so a number or a figure copied out of its page
still says how it was measured."""
from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

PROVENANCE_KEYS = ("machine", "command", "date")
# the environment variables that change a run's kernels or threads, named in its command when set
RUN_VARIABLES = ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def machine() -> dict[str, Any]:
    """Where a run trained: PyTorch dispatches AVX2 or AVX-512 kernels by CPU, and their float
    reductions run in another order, so a seeded run from scratch repeats to the last digit only
    on the same kernels (``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    MKL_ENABLE_INSTRUCTIONS=AVX2`` select the AVX2 ones on an AVX-512 CPU)."""
    return {"cpu_kernels": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.machine()}


def machine_name() -> str:
    """The CPU's model name (``lscpu``'s), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """This machine in a few words: the cores this process may use, the CPU's name, the kernels PyTorch
    dispatches (:func:`machine`) and its version, and the GPU where PyTorch sees one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    kernels = machine()
    text = f"{cores}-core {machine_name()} ({kernels['cpu_kernels']} kernels), torch {kernels['torch']}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def command_line(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The command that started this process, as it would be typed again: the :data:`RUN_VARIABLES` that are
    set, then ``python SCRIPT ARGS`` (the script relative to the working folder), ``python -m hrseg ARGS`` or
    the console script's name and its arguments."""
    argv = list(sys.argv if argv is None else argv) or ["python"]
    environ = os.environ if environ is None else environ
    prog = Path(argv[0])
    if argv[0] in ("-c", ""):  # python -c CODE: the code itself is not in argv
        head = "python -c"
    elif prog.name == "__main__.py":
        head = f"python -m {prog.parent.name}"
    elif prog.suffix == ".py":
        try:
            head = f"python {prog.resolve().relative_to(Path.cwd().resolve())}"
        except ValueError:
            head = f"python {prog}"
    else:
        head = prog.name or argv[0]
    return " ".join([f"{k}={environ[k]}" for k in RUN_VARIABLES if k in environ] + [head]
                    + [shlex.quote(a) for a in argv[1:]])


def run_provenance() -> dict[str, str]:
    """This run's machine (:func:`machine_description`), command (:func:`command_line`) and date (UTC)."""
    return {"machine": machine_description(), "command": command_line(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def provenance_footer(provenance: Mapping[str, str]) -> str:
    """A figure's footer: ``machine: ... | date: ...`` and ``command: ...``, and the optional ``note`` (e.g.
    that the figure was drawn again later from the stored results); a missing key is a ValueError, never guessed."""
    missing = [k for k in PROVENANCE_KEYS if not provenance.get(k)]
    if missing:
        raise ValueError(f"a figure's provenance needs {', '.join(missing)}, got {dict(provenance)}")
    lines = [f"machine: {provenance['machine']} | date: {provenance['date']}", f"command: {provenance['command']}"]
    return "\n".join(lines + ([provenance["note"]] if provenance.get("note") else []))
