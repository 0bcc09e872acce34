"""How a task reads weights: :meth:`WeightsLoading.load_model`, one policy for every file a task is given
(an hrseg checkpoint and the config it records, a file :func:`hrseg.save_checkpoint` wrote with its model's
meta alone, a published file by name or content, another project's file with a config, an exported graph),
and the configs made for files that record none (:meth:`WeightsLoading.config_for_model`). :class:`Task`
(:mod:`hrseg.tasks.base`) is built on it; a task overrides the meta hooks (what its checkpoints record, what a
model's meta sets in its config)."""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from torch import nn

from hrseg.errors import CheckpointError
from hrseg import weights as published
from hrseg.backends import AUTO
from hrseg.checkpoint import checkpoint_meta, read_checkpoint
from hrseg.config import load_config, parse_options
from hrseg.export.meta import is_exported, read_meta
from hrseg.export.runners import ExportedFile
from hrseg.models.registry import model_info
from hrseg.tasks import common
from hrseg.tasks.common import merged, without_pretrained


class UnnamedModelError(CheckpointError):
    """A file that records no model and is no published one: a config must name it (:meth:`Task.load_model`)."""


class WeightsLoading:
    """The weights side of :class:`hrseg.tasks.base.Task` (whose ``load_config`` and ``build_model`` it calls)."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    open_keys: ClassVar[tuple[str, ...]] = ("model",)
    how_to_get_weights: ClassVar[str]

    def model_meta(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """What the model predicts and expects, recorded in every checkpoint under ``meta.model``."""
        info = model_info(cfg["model"]["name"])
        return {"task": self.name, "model": cfg["model"]["name"], "mean": list(info.mean), "std": list(info.std)}

    def apply_meta(self, cfg: dict[str, Any], meta: Mapping[str, Any]) -> None:
        """Put a checkpoint's recorded meta back into ``cfg`` (classes, keypoints, ...)."""

    def config_for_model(self, name: str, meta: Mapping[str, Any], cfg_options: Any = None) -> dict[str, Any]:
        """The config for weights that name their model and record no config (a published file, by its record's
        meta; :func:`hrseg.save_checkpoint` of a model ``hrseg.build_model`` made, by the meta it gave it): the
        defaults with that model and ``cfg_options``, then ``meta`` put in by :meth:`apply_meta` (classes,
        keypoints); tasks add what else ``meta`` sets (pose: the input size; segmentation: the dataset)."""
        cfg = self.load_config(None, None)
        cfg["model"] = {"name": name}
        cfg = load_config(None, cfg_options, cfg, self.open_keys)
        self.apply_meta(cfg, meta)
        return cfg

    def config_for_record(self, record: Any, cfg_options: Any) -> dict[str, Any]:
        """:meth:`config_for_model` of published weights (a :class:`hrseg.weights.WeightRecord`)."""
        return self.config_for_model(record.model, record.model_meta(), cfg_options)

    def resolve_weights(self, weights: str | os.PathLike | None, work_dir: str | os.PathLike,
                        flag: str = "--weights") -> Path:
        """``weights``, or the newest checkpoint of the run in ``work_dir`` (best.pth, else latest.pth);
        the error without either names the command's ``flag``."""
        return common.resolve_weights(weights, work_dir, self.how_to_get_weights, flag)

    def load_model(self, weights: str | os.PathLike, cfg: Mapping[str, Any] | None = None,
                   cfg_options: Mapping[str, Any] | Sequence[str] | None = None
                   ) -> tuple[nn.Module, dict[str, Any]]:
        """The model in ``weights`` (eval mode) and the config to run it with; the file is read once.

        What model a file holds is read, never guessed from its tensors' shapes:

        * an hrseg checkpoint records its config and meta (a file :func:`hrseg.save_checkpoint` wrote, its meta
          alone: :meth:`config_for_model`). Without ``cfg``: the recorded config (over today's defaults, so
          options added since exist) plus ``cfg_options``; with ``cfg``: that config but the checkpoint's model
          section (the weights define the model). The recorded meta (classes, keypoints) goes back into the
          config and becomes ``model.meta``;
        * a published file (by name, or a path whose file name or SHA-256 is a record's,
          :func:`hrseg.weights.identify`): the record's model and meta;
        * any other file (an official checkpoint under another name): the model of ``cfg``,
          which is then required, its layout converted as for published files;
        * an exported ``.onnx`` / ``.xml`` (``hrseg export``): no torch model but an
          :class:`~hrseg.export.runners.ExportedFile`, run on ONNX Runtime or OpenVINO with the config
          the file records, as a checkpoint's.
        """
        if is_exported(weights):  # an exported file runs alone
            return self._load_exported(Path(weights), cfg, cfg_options)
        record = published.record_of(weights, None)  # a published name, not a path
        path = published.resolve(weights)
        content, meta = None, {}
        if record is None:
            content = read_checkpoint(path)
            meta = checkpoint_meta(content)
            record = published.record_held(path, meta)
        common.check_holds_task(self.name, path, meta, record)
        if record is not None:  # published weights: their layout is converted, their meta is the record's
            out = copy.deepcopy(dict(cfg)) if cfg is not None else self.config_for_record(record, cfg_options)
            out["model"] = {**out["model"], "name": record.model}
            model = self.build_model(without_pretrained(out))
            published.load_into(model, path, record.model, record=record, content=content)
            model.meta = self.model_meta(out)
            return model.eval(), out
        out, model_meta = self._config_to_run(path, meta.get("config"), meta.get("model"), cfg, cfg_options,
                                              "the file records no model (not an hrseg checkpoint) and is no "
                                              "published file hrseg knows by name or SHA-256")
        model = self.build_model(without_pretrained(out))  # the checkpoint holds every weight
        if not meta.get("config"):  # another project's layout, with the user's config
            published.load_into(model, path, content=content)
        else:
            published.load_checkpoint(model, path, ckpt=content)
        model.meta = model_meta or self.model_meta(out)
        return model.eval(), out

    def _config_to_run(self, path: Path, config: Mapping[str, Any] | None, model_meta: Mapping[str, Any] | None,
                       cfg: Mapping[str, Any] | None, cfg_options: Any, unnamed: str) -> tuple[dict, dict]:
        """The config a file's model runs with and its model meta (:meth:`load_model`'s policy):
        ``cfg`` with the file's model section, else the ``config`` the file records over today's
        defaults with ``cfg_options``; the recorded meta (else the one its config implies) applied."""
        named = (model_meta or {}).get("model")  # a file hrseg.save_checkpoint wrote records its model, not its config
        recorded = merged(self.defaults, config, self.open_keys) if config else (
            self.config_for_model(named, model_meta) if named else None)
        if cfg is not None:
            out = copy.deepcopy(dict(cfg))
            if recorded is not None:  # the weights define the model; --cfg-options model.* (NMS, sizes) still apply
                model_options = {k: v for k, v in parse_options(cfg_options, str(path)).items() if k[:6] == "model."}
                out = load_config(None, model_options, {**out, "model": recorded["model"]}, self.open_keys)
        elif recorded is not None:
            out = load_config(None, cfg_options, recorded, self.open_keys)
        else:
            raise UnnamedModelError(f"{path}: {unnamed}; pass the config it was trained with (--config: its model "
                                    "section names the model, as the official code's config does) or a published "
                                    "name (hrseg weights list)")
        # checkpoints written before meta.model existed: the meta their recorded config implies
        model_meta = dict(model_meta or (self.model_meta(recorded) if recorded is not None else {}))
        self.apply_meta(out, model_meta)
        return out, model_meta

    def _load_exported(self, path: Path, cfg: Mapping[str, Any] | None, cfg_options: Any
                       ) -> tuple[nn.Module, dict[str, Any]]:
        """An exported ``.onnx`` / ``.xml`` file as the weights: no torch model, an
        :class:`~hrseg.export.runners.ExportedFile` the backends run as it was exported, with the
        config it records (its test settings; run on ``auto``: ONNX Runtime or OpenVINO)."""
        record = read_meta(path)
        recorded_model = record.get("model_meta") or {"model": record["model"]}
        common.check_holds_task(self.name, path, {"model": recorded_model}, None)
        config = copy.deepcopy(record.get("config"))
        if config:  # the checkpoint's backend is not the file's; its dtype is (where the task has one)
            config.setdefault("test", {})["backend"] = AUTO
            if "dtype" in self.defaults.get("test", {}):
                config["test"]["dtype"] = record["dtype"]
        out, model_meta = self._config_to_run(path, config, record.get("model_meta"), cfg, cfg_options,
                                              "exported without its config (by the backends' cache, or an older "
                                              "hrseg); export it with hrseg export")
        out["model"] = {**out["model"], "name": record["model"]}  # the file's model, whatever --config says
        self.fit_exported(out, record)
        return ExportedFile(path, {**record, "model_meta": model_meta}), out

    def fit_exported(self, cfg: dict[str, Any], record: Mapping[str, Any]) -> None:
        """Fit ``cfg`` to what an exported file fixed (pose: its crop size); nothing by default."""
