"""The command-line entry points: one module per command, each with ``main(argv) -> int``.

``hrseg train pose ...`` (hrseg.commands.cli) and ``python tools/train_pose.py ...`` both call
:func:`hrseg.commands.train_pose.main`, so the two spellings cannot drift apart. A module
``hrseg/commands/NAME.py`` is the subcommand ``hrseg NAME`` (underscores written as dashes),
``train_pose`` is ``hrseg train pose``; its docstring's first line is its help summary.

Where runs write: configs name their data roots and work dirs relative (``datasets/...``,
``work_dirs/...``), so they land under the current directory, never beside the installed
package; with ``$HRSEG_HOME`` set they land under it instead (:func:`in_home`).
"""
from __future__ import annotations

import argparse
import copy
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

from hrseg.cli import CommandParser, train_tool
from hrseg.configs_index import configs_root, task_scope
from hrseg.errors import ConfigError

if TYPE_CHECKING:  # a type only: the tasks import torch, which `hrseg --help` does not need
    from hrseg.tasks.base import Task

T = TypeVar("T")


def home_path(path: str | os.PathLike) -> Path:
    """``path`` under ``$HRSEG_HOME`` when that is set and ``path`` is relative; else ``path``."""
    home = os.environ.get("HRSEG_HOME")
    path = Path(path)
    return Path(home).expanduser().absolute() / path if home and not path.is_absolute() else path


def in_home(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a task config with its relative ``work_dir`` and ``data.root`` under ``$HRSEG_HOME``."""
    cfg = copy.deepcopy(dict(cfg))
    if cfg.get("work_dir"):
        cfg["work_dir"] = str(home_path(cfg["work_dir"]))
    if isinstance(cfg.get("data"), dict) and cfg["data"].get("root"):
        cfg["data"]["root"] = str(home_path(cfg["data"]["root"]))
    return cfg


def homed(run: Callable[[dict[str, Any]], T]) -> Callable[[Mapping[str, Any]], T]:
    """``run`` called on :func:`in_home` of its config (for the train functions of the tasks)."""
    return lambda cfg: run(in_home(cfg))


def shipped_config(relative: str) -> str:
    """A shipped config file by its path under ``configs/`` (the tools' embedded defaults)."""
    return str(configs_root() / relative)


def train_main(argv: list[str] | None, doc: str, task: Task, default_config: str) -> int:
    """``hrseg train TASK``: :func:`hrseg.cli.train_tool` for ``task`` (a :class:`hrseg.tasks.base.Task`:
    its config schema, its checks, its ``train``) with config names looked up in the task's
    folders, ``default_config`` (under ``configs/``) without one, runs under $HRSEG_HOME."""
    with task_scope(task.name):
        return train_tool(argv, doc, shipped_config(default_config), task.defaults, task.open_keys,
                          homed(task.train), check=task.check_config)


def for_task(task: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command's ``main``: config names are looked up in ``task``'s folders first."""
    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def scoped(argv: list[str] | None = None) -> int:
            with task_scope(task):
                return main(argv)
        return scoped
    return wrap


def evaluation_parser(doc: str, weights_help: str) -> argparse.ArgumentParser:
    """The arguments of every ``hrseg test TASK``: CONFIG, --weights, --out-dir, --cfg-options."""
    ap = CommandParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=None,
                    help="the config the weights belong to (model, data, test settings; a file or a shipped config's "
                    "name); default: the one an hrseg checkpoint given as --weights records, its run's own")
    ap.add_argument("--weights", default=None, help=weights_help)
    ap.add_argument("--out-dir", default=None, help="where the results and metrics JSON go (default: work_dir)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    return ap


def inference_parser(doc: str, images_help: str, weights_help: str, config_help: str,
                     out: str) -> argparse.ArgumentParser:
    """The arguments of every ``hrseg infer TASK``: IMAGES, --weights, --config, --out (default ``out``)."""
    ap = CommandParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help=images_help)
    ap.add_argument("--weights", default=None, help=weights_help)
    ap.add_argument("--config", default=None, help=config_help)
    ap.add_argument("--out", default=out, help=f"output folder (default: {out})")
    return ap


def add_backend_arg(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--backend``: what runs the model (docs/deploy.md); the config's ``test.backend`` without it
    (by default ``auto``: the fastest installed, named in the log)."""
    from hrseg.backends import AUTO, BACKENDS  # slow (torch, the exporters): only the commands that run models

    ap.add_argument("--backend", choices=BACKENDS + (AUTO,), default=None,
                    help="auto (default: the fastest installed, logged), torch (eager PyTorch), optimized "
                         "(BatchNorm folded, channels_last), compiled (that through torch.compile), onnxruntime "
                         "or openvino (the model exported, self-checked and cached)")
    return ap


def add_track_args(ap: argparse.ArgumentParser, smooth: bool = True) -> argparse.ArgumentParser:
    """``--track`` (and ``--smooth`` where results have keypoints): video with identities."""
    ap.add_argument("--track", action="store_true", help="videos (or a folder of one video's frames): an id per "
                    "person / object that stays across frames (track_id in the JSON lines, a colour per id); "
                    "the config's test.track; needs the [track] extra (docs/video.md)")
    if smooth:
        ap.add_argument("--smooth", action="store_true", help="with --track: steady keypoints (a filter per track and "
                        "keypoint: constant-velocity Kalman by default, or One-Euro; the config's test.smooth)")
    return ap


def evaluation_config(args: argparse.Namespace, load: Callable[..., dict[str, Any]],
                      options: Sequence[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """The config ``hrseg test`` evaluates with and the options still to apply over the weights'
    recorded model: CONFIG loaded (``load``) with ``options`` under ``$HRSEG_HOME``, and
    --cfg-options; without CONFIG, None (the config the --weights checkpoint records, its data and
    test settings) and all of ``options``, which then go over that one."""
    if args.config is not None:
        return in_home(load(args.config, list(options))), list(args.cfg_options)
    if args.weights is None:
        raise ConfigError("give a CONFIG, or --weights of an hrseg checkpoint (it records the config it was "
                          "trained with)")
    return None, list(options)


def test_options(args: argparse.Namespace, **settings: Any) -> list[str]:
    """``--cfg-options`` plus the command's test settings (``--backend`` and ``settings`` not None)
    as ``test.KEY=VALUE`` entries."""
    options = list(args.cfg_options)
    for key, value in {"backend": getattr(args, "backend", None), **settings}.items():
        if value is not None:
            options.append(f"test.{key}={value}")
    return options
