"""Semantic segmentation, end to end: config -> datasets -> training -> mIoU -> inference.

One prediction path (:func:`hrseg.inference.segmentation.predict_labels`: whole image or sliding
window, optional multi-scale and flip, scores resized to the input size) serves the evaluation
during training, ``tools/test_seg.py`` and ``tools/infer_seg.py``, so the numbers are the same
wherever they are computed. The tools only parse arguments and call this module.
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import hrseg
from hrseg.utils.image_io import read_image
from hrseg.data.augment import mixed_losses, mixup_images
from hrseg.data.seg_datasets import CityscapesDataset, FolderSegDataset, PascalContextDataset, SegDataset
from hrseg.meta.classes import (
    CITYSCAPES_CLASSES, IGNORE_INDEX, PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_60_CLASSES,
)
from hrseg.data.seg_transforms import SegTrainTransform
from hrseg.engine import TRAIN_DEFAULTS, Trainer, barrier, get_rank
from hrseg.engine.distributed import get_world_size
from hrseg.engine.progressive import PROGRESSIVE_DEFAULTS, ProgressiveHook, build_schedule
from hrseg.errors import CheckpointError, ConfigError, DataError
from hrseg.evaluation.segmentation import ConfusionMatrix, format_table
from hrseg.inference.optimize import inference_model
from hrseg.inference.segmentation import SEG_TEST_DEFAULTS, predict_labels
from hrseg.losses.segmentation import SegCrossEntropy
from hrseg.tasks import common
from hrseg.tasks.common import build_from_config as build_seg_model
from hrseg.tasks.common import load_task_config, start_training
from hrseg.utils.io import write_json
from hrseg.visualization.segmentation import palette_for, write_segmentation

log = logging.getLogger("hrseg")

# The official Cityscapes class weights (HRNet-Semantic-Segmentation lib/datasets/cityscapes.py).
CITYSCAPES_CLASS_WEIGHTS = [0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023,
                            0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507]

# The defaults are the official Cityscapes recipe of HRNetV2-W48 (1024x512 crops from frames
# rescaled by 0.5-2.0, flip, SGD lr 0.01 momentum 0.9 wd 5e-4, poly 0.9, 484 epochs, 3 images per
# GPU on 4 GPUs); they are also the schema: a config key not listed here is an error.
SEG_DEFAULTS: dict[str, Any] = {
    **copy.deepcopy(TRAIN_DEFAULTS),
    "model": {"name": "seg_hrnetv2_w48", "num_classes": 19},
    "optimizer": dict(TRAIN_DEFAULTS["optimizer"], type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4,
                      nesterov=False),
    "schedule": dict(TRAIN_DEFAULTS["schedule"], type="poly", power=0.9),
    "train": dict(TRAIN_DEFAULTS["train"], max_epochs=484, eval_interval=10),
    "data": dict(
        type="cityscapes",  # cityscapes | pascal_context | folder
        root="datasets/cityscapes",
        synthetic=None,  # dict(num_train=..., ...): generate the synthetic street scenes under root
        train_split="train",  # cityscapes / pascal_context split names
        val_split="val",
        num_classes=None,  # pascal_context: 59 (background ignored) or 60
        classes=None,  # folder: the class names, in mask-value order
        palette=None,  # folder: [[r, g, b], ...] (default: a generated palette)
        train=dict(images=None, masks=None),  # folder: image and mask folders, relative to root
        val=dict(images=None, masks=None),
        crop_size=[512, 1024],  # H, W
        base_size=2048,  # long side at scale 1.0 (None: the image's own size)
        scale_range=[0.5, 2.0],
        flip=True,
        photometric=False,  # mmsegmentation's photometric distortion (the official HRNet code has none)
        cat_max_ratio=1.0,
        batch_size=3,  # per process
        num_workers=4,
    ),
    "loss": dict(ohem=False, ohem_thresh=0.9, ohem_min_kept=131072, class_weight=None, aux_weight=0.4),
    # EfficientNetV2's progressive learning (hrseg.engine.progressive), off by default: the crop grows
    # in stages (on multiples of 32) while RandAugment, dropout and Mixup grow with it
    "progressive": dict(PROGRESSIVE_DEFAULTS, size_divisor=32),
    "test": dict(SEG_TEST_DEFAULTS, mode="whole", crop_size=[1024, 2048]),
}
OPEN_KEYS = ("model",)
DATA_TYPES = ("cityscapes", "pascal_context", "folder")


def load_seg_config(path: str | os.PathLike | None = None,
                    cfg_options: Mapping[str, Any] | Sequence[str] | None = None) -> dict[str, Any]:
    """A segmentation config (``None``: the defaults) validated against :data:`SEG_DEFAULTS`."""
    return load_task_config(path, cfg_options, SEG_DEFAULTS, OPEN_KEYS, "seg")


# -- data ---------------------------------------------------------------------------------------
def _pair(value: Sequence[int], what: str) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or min(int(v) for v in value) < 1:
        raise ConfigError(f"{what}: expected [H, W] of positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def class_names(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The class names of the config's dataset."""
    data = cfg["data"]
    kind = data["type"]
    if kind == "cityscapes":
        return CITYSCAPES_CLASSES
    if kind == "pascal_context":
        n = data["num_classes"] or 59
        if n not in (59, 60):
            raise ConfigError(f"data.num_classes: PASCAL-Context has 59 or 60 classes, not {n}")
        return PASCAL_CONTEXT_59_CLASSES if n == 59 else PASCAL_CONTEXT_60_CLASSES
    if kind == "folder":
        if not data["classes"]:
            raise ConfigError("data.classes: a folder dataset needs its class names")
        return tuple(str(c) for c in data["classes"])
    raise ConfigError(f"data.type: unknown dataset type {kind!r}; choose one of {', '.join(DATA_TYPES)}")


def build_dataset(cfg: Mapping[str, Any], split: str) -> SegDataset:
    """The ``train`` (augmented, tensors) or ``val`` (uint8 image, int64 label) dataset."""
    data = cfg["data"]
    root = Path(data["root"])
    train = split == "train"
    names = class_names(cfg)
    kind = data["type"]
    n_model = cfg["model"].get("num_classes")
    if n_model is not None and int(n_model) != len(names):
        raise ConfigError(f"model.num_classes is {n_model} but the {kind} dataset has {len(names)} classes")
    if data.get("synthetic") is not None:
        _ensure_synthetic(root, data)
    transform = None
    if train:
        transform = SegTrainTransform(
            crop_size=_pair(data["crop_size"], "data.crop_size"), base_size=data["base_size"],
            scale_range=tuple(data["scale_range"]), flip_prob=0.5 if data["flip"] else 0.0,
            photometric=bool(data["photometric"]), cat_max_ratio=float(data["cat_max_ratio"]))
    seed = cfg["seed"] or 0
    if kind == "cityscapes":
        dataset: SegDataset = CityscapesDataset(root, data["train_split" if train else "val_split"], transform, seed)
    elif kind == "pascal_context":
        dataset = PascalContextDataset(root, data["train_split" if train else "val_split"], len(names),
                                       transform, seed)
    else:
        folders = data[split]
        if not folders.get("images") or not folders.get("masks"):
            raise ConfigError(f"data.{split}.images and data.{split}.masks must be set for a folder dataset")
        palette = np.array(data["palette"], dtype=np.uint8) if data["palette"] else None
        dataset = FolderSegDataset(root / folders["images"], root / folders["masks"], names, transform, seed,
                                   palette)
    return dataset


def _ensure_synthetic(root: Path, data: Mapping[str, Any]) -> None:
    """Generate the synthetic street scenes once (rank 0; the other processes wait)."""
    import inspect

    from hrseg.data.synthetic_streets import ensure_synthetic_streets

    if data["type"] != "cityscapes":
        raise ConfigError("data.synthetic makes Cityscapes-layout scenes: set data.type='cityscapes'")
    options = dict(data["synthetic"])
    known = set(inspect.signature(ensure_synthetic_streets).parameters) - {"root", "log", "progress_every"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"data.synthetic.{unknown[0]}: unknown option; known: {', '.join(sorted(known))}")
    if "size" in options:
        options["size"] = tuple(options["size"])
    if get_rank() == 0:
        ensure_synthetic_streets(root, **options)
    barrier()


def seg_collate(samples: Sequence[tuple[torch.Tensor, torch.Tensor, Mapping[str, Any]]]) -> dict[str, torch.Tensor]:
    """Training batches: ``{'image': (B, 3, H, W) float, 'label': (B, H, W) int64}``."""
    return {"image": torch.stack([s[0] for s in samples]), "label": torch.stack([s[1] for s in samples])}


# -- model, loss, weights -------------------------------------------------------------------------
def build_loss(loss_cfg: Mapping[str, Any], model: nn.Module) -> SegCrossEntropy:
    """Cross-entropy (OHEM optional) over the model's outputs: 1 for the logits, ``aux_weight``
    for OCR's auxiliary logits."""
    n_outputs = len(getattr(model, "output_weights", (1.0,)))
    weights = (1.0, float(loss_cfg["aux_weight"]))[:n_outputs]
    return SegCrossEntropy(IGNORE_INDEX, loss_cfg["class_weight"], bool(loss_cfg["ohem"]),
                           float(loss_cfg["ohem_thresh"]), int(loss_cfg["ohem_min_kept"]), weights,
                           bool(getattr(model, "align_corners", False)))


HOW_TO_GET_WEIGHTS = ("run `python tools/train_seg.py` first (it trains a small model on synthetic street "
                      "scenes on the CPU), or download an official HRNet-Semantic-Segmentation checkpoint "
                      "(e.g. hrnet_w48_cityscapes_cls19_1024x2048_trainset.pth) and pass it with --weights")


def resolve_weights(weights: str | os.PathLike | None, work_dir: str | os.PathLike) -> Path:
    """``weights``, or the newest checkpoint of the run in ``work_dir`` (best.pth, else latest.pth)."""
    return common.resolve_weights(weights, work_dir, HOW_TO_GET_WEIGHTS)


def _official_model(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> dict[str, Any]:
    """The model section that fits an official (or any hrseg) segmentation state dict."""
    if "cls_head.weight" in state or "head.cls_head.weight" in state:
        family, head = "seg_hrnetv2_ocr_", "aux_head.0.weight"
        classes = state.get("cls_head.weight", state.get("head.cls_head.weight"))
    else:
        family, head = "seg_hrnetv2_", "last_layer.0.weight"
        classes = state.get("last_layer.3.weight", state.get("head.last_layer.3.weight"))
    concat = state.get(head, state.get(f"head.{head}"))
    if concat is None or classes is None:
        raise CheckpointError(f"{path}: not a segmentation checkpoint (no {head} / classifier weights found)")
    shapes = {(k[len("backbone."):] if k.startswith("backbone.") else k): tuple(v.shape) for k, v in state.items()}
    names = [n for n in hrseg.list_models(family) if family == "seg_hrnetv2_ocr_" or "_ocr_" not in n]
    for name in names:  # the backbone's key set and shapes single out the named configuration
        with torch.device("meta"):
            model = hrseg.build_model(name, num_classes=int(classes.shape[0]))
        if all(shapes.get(k) == tuple(v.shape) for k, v in model.backbone.state_dict().items()):
            return {"name": name, "num_classes": int(classes.shape[0])}
    raise CheckpointError(f"{path}: no {family}* model fits this checkpoint "
                          f"({int(concat.shape[0])} V2 channels, {int(classes.shape[0])} classes)")


def config_for_weights(weights: str | os.PathLike, cfg_options: Mapping[str, Any] | Sequence[str] | None = None
                       ) -> dict[str, Any]:
    """The config to run ``weights`` with: the one an hrseg checkpoint recorded when it was
    trained, else the official recipe its classes tell (19: Cityscapes, whole 2048x1024 frames;
    59/60: PASCAL-Context, long side 520) with the model its shapes tell."""
    from hrseg.checkpoint import extract_state_dict, read_checkpoint
    from hrseg.config import load_config

    ckpt = read_checkpoint(weights)
    meta = ckpt.get("meta")
    recorded = meta.get("config") if isinstance(meta, Mapping) else None
    if recorded:  # over today's defaults, so that options added since the training run exist
        return load_config(None, cfg_options, _merged(SEG_DEFAULTS, recorded), OPEN_KEYS)
    cfg = load_seg_config(None, cfg_options)
    cfg["model"] = _official_model(extract_state_dict(ckpt, weights), weights)
    n = cfg["model"]["num_classes"]
    if n in (59, 60):
        cfg["data"].update(type="pascal_context", num_classes=n, root="datasets/VOCdevkit/VOC2010")
        cfg["test"].update(base_size=520)
    elif n != 19:
        cfg["data"].update(type="folder", classes=[str(i) for i in range(n)])
    return cfg


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key not in OPEN_KEYS:
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_seg_model(model_cfg: Mapping[str, Any], weights: str | os.PathLike) -> nn.Module:
    model = build_seg_model(model_cfg)
    hrseg.load_checkpoint(model, weights)
    return model.eval()


# -- evaluation: the one prediction path ---------------------------------------------------------
def evaluate_dataset(model: nn.Module, dataset: SegDataset, test_cfg: Mapping[str, Any],
                     progress: bool = True) -> tuple[dict[str, float], dict[str, Any]]:
    """mIoU of ``model`` on ``dataset`` (untransformed samples: uint8 image, int64 label).

    Returns the scalar metrics (``mIoU``, ``aAcc``, ``mAcc``) and the full result with the
    per-class IoU. Distributed: each process predicts its share; the confusion matrices are summed.
    """
    runner = inference_model(model, test_cfg)
    cm = ConfusionMatrix(dataset.num_classes, dataset.ignore_index)
    rank, world = get_rank(), get_world_size()
    for index in tqdm(range(rank, len(dataset), world), desc="evaluate", leave=False,
                      disable=not progress or rank != 0):
        image, label, _ = dataset.load(index)
        cm.update(predict_labels(runner, image, test_cfg), label)
    cm.all_reduce()
    result = cm.compute()
    return {"mIoU": result["mIoU"], "aAcc": result["pixel_acc"], "mAcc": result["mean_acc"]}, result


# -- training and testing ---------------------------------------------------------------------------
def train(cfg: Mapping[str, Any]) -> dict[str, float]:
    """Train the config's model, evaluating mIoU on its val split; returns the final metrics."""
    train_set, val_set, loader, processes = start_training(cfg, build_dataset, seg_collate)
    model = build_seg_model(cfg["model"])
    criterion = build_loss(cfg["loss"], model)
    work_dir = Path(cfg["work_dir"])
    names = class_names(cfg)
    last: dict[str, Any] = {}

    schedule = build_schedule(cfg["progressive"], cfg["data"]["crop_size"], cfg["train"]["max_epochs"])
    hook = (ProgressiveHook(schedule, [train_set], seed=cfg["seed"] or 0)
            if schedule is not None else None)

    def train_step(net: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if hook is not None and hook.mixup_alpha > 0:
            images, lam, perm = mixup_images(batch["image"], hook.mixup_alpha, hook.generator)
            return mixed_losses(criterion, net(images), batch["label"], lam, perm)
        return criterion(net(batch["image"]), batch["label"])

    def evaluate(net: nn.Module) -> dict[str, float]:
        metrics, last["result"] = evaluate_dataset(net, val_set, cfg["test"])
        return metrics

    log.info(f"training {cfg['model']['name']} on {len(train_set)} images, evaluating on {len(val_set)} "
             f"({processes})")
    trainer = Trainer(model, loader, train_step, cfg["optimizer"], cfg["schedule"], work_dir, seed=cfg["seed"],
                      resume=cfg["resume"], config=dict(cfg), evaluate=evaluate, epoch_hook=hook, **cfg["train"])
    metrics = trainer.fit()
    if get_rank() == 0:
        if "result" in last:
            print(format_table(last["result"], names))
            write_json(work_dir / "metrics_val_per_class.json",
                       {"classes": list(names), **{k: last["result"][k] for k in ("iou", "acc")}, **metrics})
        print(f"mIoU {metrics.get('mIoU', float('nan')):.4f} on the val split ({len(val_set)} images); "
              f"checkpoints, log.csv, curves.png and metrics.json are in {work_dir}")
    return metrics


def test(cfg: Mapping[str, Any], weights: str | os.PathLike | None,
         out_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Evaluate ``weights`` on the config's val split; prints the per-class IoU table and writes
    ``metrics_test.json`` to ``out_dir`` (default: the work_dir)."""
    model = load_seg_model(cfg["model"], resolve_weights(weights, cfg["work_dir"]))
    dataset = build_dataset(cfg, "val")
    metrics, result = evaluate_dataset(model, dataset, cfg["test"])
    names = class_names(cfg)
    t = cfg["test"]
    how = f"{t['mode']}" + (f", scales {t['scales']}" if len(t["scales"]) > 1 else "") + (", flip" if t["flip"] else "")
    print(f"{cfg['model']['name']} on {len(dataset)} {cfg['data']['type']} images ({how})")
    print(format_table(result, names))
    if get_rank() == 0:
        out = Path(out_dir or cfg["work_dir"]) / "metrics_test.json"
        write_json(out, {**metrics, "classes": list(names), "iou": result["iou"], "acc": result["acc"],
                         "num_images": len(dataset)})
        print(f"metrics: {out}")
    return metrics


# -- inference on photographs -----------------------------------------------------------------------
def infer(image_paths: Sequence[str | os.PathLike], cfg: Mapping[str, Any], weights: str | os.PathLike,
          out_dir: str | os.PathLike, palette: str | None = None, alpha: float = 0.5) -> list[dict[str, str]]:
    """Write, per image, ``<stem>_labels.png`` (class indices), ``<stem>_color.png`` (the
    dataset's palette) and ``<stem>_overlay.png`` (blended over the photograph), all at the
    image's size. Every image is decoded once before anything is written, so a missing or corrupt
    file stops the run with one error naming it and nothing written."""
    paths = [Path(p) for p in image_paths]
    for p in paths:
        read_image(p)  # errors name the file, before any output
    stems = [p.stem for p in paths]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise DataError(f"several inputs share the name {dupes[0]!r}: their outputs would overwrite each other")
    model = load_seg_model(cfg["model"], weights)
    runner = inference_model(model, cfg["test"])
    colours = palette_for(palette or _default_palette(cfg), model.num_classes)
    written = []
    for path in paths:
        image = read_image(path)
        labels = predict_labels(runner, image, cfg["test"])
        files = write_segmentation(out_dir, path.stem, image, labels, colours, alpha)
        del image, labels
        print(f"{path}: {files['labels']}, {files['color']}, {files['overlay']}")
        written.append({"image": str(path), **{k: str(v) for k, v in files.items()}})
    return written


def _default_palette(cfg: Mapping[str, Any]) -> str:
    kind = cfg["data"]["type"]
    if kind in ("cityscapes", "pascal_context"):
        return kind
    return "generated"


def find_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, and the images (sorted) inside any folder given."""
    from hrseg.data.seg_datasets import IMAGE_SUFFIXES

    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            images = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise DataError(f"{p}: no images found in this folder ({', '.join(IMAGE_SUFFIXES)})")
            found += images
        else:
            found.append(p)
    return found
