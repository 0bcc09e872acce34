"""What the task modules (pose, segmentation, detection) share: the model from a config's
``model`` section, COCO-style split paths, the weights to run, and the start of a training run."""
from __future__ import annotations

import copy
import logging
import math
import os
from dataclasses import asdict
from inspect import signature
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from torch import nn
from torch.utils.data import DataLoader, Dataset

from hrseg.checkpoint import recorded_model
from hrseg.engine import build_dataloader, seed_everything
from hrseg.engine.distributed import get_world_size, init_distributed
from hrseg.engine.progressive import ProgressiveHook, build_schedule
from hrseg.errors import CheckpointError, ConfigError
from hrseg.meta.keypoints import KeypointSet
from hrseg.export.check import check_boxes
from hrseg.inference.predictor import Predictor
from hrseg.inference.smoothing import KeypointSmoother
from hrseg.inference.tracking import Tracker, TrackerConfig
from hrseg.models.registry import model_info
from hrseg.weights import build_model
from hrseg.config import load_config
from hrseg.data.synthetic.mpii import ensure_synthetic_mpii, mpii_paths
from hrseg.data.synthetic.pose import dataset_paths, ensure_synthetic_pose
from hrseg.data.synthetic.options import generator_options
from hrseg.data.synthetic.video_frames import ensure_synthetic_video_frames
from hrseg.engine import barrier, get_rank

log = logging.getLogger("hrseg")

# --track / --smooth: the tracker's and the keypoint filter's settings, as the config's test.track
# and test.smooth (the classes' own defaults: one place for each value)
TRACK_DEFAULTS = {k: v for k, v in asdict(TrackerConfig()).items() if k not in ("sigmas", "limbs")}  # the model's
SMOOTH_DEFAULTS = {k: p.default for k, p in signature(KeypointSmoother).parameters.items()
                   if k in ("filter", "process_noise", "measurement_noise", "score_weight", "joint_noise", "min_cutoff",
                            "beta")}


def tracking(predictor: Predictor, test_cfg: Mapping[str, Any], box_format: str, smooth: bool = False,
             keypoints: KeypointSet | None = None, score_key: str = "score") -> Predictor:
    """``predictor`` following objects across video frames (ByteTrack's association on
    ``score_key``; for people OKS with the ``keypoints`` set's sigmas, their looks along its limbs) with
    ``test.track``'s settings, and smoothing keypoints with ``test.smooth``'s when ``smooth``."""
    sigmas = keypoints.sigmas if keypoints is not None else None
    limbs = keypoints.limb_links if keypoints is not None else None
    config = TrackerConfig(**test_cfg["track"], sigmas=sigmas, limbs=limbs)
    joint_noise = test_cfg["smooth"].get("joint_noise") if smooth else None
    if joint_noise is not None and sigmas is not None and len(joint_noise) != len(sigmas):
        raise ConfigError(f"test.smooth.joint_noise has {len(joint_noise)} values; the model has {len(sigmas)} keypoints")
    smoother = KeypointSmoother(**test_cfg["smooth"], frame_rate=config.frame_rate) if smooth else None
    return predictor.tracking(Tracker(config, box_format, score_key), smoother)


def check_predictor(task: Any, model: nn.Module, cfg: Mapping[str, Any]) -> Predictor:
    """``task``'s one predictor of eager ``model`` as an export's self-check runs it
    (:func:`hrseg.export.check.check_through`): ``cfg``'s test settings (flip, decoder, scales,
    windows) on PyTorch; pose's people are :func:`~hrseg.export.check.check_boxes` (two: a
    fixed-batch graph runs them one at a time), so no person detector is looked for. On a copy:
    a detector's predictor raises its model's box threshold to what it reports
    (:func:`~hrseg.inference.predictor.skip_unreported`), which must not reach the exported
    graph."""
    cfg = copy.deepcopy(dict(cfg))
    cfg["test"]["backend"] = "torch"
    options: dict[str, Any] = {}
    if task.name == "pose":
        options["person_detector"] = lambda image: check_boxes(image, 2)
    return task.predictor(copy.deepcopy(model), cfg, **options)


def build_from_config(model_cfg: Mapping[str, Any]) -> nn.Module:
    """``hrseg.build_model(model.name, **the other model keys)`` (``pretrained``: the backbone's weights)."""
    options = dict(model_cfg)
    name = options.pop("name", None)
    if not name:
        raise ConfigError("model.name is not set")
    return build_model(name, **options)


def progressive_hook(cfg: Mapping[str, Any], train_set: Dataset, final_size: Sequence[int],
                     heatmap_stride: int | None = None) -> ProgressiveHook | None:
    """The Trainer's epoch hook for the config's ``progressive`` section, its stages ending at
    ``final_size`` (heatmaps at ``heatmap_stride`` where the task has them); None when it is off."""
    if cfg["progressive"].get("enabled") and cfg["train"].get("max_iters"):
        raise ConfigError("progressive.enabled: its stages are counted in epochs; set train.max_epochs, not "
                          "train.max_iters")
    schedule = build_schedule(cfg["progressive"], final_size, cfg["train"]["max_epochs"], heatmap_stride=heatmap_stride)
    return ProgressiveHook(schedule, [train_set], seed=cfg["seed"] or 0) if schedule is not None else None


def check_model_task(task: str, cfg: Mapping[str, Any], source: str | os.PathLike | None = None) -> None:
    """A config whose ``model.name`` is another task's model (``hrseg train pose`` with a
    segmentation model) stops here, before any data are built; ``source``: the config file."""
    name = cfg["model"].get("name")
    if name and model_info(name).task != task:
        raise ConfigError(f"{source or 'the config'}: model.name {name} is a {model_info(name).task} model, "
                          f"not a {task} one (hrseg models --names lists the models)")


def load_task_config(path: str | os.PathLike | None, cfg_options: Mapping[str, Any] | Sequence[str] | None,
                     defaults: Mapping[str, Any], open_keys: Sequence[str], task: str) -> dict[str, Any]:
    """A task's config (``path`` None: its defaults) validated against ``defaults``; work_dir
    defaults to ``work_dirs/<config name>`` (``work_dirs/<task>_default`` without a file)."""
    cfg = load_config(path, cfg_options, defaults, open_keys)
    if not cfg.get("work_dir"):
        cfg["work_dir"] = str(Path("work_dirs") / (Path(path).stem if path else f"{task}_default"))
    return cfg


def coco_split_paths(cfg: Mapping[str, Any], split: str, annotations: str) -> tuple[Path, Path]:
    """The annotation file and image folder of ``split``; with ``data.synthetic`` set, the
    synthetic person split under ``data.root`` (generated if missing) and its ``annotations``
    file ('person_keypoints' or 'instances'): the photos, or with ``kind="video_frames"`` frames
    of synthetic videos (:mod:`hrseg.data.synthetic.video_frames`)."""
    data = cfg["data"]
    root = Path(data["root"])
    if data.get("synthetic") is not None:
        generate_once(lambda: _ensure_synthetic_photos(root, data["synthetic"]))
        paths = dataset_paths(root, split)
        return paths[annotations], paths["images"]
    s = data[split]
    if not s.get("ann_file") or not s.get("img_dir"):
        raise ConfigError(f"data.{split}.ann_file and data.{split}.img_dir must be set")
    return root / s["ann_file"], root / s["img_dir"]


def ensure_synthetic(data: Mapping[str, Any], ensure: Callable[..., Any]) -> Path:
    """``data.synthetic``'s split under ``data.root`` (returned), generated by ``ensure`` (a generator's
    generate-if-missing, ``data.synthetic`` its options) on rank 0 while the other processes wait."""
    root = Path(data["root"])
    options = generator_options(data["synthetic"], ensure)
    generate_once(lambda: ensure(root, **options))
    return root


def mpii_split_paths(cfg: Mapping[str, Any], split: str) -> tuple[Path, Path, Path | None]:
    """MPII's annotation file, image folder and ground truth (PCKh's .mat; None where not set) of ``split``;
    with ``data.synthetic`` set, those of the synthetic MPII-format split under ``data.root`` (generated if
    missing, :mod:`hrseg.data.synthetic.mpii`)."""
    data = cfg["data"]
    root = Path(data["root"])
    if data.get("synthetic") is not None:
        paths = mpii_paths(ensure_synthetic(data, ensure_synthetic_mpii), split)
        return paths["ann_file"], paths["img_dir"], paths["gt_file"] if split == "val" else None
    ann_file, img_dir = coco_split_paths(cfg, split, "person_keypoints")
    gt = data[split].get("gt_file")
    return ann_file, img_dir, None if gt is None else (Path(gt) if Path(gt).is_absolute() else root / gt)


def _ensure_synthetic_photos(root: Path, options: Mapping[str, Any]) -> None:
    """Generate ``data.synthetic``'s photo-layout split (``kind``: 'pose', the default, or
    'video_frames'; the rest are the generator's arguments) unless it is complete."""
    kinds = {"pose": ensure_synthetic_pose, "video_frames": ensure_synthetic_video_frames}
    options = dict(options) if isinstance(options, Mapping) else options  # else generator_options says what is wrong
    kind = options.pop("kind", "pose") if isinstance(options, dict) else "pose"
    if kind not in kinds:
        raise ConfigError(f"data.synthetic.kind: 'pose' or 'video_frames', not {kind!r}")
    kinds[kind](root, **generator_options(options, kinds[kind]))


def generate_once(make: Callable[[], Any]) -> None:
    """Run ``make`` (a synthetic split's generate-if-missing) on rank 0 while the other
    processes wait, so that several processes never write the same files."""
    if get_rank() == 0:
        make()
    barrier()


def resolve_weights(weights: str | os.PathLike | None, work_dir: str | os.PathLike,
                    how_to_get: str, flag: str = "--weights") -> str | os.PathLike:
    """``weights`` (a path or a published name, see :mod:`hrseg.weights`), or the newest checkpoint of
    the run in ``work_dir`` (best.pth, else latest.pth); without either, a :class:`CheckpointError`
    that says ``how_to_get`` them, or to pass the command's ``flag``."""
    if weights is not None:
        return weights
    for name in ("best.pth", "latest.pth"):
        if (Path(work_dir) / name).is_file():
            log.info(f"using weights {Path(work_dir) / name}")
            return Path(work_dir) / name
    raise CheckpointError(f"no weights given and no checkpoint in {work_dir}: pass {flag} FILE or {how_to_get}")


def start_training(cfg: Mapping[str, Any], build_dataset: Callable[[Mapping[str, Any], str], Dataset],
                   collate_fn: Callable | None) -> tuple[Dataset, Dataset, DataLoader, str]:
    """Join the process group if launched by torchrun, seed everything, build the train and val
    datasets and the seeded (distributed) train loader. Returns them with a word on the processes."""
    distributed = init_distributed()
    seed = cfg["seed"] if cfg["seed"] is not None else 0
    seed_everything(seed)
    data = cfg["data"]
    train_set, val_set = build_dataset(cfg, "train"), build_dataset(cfg, "val")
    loader = build_dataloader(train_set, batch_size=data["batch_size"], shuffle=True,
                              num_workers=data["num_workers"], collate_fn=collate_fn, drop_last=True, seed=seed)
    processes = f"distributed, {get_world_size()} processes" if distributed else "one process"
    if len(loader) == 0:  # an epoch drops its last, partial batch
        share = f" ({math.ceil(len(train_set) / get_world_size())} a process)" if distributed else ""
        raise ConfigError(f"data.batch_size {data['batch_size']}: the {len(train_set)} training samples{share} make "
                          "no whole batch (an epoch drops its last, partial one); lower data.batch_size")
    return train_set, val_set, loader, processes


def without_pretrained(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` without ``model.pretrained``: a model about to receive a whole checkpoint needs no
    ImageNet initialisation (and must not download one)."""
    return {**cfg, "model": {k: v for k, v in cfg["model"].items() if k != "pretrained"}}


def merged(base: Mapping[str, Any], over: Mapping[str, Any], open_keys: Sequence[str] = ()) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: dicts recursively (except ``open_keys``, replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key not in open_keys:
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_holds_task(name: str, path: Path, meta: Mapping[str, Any], record: Any) -> None:
    """Another task's weights (a segmentation checkpoint given to pose) stop here, in one line,
    before a model is built or exported: the task the file records, else its model's."""
    model = record.model if record is not None else recorded_model(meta)
    task = (meta.get("model") or {}).get("task") if record is None else None
    if task is None and model:
        try:
            task = model_info(model).task
        except ConfigError:  # a model hrseg does not name (torchvision's detector): building it says so
            return
    if task is not None and task != name:
        part = task in ("backbone", "neck")  # a part of models, no task's model
        what = "a backbone" if part else f"a {task} model"
        hint = "" if part else f" (the {task} commands take it, e.g. hrseg infer {task})"
        raise CheckpointError(f"{path}: holds {what} ({model}), not a {name} model{hint}")
