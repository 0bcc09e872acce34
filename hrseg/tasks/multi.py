"""Multi-task training and evaluation: one HRNet with box, mask, keypoint and segmentation heads
(:mod:`hrseg.models.multitask`), config -> datasets -> training -> one table of every head.

Data: a COCO instances file, a person_keypoints file (the same or another one) and a folder of
semantic label maps per split (:class:`hrseg.data.multi.dataset.MultiTaskDataset`), or the
synthetic multi-task split (``data.synthetic``: :mod:`hrseg.data.synthetic.multi`). Labels a
dataset lacks train nothing (partial labels) and skip their metric with a message.

What the model's heads are is its config's: ``model.masks`` / ``model.keypoints`` (default on),
``model.seg_classes`` (0: no segmentation head). ``loss_weights`` weighs each head's loss; the
log shows every term, and the counts of images without mask / keypoint labels.
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

from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.det.dataset import det_collate
from hrseg.data.multi.dataset import MultiTaskDataset
from hrseg.data.pose.coco_keypoints import keypoint_categories, load_coco_keypoints
from hrseg.data.synthetic.multi import dataset_paths, ensure_synthetic_multi
from hrseg.engine import TRAIN_DEFAULTS
from hrseg.errors import ConfigError
from hrseg.inference.multi import MultiPredictor
from hrseg.inference.pose_postprocess import OKS_THR, VIS_THR
from hrseg.meta.keypoints import COCO_PERSON, KeypointSet, keypoint_set_from_category
from hrseg.models.detection import load_pretrained_backbone
from hrseg.models.multitask import COUNT_KEYS
from hrseg.tasks.base import Evaluation, Task
from hrseg.tasks.common import SMOOTH_DEFAULTS, TRACK_DEFAULTS, build_from_config, ensure_synthetic, tracking
from hrseg.tasks.detection import detection_runner, runner_and_score_thr, warn_score_floor
from hrseg.tasks.multi_eval import evaluate_multitask, format_multitask
from hrseg.utils.image_io import write_image
from hrseg.utils.profile import StageTimer
from hrseg.visualization.segmentation import palette_for

log = logging.getLogger("hrseg")

HOW_TO_GET_WEIGHTS = "run `hrseg train multi` first (it trains a small multi-task model on the CPU)"
_SPLIT = dict(ann_file=None, keypoint_file=None, img_dir=None, semantic_dir=None, img_ids=None)
LOSS_KEYS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask", "loss_keypoint",
             "loss_seg")

# The defaults are the COCO 1x recipe of the official HRNet detection configs (as the detection
# task's: SGD lr 0.02 for 16 images, x0.1 at epochs 8 and 11 of 12, 500 warmup iterations from
# 1/3, gradient norm clipped at 35, flip) on COCO's instances and person keypoints.
MULTI_DEFAULTS: dict[str, Any] = {
    **copy.deepcopy(TRAIN_DEFAULTS),
    "model": {"name": "multi_hrnetv2p_w32"},
    "load_from": None,  # pretrained backbone weights: ImageNet / pose / seg / HRNetV2p / detector file
    "classes": None,  # [{'id', 'name'}] in label order; training sets it from the train file
    "keypoints": None,  # the keypoint set (KeypointSet.to_dict()); training sets it from the keypoint file
    "semantic_classes": None,  # names in id order; training sets it from data.semantic_classes
    "loss_weights": {key: 1.0 for key in LOSS_KEYS},
    "data": dict(
        root="datasets/coco",
        synthetic=None,  # dict(num_train=..., ...): generate the synthetic multi-task split under root
        train=dict(_SPLIT, ann_file="annotations/instances_train2017.json",
                   keypoint_file="annotations/person_keypoints_train2017.json", img_dir="images/train2017"),
        val=dict(_SPLIT, ann_file="annotations/instances_val2017.json",
                 keypoint_file="annotations/person_keypoints_val2017.json", img_dir="images/val2017"),
        semantic_classes=None,  # the label maps' class names (default: the instances file's 'semantic_classes')
        batch_size=2,
        val_batch_size=2,
        num_workers=2,
        flip_prob=0.5,
    ),
    "optimizer": dict(TRAIN_DEFAULTS["optimizer"], type="SGD", lr=0.02, momentum=0.9, weight_decay=1e-4),
    "schedule": dict(TRAIN_DEFAULTS["schedule"], type="multistep", milestones=[8, 11], gamma=0.1,
                     warmup_iters=500, warmup_ratio=1.0 / 3),
    "train": dict(TRAIN_DEFAULTS["train"], max_epochs=12, eval_interval=1, grad_clip=35.0, best_metric="AP"),
    # backend: torch (what auto picks) or exported: onnxruntime, openvino (as a detector's; docs/multitask.md);
    # track, smooth: video with --track /
    # --smooth, as pose's (hrseg.inference.tracking.TrackerConfig, hrseg.inference.smoothing.KeypointSmoother);
    # vis_thr, oks_thr: the keypoint evaluation's people rescored and OKS-NMSed as the top-down pose
    # test's (the official HRNet test's thresholds; None: the box score / no NMS)
    "test": dict(backend=None, track=dict(TRACK_DEFAULTS), smooth=dict(SMOOTH_DEFAULTS), vis_thr=VIS_THR,
                 oks_thr=OKS_THR),
}
OPEN_KEYS = ("model",)


def model_heads(model_cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The optional heads a model section asks for: ``masks``, ``keypoints``, ``segmentation``."""
    wanted = (("masks", model_cfg.get("masks", True)), ("keypoints", model_cfg.get("keypoints", True)),
              ("segmentation", (model_cfg.get("seg_classes") or 0) > 0))
    return tuple(head for head, on in wanted if on)


def split_files(cfg: Mapping[str, Any], split: str) -> dict[str, Path | None]:
    """The instances file, keypoint file, image folder and label-map folder of ``split`` (the
    synthetic split generated first when ``data.synthetic`` is set)."""
    data = cfg["data"]
    root = Path(data["root"])
    if data.get("synthetic") is not None:
        paths = dataset_paths(ensure_synthetic(data, ensure_synthetic_multi), split)
        return {"ann_file": paths["instances"], "keypoint_file": paths["person_keypoints"],
                "img_dir": paths["images"], "semantic_dir": paths["semantic"]}
    s = data[split]
    if not s.get("ann_file") or not s.get("img_dir"):
        raise ConfigError(f"data.{split}.ann_file and data.{split}.img_dir must be set")
    return {key: root / s[key] if s.get(key) else None
            for key in ("ann_file", "keypoint_file", "img_dir", "semantic_dir")}


def build_dataset(cfg: Mapping[str, Any], split: str, **files: Any) -> MultiTaskDataset:
    """The ``train`` (flipped, skipping unreadable images) or ``val`` dataset of a config; ``files``
    (``ann_file``, ``keypoint_file``, ``img_dir``, ``semantic_dir``) replace the config's."""
    given = {k: v for k, v in files.items() if v is not None}
    paths = {**(split_files(cfg, split) if not given.get("ann_file") else {}), **given}
    if not paths.get("ann_file") or not paths.get("img_dir"):
        raise ConfigError("give both the instances file and its image folder")
    ids = cfg["data"][split].get("img_ids") if not given else None
    keypoints = load_coco_keypoints(paths["keypoint_file"]) if paths.get("keypoint_file") else None
    kp_set = keypoint_set(cfg, keypoints)
    train = split == "train"
    return MultiTaskDataset(CocoInstances(paths["ann_file"], ids), paths["img_dir"], keypoints,
                            paths.get("semantic_dir"), model_heads(cfg["model"]), kp_set.num_joints,
                            kp_set.flip_pairs, train=train,
                            flip_prob=cfg["data"]["flip_prob"], seed=cfg["seed"] or 0)


def keypoint_set(cfg: Mapping[str, Any], keypoints: Any = None) -> KeypointSet:
    """The config's keypoint set, else that of the keypoint file's category, else COCO's person."""
    if cfg.get("keypoints"):
        return KeypointSet.from_dict(cfg["keypoints"])
    categories = keypoint_categories(keypoints.dataset["categories"]) if keypoints is not None else []
    return keypoint_set_from_category(categories[0]) if categories else COCO_PERSON


def semantic_classes(cfg: Mapping[str, Any], dataset: MultiTaskDataset) -> list[str] | None:
    names = cfg["data"].get("semantic_classes") or dataset.instances.coco.dataset.get("semantic_classes")
    return [str(n) for n in names] if names else None


class MultiTask(Task):
    name = "multi"
    defaults = MULTI_DEFAULTS
    how_to_get_weights = HOW_TO_GET_WEIGHTS
    result_noun = ("detection", "detections")
    collate = staticmethod(det_collate)

    def build_dataset(self, cfg: Mapping[str, Any], split: str, **files: Any) -> MultiTaskDataset:
        dataset = build_dataset(cfg, split, **files)
        if split != "train":
            dataset.check_files()
        return dataset

    def build_model(self, cfg: Mapping[str, Any]) -> nn.Module:
        model = build_from_config(cfg["model"])
        model.classes = [dict(c) for c in cfg["classes"]] if cfg.get("classes") else None
        return model

    def prepare_training(self, cfg: dict[str, Any], train_set: MultiTaskDataset, val_set: MultiTaskDataset) -> None:
        """The train files' categories, keypoint set and semantic classes become the model's."""
        instances = train_set.instances
        cfg["classes"] = instances.categories
        model = cfg["model"]
        if model.setdefault("num_classes", instances.num_classes) != instances.num_classes:
            raise ConfigError(f"model.num_classes is {model['num_classes']} but {instances.ann_file} has "
                              f"{len(instances.cat_ids)} categories (+1 background = {instances.num_classes})")
        kp_set = keypoint_set(cfg, train_set.keypoint_coco)
        cfg["keypoints"] = kp_set.to_dict()
        if "keypoints" in train_set.heads:
            model.setdefault("num_keypoints", kp_set.num_joints)
            names = [c["name"] for c in instances.categories]
            person = train_set.keypoint_coco and keypoint_categories(train_set.keypoint_coco.dataset["categories"])
            if not person or person[0]["name"] not in names:
                raise ConfigError(f"the keypoint head needs a keypoint file whose keypoint category is one of "
                                  f"{instances.ann_file}'s categories ({', '.join(names[:6])})")
            model.setdefault("keypoint_label", names.index(person[0]["name"]) + 1)
        names = semantic_classes(cfg, train_set)
        cfg["semantic_classes"] = names
        seg = model.get("seg_classes") or 0
        if seg and names is not None and seg != len(names):
            raise ConfigError(f"model.seg_classes is {seg} but the data has {len(names)} semantic classes "
                              f"({', '.join(names[:6])}, ...)")

    def model_meta(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().model_meta(cfg), "classes": [dict(c) for c in cfg.get("classes") or ()],
                "keypoints": cfg.get("keypoints"), "semantic_classes": cfg.get("semantic_classes"),
                "heads": ["boxes", *model_heads(cfg["model"])]}

    def apply_meta(self, cfg: dict[str, Any], meta: Mapping[str, Any]) -> None:
        for key in ("classes", "keypoints", "semantic_classes"):
            if meta.get(key):
                cfg[key] = copy.deepcopy(meta[key])

    def training_step(self, cfg: Mapping[str, Any], model: nn.Module, train_set: MultiTaskDataset):
        if cfg["load_from"]:
            log.info(load_pretrained_backbone(model, cfg["load_from"]).summary())
        weights = dict(cfg["loss_weights"])

        def train_step(net: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            losses = net(batch["images"], batch["targets"])
            total = sum(weights.get(k, 1.0) * v for k, v in losses.items() if k not in COUNT_KEYS)
            return {"loss": total, **{k: v.detach() for k, v in losses.items()}}

        # CUDA graphs need fixed shapes and no host syncs; proposals, sampling and matching have neither
        train_step.no_cuda_graph = "R-CNN heads (proposals, sampling and matching depend on the data)"
        return train_step, None

    def evaluate(self, model: nn.Module, dataset: MultiTaskDataset, cfg: Mapping[str, Any],
                 out_dir: Path | None = None, stage: str = "val", verbose: bool = True) -> Evaluation:
        classes = getattr(model, "classes", None) or cfg["classes"]
        sigmas = keypoint_set(cfg, dataset.keypoint_coco).sigmas
        # hrseg test: on test.backend (an exported file on its own), as detection's; training validates the model
        runner = self.runner(model, cfg) if stage == "test" else model
        warn_score_floor(runner)
        metrics, skipped = evaluate_multitask(model, dataset, classes, sigmas, cfg["data"]["val_batch_size"],
                                              cfg["test"]["vis_thr"], cfg["test"]["oks_thr"], runner)
        title = f"{cfg['model']['name']}, {dataset.instances.ann_file.name} ({len(dataset)} images)"
        table = format_multitask(metrics, title, skipped)
        if verbose:
            print(table)
        return metrics, {"printed": verbose, "table": table, "json": {"skipped": skipped}}

    def report(self, evaluation: Evaluation, cfg: Mapping[str, Any], dataset: MultiTaskDataset, title: str) -> None:
        if not evaluation[1].get("printed"):
            print(evaluation[1]["table"])

    # -- inference: hrseg infer multi, the service's /v1/multi --------------------------------------
    def runner(self, model: nn.Module, cfg: Mapping[str, Any], score_floor: float | None = None) -> nn.Module:
        """The model itself (``torch``, what ``auto`` picks) or its exported graph (``onnxruntime``,
        ``openvino``: every head, exported and self-checked as the detectors are; the graph runs
        the keypoint head for every detection it returns: those scoring ``score_floor`` or more,
        docs/multitask.md)."""
        return detection_runner(model, cfg, score_floor, self)

    def predictor(self, model: nn.Module, cfg: Mapping[str, Any], score_thr: float | None = None, kpt_thr: float = 0.3,
                  alpha: float = 0.4, timer: StageTimer | None = None, **options: Any) -> MultiPredictor:
        """Boxes (masks, keypoints for people) scoring at least ``score_thr`` and the scene's labels."""
        heads = {head for head, on in model.heads.items() if on}
        names = None
        if "segmentation" in heads:  # the recorded class names, else numbered ones
            names = cfg.get("semantic_classes") or [str(i) for i in range(int(cfg["model"]["seg_classes"]))]
        colours = palette_for("generated", len(names)) if names else None
        keypoints = keypoint_set(cfg) if "keypoints" in heads else None
        runner, thr = runner_and_score_thr(self, model, cfg, score_thr)
        return MultiPredictor(runner, model, keypoints, names, colours, thr, kpt_thr, alpha, timer)

    def tracking(self, predictor: MultiPredictor, cfg: Mapping[str, Any], smooth: bool = False) -> MultiPredictor:
        """Objects followed across frames by box IoU (each class on its own) and, for people, OKS."""
        return tracking(predictor, cfg["test"], "xyxy", smooth, keypoint_set(cfg))

    def write_prediction(self, out_dir: Path, path: Path, image: np.ndarray, result: Mapping[str, Any],
                         predictor: MultiPredictor) -> dict[str, str]:
        """``<stem>_multi.png`` (tint, masks, boxes, skeletons), ``<stem>_multi.json`` (boxes, masks
        as RLE, keypoints, class areas) and, with a segmentation head, ``<stem>_labels.png``."""
        files = super().write_prediction(out_dir, path, image, result, predictor)
        labels = predictor.label_map(result)
        if labels is not None:
            files["labels"] = str(write_image(out_dir / f"{path.stem}_labels.png", labels))
        return files

    def dataset_options(self, ann_file: str | os.PathLike | None = None, keypoint_file: str | os.PathLike | None = None,
                        img_dir: str | os.PathLike | None = None, semantic_dir: str | os.PathLike | None = None,
                        **options: Any) -> dict[str, Any]:
        if (ann_file is None) != (img_dir is None):
            raise ConfigError("give both --ann-file and --img-dir, or neither")
        return {"ann_file": ann_file, "keypoint_file": keypoint_file, "img_dir": img_dir, "semantic_dir": semantic_dir}

    def test_title(self, cfg: Mapping[str, Any], dataset: MultiTaskDataset, **options: Any) -> str:
        return f"{cfg['model']['name']}, {dataset.instances.ann_file.name}"


def load_multi_config(path: str | os.PathLike | None = None,
                      cfg_options: Mapping[str, Any] | Sequence[str] | None = None) -> dict[str, Any]:
    """A multi-task config (``None``: the defaults) validated against :data:`MULTI_DEFAULTS`."""
    return TASK.load_config(path, cfg_options)


TASK = MultiTask()
train = TASK.train
test = TASK.test
infer = TASK.infer
resolve_weights = TASK.resolve_weights
