"""Box detection, end to end: config -> datasets -> training -> COCO box AP -> inference.

One prediction path (:func:`predict_dataset` / :func:`detect`) serves the evaluation during
training, ``tools/test_det.py`` and ``tools/infer_det.py``. The tools only parse arguments and
call this module.

Classes: a model's classes are those of the annotation file it was trained on, recorded in the
config of its checkpoints (``classes``: ``[{'id', 'name'}]`` in label order); weights without
that record and 81 outputs are taken as COCO's 80 classes. When a model is evaluated on another
annotation file, its classes are matched to the file's categories by name and the evaluation
covers the matched categories (e.g. a synthetic person/ball/box/sign model on real COCO gives
the person AP).
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from hrseg.backends import EXPORT_BACKENDS, TorchRunner, load_runner
from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.det.dataset import CocoDetection, det_collate
from hrseg.data.det.transforms import DetAugment
from hrseg.config import load_config
from hrseg.engine import TRAIN_DEFAULTS, all_gather_object, get_rank
from hrseg.utils.progress import progress_iter
from hrseg.engine.distributed import shard
from hrseg.engine.workers import start_workers
from hrseg.errors import ConfigError
from hrseg.export.check import MIN_SCORE
from hrseg.export.meta import DETECTION_TRACE_SIZE
from hrseg.inference.detection import DetPredictor, detect, detect_people  # noqa: F401  (detect*: re-exported)
from hrseg.inference.detection import score_floor_of
from hrseg.inference.predictor import every_detection
from hrseg.data.det.instance_masks import encode_mask
from hrseg.evaluation.coco_boxes import evaluate_boxes, write_box_results
from hrseg.evaluation.coco_masks import evaluate_masks, format_metrics, split_results
from hrseg.models.mask_rcnn import is_mask_model, mask_model
from hrseg.models.detection import detection_settings, load_pretrained_backbone
from hrseg.tasks.common import build_from_config as build_detector
from hrseg.tasks.base import Evaluation, Task
from hrseg.tasks.common import TRACK_DEFAULTS, check_predictor, coco_split_paths, tracking
from hrseg.utils.profile import StageTimer
from hrseg.meta.classes import coco80_categories

log = logging.getLogger("hrseg")

# semantic_dir (training): HTC's COCO-Stuff label maps, relative to data.root (mmdetection's seg_prefix)
_SPLIT = dict(ann_file=None, img_dir=None, img_ids=None, semantic_dir=None)
HOW_TO_GET_WEIGHTS = "run `hrseg train det` first (it trains a small detector on the CPU)"

# The defaults are the COCO 1x recipe of the official HRNet detection configs (SGD lr 0.02 for
# 16 images per step, x0.1 at epochs 8 and 11 of 12, 500 linear warmup iterations from 1/3,
# gradient norm clipped at 35, horizontal flip); they are also the schema.
DET_DEFAULTS: dict[str, Any] = {
    **copy.deepcopy(TRAIN_DEFAULTS),
    "model": {"name": "det_fasterrcnn_hrnetv2p_w32"},
    "load_from": None,  # pretrained weights for the backbone: ImageNet / pose / seg / HRNetV2p file
    "classes": None,  # [{'id', 'name'}] in label order; training sets it from the train file
    "data": dict(
        root="datasets/coco",
        synthetic=None,  # dict(num_train=..., ...): generate the synthetic split under root
        train=dict(_SPLIT, ann_file="annotations/instances_train2017.json", img_dir="images/train2017"),
        val=dict(_SPLIT, ann_file="annotations/instances_val2017.json", img_dir="images/val2017"),
        batch_size=2,
        val_batch_size=2,
        num_workers=2,
        augment=dict(flip_prob=0.5, scale_range=None, photometric=False, min_visibility=0.3),
    ),
    "optimizer": dict(TRAIN_DEFAULTS["optimizer"], type="SGD", lr=0.02, momentum=0.9, weight_decay=1e-4),
    "schedule": dict(TRAIN_DEFAULTS["schedule"], type="multistep", milestones=[8, 11], gamma=0.1,
                     warmup_iters=500, warmup_ratio=1.0 / 3),
    "train": dict(TRAIN_DEFAULTS["train"], max_epochs=12, eval_interval=1, grad_clip=35.0, best_metric="AP"),
    # what the tools (not the validation during training) detect with: None / "auto" (eager torch for
    # a detector, logged), torch, or onnxruntime / openvino (Faster and Mask R-CNN exported,
    # self-checked and cached; docs/deploy.md)
    # track: video with --track (hrseg.inference.tracking.TrackerConfig; each class on its own)
    "test": dict(backend=None, track=dict(TRACK_DEFAULTS)),
}
OPEN_KEYS = ("model",)


def load_det_config(path: str | os.PathLike | None = None,
                    cfg_options: Mapping[str, Any] | Sequence[str] | None = None) -> dict[str, Any]:
    """A detection config (``None``: the defaults) validated against :data:`DET_DEFAULTS`."""
    return TASK.load_config(path, cfg_options)


# -- data ---------------------------------------------------------------------------------------
def build_dataset(cfg: Mapping[str, Any], split: str, ann_file: str | os.PathLike | None = None,
                  img_dir: str | os.PathLike | None = None) -> CocoDetection:
    """The ``train`` (augmented, skipping unreadable images) or ``val`` dataset of a config;
    ``ann_file`` / ``img_dir`` replace the config's (e.g. to test on another file)."""
    cfg_ann, cfg_img = (None, None) if ann_file is not None and img_dir is not None else coco_split_paths(cfg, split, "instances")
    ann, img = Path(ann_file or cfg_ann), Path(img_dir or cfg_img)
    ids = cfg["data"][split].get("img_ids") if ann_file is None else None
    instances = CocoInstances(ann, ids)
    train = split == "train"
    augment = DetAugment(**cfg["data"]["augment"]) if train else None
    # the masks are training targets; the evaluation reads the file's (docs/multitask.md allows
    # instances without them: the mask AP covers the images whose every instance has one)
    semantic = cfg["data"][split].get("semantic_dir") if train else None
    return CocoDetection(instances, img, train=train, augment=augment, seed=cfg["seed"] or 0,
                         masks=train and is_mask_model(cfg["model"]["name"]),
                         semantic_dir=Path(cfg["data"]["root"]) / semantic if semantic else None)


# -- model, classes, weights --------------------------------------------------------------------
def load_detector(weights: str | os.PathLike, cfg: Mapping[str, Any] | None = None) -> nn.Module:
    """The detector of an hrseg checkpoint, weights loaded strictly, in eval mode, with its
    classes as ``model.classes`` (``[{'id', 'name'}]`` in label order, as the checkpoint
    recorded), which :func:`detect` and :func:`detect_people` use. Raises
    :class:`CheckpointError` naming the file when it is missing, unreadable or does not fit."""
    return TASK.load_model(weights, cfg)[0]


def match_categories(classes: Sequence[Mapping[str, Any]], gt: CocoInstances) -> list[int | None]:
    """For each model label (1..K), the ``gt`` category id of the same name (None when absent)."""
    by_name = {c["name"].lower(): c["id"] for c in gt.categories}
    return [by_name.get(str(c["name"]).lower()) for c in classes]


def detection_runner(model: nn.Module, cfg: Mapping[str, Any], score_floor: float | None = None,
                     task: Task | None = None) -> nn.Module:
    """What the tools detect with, on ``test.backend``: the torchvision detector itself (``torch``,
    and what ``auto`` picks for a detector), or its exported graph (``onnxruntime``, ``openvino``)
    with the model's classes; a runner takes and returns what the detector does. ``score_floor``
    (a predictor's threshold): the exported graph returns only detections scoring at least this,
    so it pastes masks and computes keypoints for what is reported, not for every detection down
    to the model's own threshold (0.05, what evaluation needs); an eager model returns them all.
    An export made here is checked through ``task``'s predictor (default: the detection task's)."""
    backend = cfg["test"]["backend"]
    if backend in ("optimized", "compiled"):
        raise ConfigError(f"--backend {backend}: a detector runs eagerly (torch) or exported (onnxruntime, openvino)")
    if backend in EXPORT_BACKENDS:
        model = with_score_floor(model, score_floor)
    runner = load_runner(backend, model, name=cfg["model"]["name"], input_size=DETECTION_TRACE_SIZE,
                         check=lambda: check_predictor(task or TASK, model, cfg))
    if isinstance(runner, TorchRunner):
        return runner.model
    runner.classes = getattr(model, "classes", None)
    return runner


DEFAULT_SCORE_THR = 0.3  # what a detection predictor reports by default (hrseg infer det|multi, the service)


def runner_and_score_thr(task: Task, model: nn.Module, cfg: Mapping[str, Any],
                         score_thr: float | None) -> tuple[nn.Module, float]:
    """A detection predictor's runner (``task.runner``, exported on the fly at the threshold it
    reports) and that threshold: ``score_thr`` when given, else :data:`DEFAULT_SCORE_THR`, raised
    to an exported graph's own floor (a file exported with ``--score-thr 0.5`` returns nothing
    under 0.5: by default its predictor reports from there). The detection and multi-task
    predictors' one rule."""
    runner = task.runner(model, cfg, DEFAULT_SCORE_THR if score_thr is None else score_thr)
    if score_thr is not None:
        heads = detection_settings(model)
        own = getattr(heads, "own_score_thresh", getattr(heads, "score_thresh", None))
        if own is not None and score_thr < own:
            key = "box_score_thresh" if heads is not model else "score_thresh"
            log.warning("score_thr %g: the model keeps no box under its own %g (--cfg-options model.%s=%g lowers it)",
                        score_thr, own, key, score_thr)
        return runner, float(score_thr)
    floor = score_floor_of(runner)
    if floor is not None and floor > DEFAULT_SCORE_THR:
        log.info("score_thr %g: the exported graph's own (it returns nothing under it)", floor)
        return runner, floor
    return runner, DEFAULT_SCORE_THR


def warn_score_floor(runner: nn.Module) -> None:
    """Evaluation of an exported graph that returns only detections scoring above the model's own
    threshold (``--score-thr`` at export): its AP counts those alone, said in a warning."""
    floor = score_floor_of(runner)
    if floor is not None and floor > MIN_SCORE:
        log.warning("the exported graph returns only detections scoring %g or more: the AP counts those alone "
                    "(a checkpoint is evaluated from %g; export without --score-thr to compare)", floor, MIN_SCORE)


def with_score_floor(model: nn.Module, score_floor: float | None) -> nn.Module:
    """``model``, or a copy that keeps only detections scoring at least ``score_floor`` when that is above
    the model's own threshold (``roi_heads.score_thresh``; FCOS: ``score_thresh``)."""
    if score_floor is None or float(score_floor) <= float(detection_settings(model).score_thresh):
        return model
    out = copy.deepcopy(model)
    detection_settings(out).score_thresh = float(score_floor)
    return out


# -- prediction: one path for evaluation, testing and inference ------------------------------------
def to_coco_results(image_id: int, output: Mapping[str, torch.Tensor], cat_ids: Sequence[int | None]
                    ) -> list[dict[str, Any]]:
    """A torchvision output (xyxy boxes, labels 1..K, scores; Mask R-CNN's masks too) as COCO
    detection records (with ``segmentation``, an RLE, for a mask model)."""
    boxes = output["boxes"].detach().float().cpu().numpy()
    labels = output["labels"].cpu().numpy()
    scores = output["scores"].detach().float().cpu().numpy()
    masks = output.get("masks")
    out = []
    for i, ((x1, y1, x2, y2), label, score) in enumerate(zip(boxes, labels, scores)):
        cat = cat_ids[int(label) - 1] if 1 <= label <= len(cat_ids) else None
        if cat is not None:
            out.append({"image_id": int(image_id), "category_id": int(cat),
                        "bbox": [round(float(x1), 2), round(float(y1), 2), round(float(x2 - x1), 2),
                                 round(float(y2 - y1), 2)], "score": round(float(score), 5)})
            if masks is not None:
                out[-1]["segmentation"] = encode_mask(masks[i, 0].detach().float().cpu().numpy() >= 0.5)
    return out


@torch.no_grad()
def predict_dataset(model: nn.Module, dataset: CocoDetection, cat_ids: Sequence[int | None],
                    batch_size: int = 2, num_workers: int = 0, progress: bool = True) -> list[dict]:
    """COCO detection records for every image of ``dataset``. Distributed: each process
    predicts its share; every process gets all records."""
    model = getattr(model, "module", model).eval()
    device = next(model.parameters()).device
    loader = DataLoader(Subset(dataset, list(shard(range(len(dataset))))), batch_size=batch_size,
                        num_workers=num_workers, collate_fn=det_collate)
    results: list[dict] = []
    with every_detection(model):
        shown = progress and get_rank() == 0
        for batch in progress_iter(start_workers(loader), len(loader), "detect", disable=not shown):
            outputs = model([image.to(device) for image in batch["images"]])
            for image_id, output in zip(batch["image_id"].tolist(), outputs):
                results += to_coco_results(image_id, output, cat_ids)
    return [r for part in all_gather_object(results) for r in part]


def matched_categories(classes: Sequence[Mapping[str, Any]], gt: CocoInstances) -> tuple[list[int | None], list[int]]:
    """:func:`match_categories`, and the ``gt`` category ids matched (sorted); a
    :class:`ConfigError` naming the file when the model knows none of them."""
    cat_ids = match_categories(classes, gt)
    matched = sorted({c for c in cat_ids if c is not None})
    if not matched:
        raise ConfigError(f"none of the model's classes ({', '.join(c['name'] for c in classes[:6])}...) "
                          f"is a category of {gt.ann_file}")
    return cat_ids, matched


def masks_file(boxes_file: str | os.PathLike) -> Path:
    """The mask results beside the box results: ``results_boxes_val.json`` -> ``results_masks_val.json``
    (in the same folder, whatever its name holds)."""
    path = Path(boxes_file)
    name = path.name.replace("boxes", "masks") if "boxes" in path.name else f"{path.stem}_masks{path.suffix}"
    return path.with_name(name)


def evaluate_dataset(model: nn.Module, dataset: CocoDetection, classes: Sequence[Mapping[str, Any]],
                     out_json: str | os.PathLike | None = None, batch_size: int = 2, num_workers: int = 0,
                     verbose: bool = True, title: str = "COCO boxes") -> dict[str, float]:
    """COCO box AP of ``model`` on ``dataset`` (results written to ``out_json``), over the
    categories the model's ``classes`` share with the dataset's file."""
    gt = dataset.instances
    cat_ids, matched = matched_categories(classes, gt)
    if len(matched) < len(gt.cat_ids):
        title += f", the {len(matched)} of {len(gt.cat_ids)} categories the model knows"
        log.info(f"{gt.ann_file}: evaluating the model's {len(matched)} matching categories of {len(gt.cat_ids)}")
    results, masks = split_results(predict_dataset(model, dataset, cat_ids, batch_size, num_workers))
    if out_json is not None and get_rank() == 0:
        write_box_results(out_json, results)
        if mask_model(model):
            write_box_results(masks_file(out_json), masks)
    metrics = evaluate_boxes(gt.coco, results, img_ids=dataset.image_ids, cat_ids=matched,
                             verbose=verbose and get_rank() == 0, title=title)
    if mask_model(model):  # Mask R-CNN: mask AP beside the box AP, as mask_AP, mask_AP50, ...
        mask_stats = evaluate_masks(gt.coco, masks, img_ids=dataset.image_ids, cat_ids=matched,
                                    verbose=verbose and get_rank() == 0, title=title.replace("boxes", "masks"))
        metrics.update({f"mask_{k}": v for k, v in mask_stats.items()})
    return metrics


# -- the task ------------------------------------------------------------------------------------
class DetTask(Task):
    name = "det"
    defaults = DET_DEFAULTS
    how_to_get_weights = HOW_TO_GET_WEIGHTS
    result_noun = ("box", "boxes")
    collate = staticmethod(det_collate)

    def build_dataset(self, cfg: Mapping[str, Any], split: str, ann_file: str | os.PathLike | None = None,
                      img_dir: str | os.PathLike | None = None) -> CocoDetection:
        dataset = build_dataset(cfg, split, ann_file, img_dir)
        if split != "train":
            dataset.check_files()
        return dataset

    def build_model(self, cfg: Mapping[str, Any]) -> nn.Module:
        model = build_detector(cfg["model"])
        model.classes = [dict(c) for c in cfg["classes"]] if cfg.get("classes") else None
        return model

    def prepare_training(self, cfg: dict[str, Any], train_set: CocoDetection, val_set: CocoDetection) -> None:
        """The train file's categories become the model's classes (recorded in checkpoints)."""
        cfg["classes"] = train_set.instances.categories
        given = cfg["model"].setdefault("num_classes", train_set.instances.num_classes)
        if given != train_set.instances.num_classes:
            raise ConfigError(f"model.num_classes is {given} but {train_set.instances.ann_file} has "
                              f"{len(train_set.instances.cat_ids)} categories (+1 background = "
                              f"{train_set.instances.num_classes})")

    def model_meta(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().model_meta(cfg), "classes": [dict(c) for c in cfg.get("classes") or ()]}

    def apply_meta(self, cfg: dict[str, Any], meta: Mapping[str, Any]) -> None:
        if meta.get("classes"):
            cfg["classes"] = [dict(c) for c in meta["classes"]]

    def config_for_model(self, name: str, meta: Mapping[str, Any], cfg_options: Any = None) -> dict[str, Any]:
        """The base's (the classes ``meta`` names, :meth:`apply_meta`), their count + background as
        ``model.num_classes``."""
        cfg = super().config_for_model(name, meta)
        if meta.get("classes"):
            cfg["model"]["num_classes"] = len(cfg["classes"]) + 1
        return load_config(None, cfg_options, cfg, self.open_keys)

    def config_for_record(self, record: Any, cfg_options: Any) -> dict[str, Any]:
        """Published COCO detectors: COCO's 80 classes in label order, the head the file fills (mmdetection's
        FCOS head: ``model.head_type``)."""
        cfg = self.config_for_model(record.model, {"classes": coco80_categories()})
        cfg["model"].update({k: v for k, v in record.model_options().items() if k != "num_classes"})
        return load_config(None, cfg_options, cfg, self.open_keys)

    def training_step(self, cfg: Mapping[str, Any], model: nn.Module, train_set: CocoDetection):
        if cfg["load_from"]:
            log.info(load_pretrained_backbone(model, cfg["load_from"]).summary())

        def train_step(net: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            losses = net(batch["images"], batch["targets"])
            return {"loss": sum(losses.values()), **losses}

        train_step.no_cuda_graph = "images of many sizes (a detector's batches vary)"  # CUDA graphs: fixed shapes
        return train_step, None

    def evaluate(self, model: nn.Module, dataset: CocoDetection, cfg: Mapping[str, Any],
                 out_dir: Path | None = None, stage: str = "val", verbose: bool = True) -> Evaluation:
        classes = getattr(model, "classes", None) or cfg["classes"]
        out_json = out_dir / f"results_boxes_{stage}.json" if out_dir is not None else None
        title = f"COCO boxes, {cfg['model']['name']}, {dataset.instances.ann_file.name} ({len(dataset)} images)"
        # verbose: the table is printed here, with the categories the model and the file share
        if stage == "test":  # the validation during training runs the model being trained
            model = detection_runner(model, cfg)
            warn_score_floor(model)
        metrics = evaluate_dataset(model, dataset, classes, out_json, batch_size=cfg["data"]["val_batch_size"],
                                   verbose=verbose, title=title)
        return metrics, {"results": str(out_json) if out_json else None, "printed": verbose}

    def report(self, evaluation: Evaluation, cfg: Mapping[str, Any], dataset: CocoDetection, title: str) -> None:
        if not evaluation[1].get("printed"):
            print(format_metrics(evaluation[0], title=f"COCO boxes, {title} ({len(dataset)} images)"))

    def dataset_options(self, ann_file: str | os.PathLike | None = None, img_dir: str | os.PathLike | None = None,
                        **options: Any) -> dict[str, Any]:
        if (ann_file is None) != (img_dir is None):
            raise ConfigError("give both --ann-file and --img-dir, or neither")
        return {"ann_file": ann_file, "img_dir": img_dir}

    def test_title(self, cfg: Mapping[str, Any], dataset: CocoDetection, **options: Any) -> str:
        return f"{cfg['model']['name']}, {dataset.instances.ann_file.name}"

    def runner(self, model: nn.Module, cfg: Mapping[str, Any], score_floor: float | None = None) -> nn.Module:
        """:func:`detection_runner`: eager (``torch``, what ``auto`` picks) or exported."""
        return detection_runner(model, cfg, score_floor)

    def tracking(self, predictor: DetPredictor, cfg: Mapping[str, Any], smooth: bool = False) -> DetPredictor:
        """Objects followed across frames by box IoU, each class on its own."""
        if smooth:
            raise ConfigError("--smooth steadies keypoints: detections have none (use it with hrseg infer pose)")
        return tracking(predictor, cfg["test"], "xyxy")

    def predictor(self, model: nn.Module, cfg: Mapping[str, Any], score_thr: float | None = None,
                  timer: StageTimer | None = None, **options: Any) -> DetPredictor:
        """Boxes (and masks) scoring at least ``score_thr`` (:func:`runner_and_score_thr`), on :meth:`runner`."""
        runner, thr = runner_and_score_thr(self, model, cfg, score_thr)
        return DetPredictor(runner, model, thr, timer)



TASK = DetTask()
train = TASK.train
test = TASK.test
infer = TASK.infer
resolve_det_weights = TASK.resolve_weights
