"""Command-line plumbing shared by the tools: config arguments, argument types and clean error
reporting. The config loader itself is :mod:`hrseg.config`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NoReturn

from hrseg.config import load_config
from hrseg.errors import HrsegError


class CommandParser(argparse.ArgumentParser):
    """argparse's parser with hrseg's errors: one line, ``hrseg infer pose: error: ...`` and where the
    options are, exit 2; argparse prints its usage block (a dozen lines for most commands) first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the options)\n")


def parse_size(text: str) -> tuple[int, int]:
    """'256x192' -> (256, 192) as (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 256x192, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


def positive_int(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argument that must be a whole number of at least 0 (a count that may be none)."""
    return _whole_number(text, 0)


def device_name(text: str) -> str:
    """A device to run on: cpu, cuda or cuda:N (torch's own message for another was a traceback)."""
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    return text


def port_number(text: str) -> int:
    """A TCP port to listen on: 1 .. 65535 (bind()'s OverflowError was a traceback)."""
    return _whole_number(text, 1, 65535)


def seed_value(text: str) -> int:
    """A random seed: a whole number of 0 .. 2**32 - 1 (numpy's seeds, the data order's and workers')."""
    return _whole_number(text, 0, 2**32 - 1)


def _whole_number(text: str, least: int, most: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least or (most is not None and value > most):
        raise argparse.ArgumentTypeError(f"must be at least {least}" + (f" and at most {most}" if most is not None
                                                                        else "") + f", got {value}")
    return value


def fraction(text: str) -> float:
    """An argument between 0 and 1 (a score threshold, an opacity)."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argument that must be a number above 0 (a scale)."""
    value = _number(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def error_message(error: BaseException) -> str:
    """``error``'s message; one raised in a DataLoader worker comes back with the worker's whole
    traceback in it ("Caught DataError in DataLoader worker process 0. Original Traceback ..."):
    its last line's message."""
    text = str(error)
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = text.rstrip().splitlines()[-1]  # "hrseg.errors.DataError: <the message>"
        return last.split(": ", 1)[1] if ": " in last else last
    return text


def run_cli(main: Callable[[], int]) -> int:
    """Run a tool's ``main``: user errors become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return main()
    except HrsegError as e:
        print(f"error: {error_message(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # the system refused a file: a folder that cannot be made, a full disk, no permission
        print(f"error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def add_config_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add CONFIG, --cfg-options, --work-dir, --resume [PATH] and --seed to a tool's parser."""
    parser.add_argument("config", nargs="?", default=None,
                        help="config file, or a shipped config's name (hrseg configs lists them); "
                        "the defaults without one")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config entries, e.g. optimizer.lr=5e-4 schedule.milestones=[90,120]")
    parser.add_argument("--work-dir", default=None, help="where checkpoints and logs go "
                        "(default: the config's work_dir, else work_dirs/<config name>)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="PATH",
                        help="continue a run: from work_dir/latest.pth, or from PATH")
    parser.add_argument("--seed", type=seed_value, default=None, help="random seed (default: the config's)")
    return parser


def config_from_args(args: argparse.Namespace, defaults: Mapping[str, Any] | None = None,
                     open_keys: Iterable[str] = ()) -> dict[str, Any]:
    """:func:`load_config` for parsed :func:`add_config_args` arguments; the command line's
    --work-dir / --resume / --seed win over the config; work_dir defaults to work_dirs/<name>."""
    cfg = load_config(args.config, args.cfg_options, defaults, open_keys)
    if args.work_dir is not None:
        cfg["work_dir"] = args.work_dir
    if not cfg.get("work_dir"):
        cfg["work_dir"] = str(Path("work_dirs") / (Path(args.config).stem if args.config else "default"))
    if args.resume is not None:
        cfg["resume"] = args.resume
    if args.seed is not None:
        cfg["seed"] = args.seed
    return cfg


def train_tool(argv: list[str] | None, description: str, default_config: str | os.PathLike,
               defaults: Mapping[str, Any], open_keys: Iterable[str], train: Callable[[dict[str, Any]], Any],
               check: Callable[[dict[str, Any], str], None] | None = None) -> int:
    """The whole of a ``tools/train_*.py``: parse CONFIG (``default_config`` when none is given,
    the task's embedded mini-split) with :func:`add_config_args`, build the config against the
    task's ``defaults`` schema, and ``train`` it. ``--dry-run`` prints the resolved recipe
    (:func:`hrseg.recipes.describe`, for the processes torchrun's WORLD_SIZE announces) instead.
    ``check(cfg, config file)``: the task's checks of the config, dry run or not."""
    parser = add_config_args(CommandParser(description=description,
                                                     formatter_class=argparse.RawDescriptionHelpFormatter))
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved recipe (model, data, augmentation, optimizer, schedule, total batch "
                             "and effective lr, test settings) and exit without training")
    args = parser.parse_args(argv)
    args.config = args.config or str(default_config)
    cfg = config_from_args(args, defaults, open_keys)
    if check is not None:
        check(cfg, args.config)
    if args.dry_run:
        from hrseg.recipes import describe  # slow (every task module): only --dry-run needs it, not `hrseg --help`

        print(f"config: {args.config}")
        print(describe(cfg, processes=max(1, int(os.environ.get("WORLD_SIZE", 1)))))
        return 0
    train(cfg)
    return 0
