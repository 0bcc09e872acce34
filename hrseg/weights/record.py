"""One published checkpoint, :class:`WeightRecord`: where it is, what it is, what it scored, and the
model and meta it fills; the tables its meta names (keypoint sets, class lists, normalisations), and
the rule that reads the hash a published file name carries. The table of records is
:mod:`hrseg.weights.records`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hrseg.codecs.msra import recipe_maps_per_joint
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.meta.classes import (ADE20K_CLASSES, CITYSCAPES_CLASSES, COCO_STUFF_CLASSES, LIP_CLASSES,
                                PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_60_CLASSES, VOC_CLASSES, coco80_categories)
from hrseg.meta.keypoints import COCO_PERSON, MPII_PERSON

__all__ = ["CLASS_TABLES", "KEYPOINT_SETS", "NORMALIZATIONS", "WeightRecord", "hash_in_name"]

# The hash prefix a published file name carries: torch.hub's ``name-<hex>.pth`` (8 to 64 digits of
# its SHA-256), OpenMMLab's ``name-<8 hex>.pth`` and ``name-<8 hex>_<date>.pth`` (mmpose).
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})(?:_\d{8})?\.[A-Za-z.]+$")


def hash_in_name(name: str) -> str | None:
    """The SHA-256 prefix a published file name (or URL) carries, else None: the one rule for the
    table's files and for checkpoints given by URL."""
    found = _HASH_IN_NAME.search(name)
    return found.group(1) if found else None


# The tables a record's meta names (torchvision's "coco_91" is its own detector's: hrseg.weights.detector).
KEYPOINT_SETS = {"coco_17": COCO_PERSON, "mpii_16": MPII_PERSON}
CLASS_TABLES = {"coco_80": coco80_categories, "cityscapes_19": lambda: list(CITYSCAPES_CLASSES),
                "pascal_context_59": lambda: list(PASCAL_CONTEXT_59_CLASSES),
                "pascal_context_60": lambda: list(PASCAL_CONTEXT_60_CLASSES),
                "ade20k_150": lambda: list(ADE20K_CLASSES), "voc_21": lambda: list(VOC_CLASSES),
                "cocostuff_171": lambda: list(COCO_STUFF_CLASSES), "lip_20": lambda: list(LIP_CLASSES)}
NORMALIZATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


@dataclass(frozen=True)
class WeightRecord:
    """One published checkpoint: where it is, what it is, what it scored."""

    name: str
    url: str
    # mmpose0x, mmpose1x, mmseg_fcn, mmseg_ocr, mmdet_faster_rcnn, mmdet_cascade_rcnn, mmdet_fcos, official,
    # imagenet, timm, torchvision
    layout: str
    source: str
    licence: str
    metric: str  # the published figure, e.g. "AP 0.746"
    dataset: str  # dataset and test protocol of the metric
    params_m: float  # parameters (millions) of the model it fills
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def task(self) -> str:
        prefix = self.model.split("_", 1)[0]
        return {"pose": "pose", "seg": "segmentation", "det": "detection", "hrnet": "imagenet"}.get(prefix, "detection")

    @property
    def filename(self) -> str:
        name = self.url.rsplit("/", 1)[-1]
        # Hub files share one name (model.safetensors): prefix the record name.
        return f"{self.name}.{name}" if name in ("model.safetensors", "pytorch_model.bin") else name

    @property
    def sha256(self) -> str | None:
        """The SHA-256 prefix the file name carries, else None."""
        return hash_in_name(self.url)

    @property
    def class_set(self) -> tuple[str, int] | None:
        """``meta["classes"]`` (``<dataset>_<count>``) as ``(dataset, count)``; None for files
        without classes (pose, ImageNet)."""
        classes = self.meta.get("classes")
        if not classes:
            return None
        dataset, count = classes.rsplit("_", 1)
        return dataset, int(count)

    @property
    def num_classes(self) -> int | None:
        """The outputs of the head the file fills: its classes' count (:attr:`class_set`), plus the
        background label 0 of hrseg's detectors (torchvision's convention: 81 for COCO's 80)."""
        if self.class_set is None:
            return None
        return self.class_set[1] + (1 if self.model.startswith("det_") else 0)

    @property
    def maps_per_joint(self) -> int:
        """The maps a pose file's head draws per joint, its recipe's codec's (3 for UDP's combined maps)."""
        return recipe_maps_per_joint(self.meta.get("codec", "msra"))

    def model_options(self) -> dict[str, Any]:
        """The registry options the model this file fills is built with, where its head is not the
        model's default: ``num_classes``, ``num_joints`` (a keypoint set other than COCO's),
        ``maps_per_joint``, ``head_type`` (mmdetection's FCOS head)."""
        options = {"num_classes": self.num_classes} if self.num_classes is not None else {}
        keypoints = KEYPOINT_SETS.get(self.meta.get("keypoints"))
        if keypoints is not None and keypoints is not COCO_PERSON:
            options["num_joints"] = keypoints.num_joints
        if self.maps_per_joint > 1:
            options["maps_per_joint"] = self.maps_per_joint
        if self.meta.get("head_type"):
            options["head_type"] = self.meta["head_type"]
        return options

    def model_meta(self) -> dict[str, Any]:
        """``meta`` with its table names replaced by the tables, in the form hrseg's checkpoints
        record a model's meta (``meta.model``, what the tasks read back): ``keypoints`` a keypoint
        set's dict, ``classes`` names (segmentation) or ``{'id', 'name'}`` (detectors), ``normalize``
        as ``mean`` / ``std``; the dataset the classes are of as ``dataset``."""
        out = {k: v for k, v in self.meta.items() if k not in ("keypoints", "classes", "normalize")}
        if self.meta.get("keypoints") in KEYPOINT_SETS:
            out["keypoints"] = KEYPOINT_SETS[self.meta["keypoints"]].to_dict()
        if self.meta.get("classes") in CLASS_TABLES:
            out["classes"] = CLASS_TABLES[self.meta["classes"]]()
            out["dataset"] = self.class_set[0]
        if self.meta.get("normalize") in NORMALIZATIONS:
            out["mean"], out["std"] = (list(v) for v in NORMALIZATIONS[self.meta["normalize"]])
        return out
