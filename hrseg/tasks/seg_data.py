"""The segmentation task's data: the dataset types of ``data.type`` and their classes, the datasets a
config builds (a synthetic split generated first), and the data section of a published file's dataset.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hrseg.config import load_config
from hrseg.configs_index import configs_root
from hrseg.data.seg.datasets import (ADE20KDataset, CityscapesDataset, CocoStuffDataset, FolderSegDataset,
                                     PascalContextDataset, SegDataset, VOCDataset)
from hrseg.data.seg.lip import LIPDataset
from hrseg.data.seg.transforms import SegTrainTransform
from hrseg.data.synthetic.lip import ensure_synthetic_lip
from hrseg.data.synthetic.streets import ensure_synthetic_streets
from hrseg.errors import ConfigError
from hrseg.meta.classes import (ADE20K_CLASSES, CITYSCAPES_CLASSES, COCO_STUFF_CLASSES, LIP_CLASSES, LIP_FLIP_PAIRS,
                                PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_60_CLASSES, VOC_CLASSES)
from hrseg.tasks.common import ensure_synthetic

__all__ = ["DATA_TYPES", "build_dataset", "class_names", "crop_pair", "default_palette", "with_dataset_of"]

DATA_TYPES = ("cityscapes", "pascal_context", "ade20k", "voc", "cocostuff", "lip", "folder")
# The datasets whose classes are fixed; PASCAL-Context has 59 or 60 (data.num_classes), a folder its own
_FIXED_CLASSES = {"cityscapes": CITYSCAPES_CLASSES, "ade20k": ADE20K_CLASSES, "voc": VOC_CLASSES,
                  "cocostuff": COCO_STUFF_CLASSES, "lip": LIP_CLASSES}
# The data section a published file of these datasets is tested on (mmsegmentation's layouts and splits, the
# official HRNet files' ADE20K included: the same images and labels; its voc12aug files trained on VOC's train
# and SBD's augmented labels; COCO-Stuff 10k in the official code's lists)
_DATA_OF = {"ade20k": dict(type="ade20k", root="datasets/ADEChallengeData2016", train_split="training",
                           val_split="validation"),
            "voc": dict(type="voc", root="datasets/VOCdevkit/VOC2012", train_split="train+aug", val_split="val"),
            "cocostuff": dict(type="cocostuff", root="datasets/cocostuff", train_split="train", val_split="val")}


def crop_pair(value: Sequence[int], what: str) -> tuple[int, int]:
    """``value`` as (H, W), positive integers; else a ConfigError naming ``what``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2 or min(int(v) for v in value) < 1:
        raise ConfigError(f"{what}: expected [H, W] of positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def class_names(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The class names of the config's dataset."""
    data = cfg["data"]
    kind = data["type"]
    if kind in _FIXED_CLASSES:
        return _FIXED_CLASSES[kind]
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
        _ensure_synthetic(data)
    transform = None
    if train:
        transform = SegTrainTransform(
            crop_size=crop_pair(data["crop_size"], "data.crop_size"), base_size=data["base_size"],
            short_size=data["short_size"],
            scale_range=tuple(data["scale_range"]), flip_prob=0.5 if data["flip"] else 0.0,
            photometric=bool(data["photometric"]), cat_max_ratio=float(data["cat_max_ratio"]),
            scale_step=data["scale_step"], squash=bool(data["squash"]),
            pad_value=tuple(data["pad_value"]) if data["pad_value"] is not None else None,
            flip_pairs=LIP_FLIP_PAIRS if kind == "lip" else ())
    seed, split_name = cfg["seed"] or 0, data["train_split" if train else "val_split"]
    if kind == "pascal_context":
        return PascalContextDataset(root, split_name, len(names), transform, seed)
    named = {"cityscapes": CityscapesDataset, "ade20k": ADE20KDataset, "voc": VOCDataset, "cocostuff": CocoStuffDataset,
             "lip": LIPDataset}
    if kind in named:
        return named[kind](root, split_name, transform, seed)
    folders = data[split]
    if not folders.get("images") or not folders.get("masks"):
        raise ConfigError(f"data.{split}.images and data.{split}.masks must be set for a folder dataset")
    palette = np.array(data["palette"], dtype=np.uint8) if data["palette"] else None
    return FolderSegDataset(root / folders["images"], root / folders["masks"], names, transform, seed, palette)


def _ensure_synthetic(data: Mapping[str, Any]) -> None:
    """Generate the synthetic street scenes (LIP: figures) once (rank 0; the other processes wait)."""
    if data["type"] not in ("cityscapes", "lip"):
        raise ConfigError("data.synthetic makes Cityscapes-layout scenes (or LIP-layout figures): set "
                          "data.type='cityscapes' (or 'lip')")
    ensure_synthetic(data, ensure_synthetic_lip if data["type"] == "lip" else ensure_synthetic_streets)


def with_dataset_of(cfg: dict[str, Any], dataset: str, n: int) -> dict[str, Any]:
    """``cfg`` set to a record's dataset, ``n`` classes of ``dataset``: Cityscapes' 19 (the
    defaults), PASCAL-Context's 59/60, ADE20K's 150, VOC's 21 (mmsegmentation's layouts), COCO-Stuff's 171
    (the official lists), LIP's 20 (the
    data section of its recipes, the squashed 473x473 images included), else a folder dataset with
    numbered classes. The test setting is the record's."""
    if dataset == "pascal_context" and n in (59, 60):
        cfg["data"].update(type="pascal_context", num_classes=n, root="datasets/VOCdevkit/VOC2010")
    elif dataset == "lip" and n == len(LIP_CLASSES):
        cfg["data"].update(load_config(configs_root() / "_base_" / "datasets" / "lip.py")["data"])
    elif dataset in _DATA_OF and n == len(_FIXED_CLASSES[dataset]):
        cfg["data"].update(_DATA_OF[dataset])
    elif n != 19:
        cfg["data"].update(type="folder", classes=[str(i) for i in range(n)])
    return cfg


def default_palette(cfg: Mapping[str, Any]) -> str:
    """The palette of the config's dataset (:func:`hrseg.visualization.segmentation.palette_for`)."""
    kind = cfg["data"]["type"]
    return "generated" if kind == "folder" else kind
