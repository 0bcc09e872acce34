"""Top-down pose, end to end: config -> datasets -> training -> COCO evaluation -> inference.

One prediction path (:func:`predict_crops`: optional flip test, heatmap decoding) serves the
evaluation during training, ``tools/test_pose.py`` and ``tools/infer_pose.py``, so the numbers
are the same wherever they are computed. The tools only parse arguments and call this module.
"""
from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

import hrseg
from hrseg.codecs.heatmap import decode
from hrseg.data.augment import mixup_heatmaps
from hrseg.data.coco_keypoints import load_coco_keypoints, split_image_ids
from hrseg.meta.keypoints import FLIP_PAIRS, KEYPOINT_NAMES
from hrseg.utils.image_io import read_image, write_image
from hrseg.data.pose_dataset import CocoPoseDataset, pose_collate
from hrseg.data.pose_transforms import PoseAugment, box_to_center_scale, normalize, top_down_crop
from hrseg.engine import TRAIN_DEFAULTS, Trainer, all_gather_object, get_rank
from hrseg.engine.distributed import get_world_size
from hrseg.engine.progressive import PROGRESSIVE_DEFAULTS, ProgressiveHook, build_schedule
from hrseg.errors import ConfigError, DataError
from hrseg.evaluation.coco_keypoints import evaluate_keypoints, format_table
from hrseg.inference.optimize import inference_model
from hrseg.inference.pose_postprocess import flip_test, oks_nms, pose_results, rescore, write_keypoint_results
from hrseg.losses.keypoint import JointsMSELoss, JointsOHKMLoss
from hrseg.tasks import common
from hrseg.tasks.common import build_from_config as build_pose_model
from hrseg.tasks.common import coco_split_paths, load_task_config, start_training
from hrseg.utils.io import write_json

log = logging.getLogger("hrseg")

_SPLIT = dict(ann_file=None, img_dir=None, img_ids=None, coco_split=None, det_file=None)

# The defaults are the official COCO recipe (256x192, Adam 1e-3, steps 170/200 of 210 epochs);
# they are also the schema: a config key not listed here is an error.
POSE_DEFAULTS: dict[str, Any] = {
    **copy.deepcopy(TRAIN_DEFAULTS),
    "model": {"name": "pose_hrnet_w32"},
    "data": dict(
        root="datasets/coco",
        synthetic=None,  # dict(num_train=..., ...): generate the synthetic mini-split under root
        train=dict(_SPLIT, ann_file="annotations/person_keypoints_train2017.json", img_dir="images/train2017"),
        val=dict(_SPLIT, ann_file="annotations/person_keypoints_val2017.json", img_dir="images/val2017"),
        input_size=[256, 192],  # H, W
        heatmap_size=[64, 48],  # H, W
        sigma=2.0,
        batch_size=32,
        val_batch_size=64,
        num_workers=2,
        augment=dict(scale_factor=0.35, rotation_factor=45, rotation_prob=0.6, flip=True, flip_prob=0.5,
                     half_body_prob=0.3, num_joints_half_body=8, photometric=False),
        use_different_joints_weight=False,
        clip_visibility=False,  # official: a joint outside the crop keeps its (partial) Gaussian
    ),
    "loss": dict(type="mse", use_target_weight=True, topk=8),
    # EfficientNetV2's progressive learning (hrseg.engine.progressive), off by default
    "progressive": copy.deepcopy(PROGRESSIVE_DEFAULTS),
    # optimize: BatchNorm folded + channels_last; dtype: 'bfloat16' for about 2x on CPUs with AVX512-BF16/AMX
    "test": dict(flip=True, shift_heatmap=True, decoder="argmax", oks_thr=0.9, vis_thr=0.2, image_thr=0.0,
                 optimize=True, dtype="float32"),
}
OPEN_KEYS = ("model",)
HOW_TO_GET_WEIGHTS = ("run `python tools/train_pose.py` first (it trains a small HRNet on the synthetic mini-split), "
                      "or pass an official HRNet pose checkpoint such as pose_hrnet_w32_256x192.pth")


def load_pose_config(path: str | os.PathLike | None = None,
                     cfg_options: Mapping[str, Any] | Sequence[str] | None = None) -> dict[str, Any]:
    """A pose config (``None``: the defaults) validated against :data:`POSE_DEFAULTS`."""
    return load_task_config(path, cfg_options, POSE_DEFAULTS, OPEN_KEYS, "pose")


# -- data ---------------------------------------------------------------------------------------
def _wh(hw: Sequence[int]) -> tuple[int, int]:
    return int(hw[1]), int(hw[0])


def _img_ids(cfg: Mapping[str, Any], split: str, ann_file: Path) -> list[int] | None:
    s = cfg["data"][split]
    ids = list(s["img_ids"]) if s.get("img_ids") else None
    if s.get("coco_split"):
        in_split = set(split_image_ids(load_coco_keypoints(ann_file), s["coco_split"]))
        ids = sorted(in_split if ids is None else in_split & set(ids))
    return ids


def build_dataset(cfg: Mapping[str, Any], split: str, det_file: str | os.PathLike | None = None) -> CocoPoseDataset:
    """The ``train`` (augmented) or ``val`` dataset of a config; ``det_file`` overrides the
    config's person detections for ``val`` (without either, ground-truth boxes are used)."""
    data = cfg["data"]
    ann_file, img_dir = coco_split_paths(cfg, split, "person_keypoints")
    train = split == "train"
    det = det_file if det_file is not None else (None if train else data[split].get("det_file"))
    if det is not None and not Path(det).is_absolute() and not Path(det).exists():
        det = Path(data["root"]) / det
    augment = PoseAugment(**data["augment"]) if train else None
    if augment is not None and not data["augment"].get("flip", True):
        augment.flip_prob = 0.0
    return CocoPoseDataset(ann_file, img_dir, train, image_size=_wh(data["input_size"]),
                           heatmap_size=_wh(data["heatmap_size"]), sigma=data["sigma"], augment=augment,
                           img_ids=_img_ids(cfg, split, ann_file), det_file=det,
                           image_thre=cfg["test"]["image_thr"],
                           use_different_joints_weight=data["use_different_joints_weight"],
                           clip_visibility=data["clip_visibility"], seed=cfg["seed"] or 0)


# -- model, loss, weights -------------------------------------------------------------------------
def resolve_weights(weights: str | os.PathLike | None, work_dir: str | os.PathLike) -> Path:
    """``weights``, or the newest checkpoint of the run in ``work_dir`` (best.pth, else latest.pth)."""
    return common.resolve_weights(weights, work_dir, HOW_TO_GET_WEIGHTS)


def build_loss(loss_cfg: Mapping[str, Any]) -> nn.Module:
    kind = loss_cfg["type"]
    if kind == "mse":
        return JointsMSELoss(loss_cfg["use_target_weight"])
    if kind == "ohkm":
        return JointsOHKMLoss(loss_cfg["use_target_weight"], topk=loss_cfg["topk"])
    raise ConfigError(f"unknown loss.type {kind!r}; choose 'mse' or 'ohkm'")


def config_for_weights(weights: str | os.PathLike, cfg_options: Mapping[str, Any] | Sequence[str] | None = None
                       ) -> dict[str, Any]:
    """The config to run ``weights`` with: the one an hrseg checkpoint recorded when it was
    trained (input size, test settings, model), else the official COCO recipe (256x192, flip
    test) with the model the file's shapes tell."""
    from hrseg.checkpoint import extract_state_dict, read_checkpoint
    from hrseg.config import load_config

    ckpt = read_checkpoint(weights)
    meta = ckpt.get("meta")
    recorded = meta.get("config") if isinstance(meta, Mapping) else None
    if recorded:
        return load_config(None, cfg_options, recorded, OPEN_KEYS)
    cfg = load_pose_config(None, cfg_options)
    head = extract_state_dict(ckpt, weights).get("final_layer.weight")
    if head is not None and head.ndim == 4 and f"pose_hrnet_w{head.shape[1]}" in hrseg.list_models():
        cfg["model"] = {"name": f"pose_hrnet_w{head.shape[1]}", "num_joints": int(head.shape[0])}
    return cfg


def load_pose_model(model_cfg: Mapping[str, Any], weights: str | os.PathLike) -> nn.Module:
    model = build_pose_model(model_cfg)
    hrseg.load_checkpoint(model, weights)
    return model.eval()


# -- prediction: one path for evaluation, testing and inference ------------------------------------
@torch.no_grad()
def predict_crops(model: nn.Module, images: torch.Tensor, centers: np.ndarray, scales: np.ndarray,
                  test_cfg: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, 17, 2) in image pixels and their heatmap maxima (N, 17, 1) for person crops."""
    if test_cfg["flip"]:
        heatmaps = flip_test(model, images, FLIP_PAIRS, test_cfg["shift_heatmap"])
    else:
        heatmaps = model(images)
    return decode(heatmaps.float().cpu(), centers, scales, method=test_cfg["decoder"])


def predict_dataset(model: nn.Module, dataset: CocoPoseDataset, test_cfg: Mapping[str, Any],
                    batch_size: int = 64, num_workers: int = 0, progress: bool = True) -> list[dict]:
    """COCO keypoint results (rescored, OKS-NMS) for every person instance of ``dataset``.

    Distributed: each process predicts its share; every process gets all results.
    """
    runner = inference_model(model, test_cfg)
    rank, world = get_rank(), get_world_size()
    indices = list(range(rank, len(dataset), world))
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=pose_collate)
    device = next(model.parameters()).device
    parts: dict[str, list] = {k: [] for k in ("preds", "maxvals", "image_id", "center", "scale", "score", "area")}
    for batch in tqdm(loader, desc="predict", leave=False, disable=not progress or rank != 0):
        meta = batch["meta"]
        centers, scales = meta["center"].numpy(), meta["scale"].numpy()
        preds, maxvals = predict_crops(runner, batch["image"].to(device), centers, scales, test_cfg)
        for key, value in (("preds", preds), ("maxvals", maxvals), ("image_id", meta["image_id"].numpy()),
                           ("center", centers), ("scale", scales), ("score", meta["score"].numpy()),
                           ("area", meta["area"].numpy())):
            parts[key].append(value)
    gathered = all_gather_object({k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()})
    merged = {k: np.concatenate([g[k] for g in gathered if len(g[k])]) if any(len(g[k]) for g in gathered)
              else np.zeros((0,)) for k in parts}
    if not len(merged["preds"]):
        return []
    return pose_results(merged["preds"], merged["maxvals"], merged["image_id"], merged["center"],
                        merged["scale"], merged["score"], merged["area"], vis_thre=test_cfg["vis_thr"],
                        oks_thre=test_cfg["oks_thr"])


def evaluate_dataset(model: nn.Module, dataset: CocoPoseDataset, test_cfg: Mapping[str, Any],
                     out_json: str | os.PathLike | None = None, batch_size: int = 64,
                     num_workers: int = 0, verbose: bool = True) -> dict[str, float]:
    """COCO keypoint AP of ``model`` on ``dataset``'s images (results written to ``out_json``)."""
    results = predict_dataset(model, dataset, test_cfg, batch_size, num_workers)
    if out_json is not None and get_rank() == 0:
        write_keypoint_results(out_json, results)
    return evaluate_keypoints(dataset.coco.coco, results, img_ids=dataset.coco.image_ids,
                              verbose=verbose and get_rank() == 0)


# -- training and testing ---------------------------------------------------------------------------
def train(cfg: Mapping[str, Any]) -> dict[str, float]:
    """Train the config's model, evaluating COCO AP on its val split; returns the final metrics."""
    data = cfg["data"]
    train_set, val_set, loader, processes = start_training(cfg, build_dataset, pose_collate)
    model = build_pose_model(cfg["model"])
    criterion = build_loss(cfg["loss"])
    work_dir = Path(cfg["work_dir"])

    hook = progressive_hook(cfg, train_set)

    def train_step(net: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        images, target, weight = batch["image"], batch["target"], batch["target_weight"]
        if hook is not None and hook.mixup_alpha > 0:
            images, target, weight, _ = mixup_heatmaps(images, target, weight, hook.mixup_alpha, hook.generator)
        return {"loss": criterion(net(images), target, weight)}

    def evaluate(net: nn.Module) -> dict[str, float]:
        return evaluate_dataset(net, val_set, cfg["test"], work_dir / "results_keypoints_val.json",
                                batch_size=data["val_batch_size"])

    log.info(f"training {cfg['model']['name']} on {len(train_set)} people, evaluating on {len(val_set)} ({processes})")
    trainer = Trainer(model, loader, train_step, cfg["optimizer"], cfg["schedule"], work_dir, seed=cfg["seed"],
                      resume=cfg["resume"], config=dict(cfg), evaluate=evaluate, epoch_hook=hook, **cfg["train"])
    metrics = trainer.fit()
    if get_rank() == 0:
        print(format_table(metrics, title=f"COCO keypoints, {cfg['model']['name']}, val split"))
        print(f"checkpoints, log.csv, curves.png and metrics.json are in {work_dir}")
    return metrics


def progressive_hook(cfg: Mapping[str, Any], train_set: CocoPoseDataset) -> ProgressiveHook | None:
    """The Trainer's epoch hook for the config's ``progressive`` section (None when it is off):
    each stage sets the training crops, heatmaps (stride 4) and sigma, RandAugment, dropout
    before the head and MBConv drop-path; ``train_step`` mixes the stage's Mixup."""
    data = cfg["data"]
    schedule = build_schedule(cfg["progressive"], data["input_size"], cfg["train"]["max_epochs"], heatmap_stride=4)
    if schedule is None:
        return None
    if [s // 4 for s in data["input_size"]] != list(data["heatmap_size"]):
        raise ConfigError(f"progressive: needs data.heatmap_size = data.input_size / 4, got {data['heatmap_size']} "
                          f"for {data['input_size']}")
    return ProgressiveHook(schedule, [train_set], seed=cfg["seed"] or 0)


def test(cfg: Mapping[str, Any], weights: str | os.PathLike | None, det_file: str | os.PathLike | None = None,
         flip: bool | None = None, out_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Evaluate ``weights`` on the config's val split (with ``det_file`` person boxes if given);
    writes the results JSON and the metrics JSON to ``out_dir`` (default: the work_dir)."""
    test_cfg = dict(cfg["test"])
    if flip is not None:
        test_cfg["flip"] = flip
    model = load_pose_model(cfg["model"], resolve_weights(weights, cfg["work_dir"]))
    dataset = build_dataset(cfg, "val", det_file)
    out = Path(out_dir or cfg["work_dir"])
    metrics = evaluate_dataset(model, dataset, test_cfg, out / "results_keypoints_test.json",
                               batch_size=cfg["data"]["val_batch_size"])
    print(format_table(metrics, title=f"COCO keypoints, {len(dataset)} people"
                                      f"{', detected boxes' if det_file or cfg['data']['val']['det_file'] else ''}"
                                      f"{', flip test' if test_cfg['flip'] else ''}"))
    write_json(out / "metrics_test.json", metrics)
    print(f"results: {out / 'results_keypoints_test.json'}, metrics: {out / 'metrics_test.json'}")
    return metrics


# -- inference on photographs -----------------------------------------------------------------------
def read_boxes(path: str | os.PathLike) -> dict[str, list[list[float]]]:
    """Person boxes per image: ``{file_name_or_stem: [[x, y, w, h(, score)], ...]}``, or a COCO
    detection results list (``image_id`` matched to the file's numeric stem, category 1)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"{p}: boxes file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: not valid JSON ({e})") from None
    boxes: dict[str, list[list[float]]] = {}
    if isinstance(data, Mapping):
        for key, items in data.items():
            boxes[str(key)] = [list(map(float, b)) for b in items]
    elif isinstance(data, list):
        for det in data:
            if not isinstance(det, Mapping) or "bbox" not in det or "image_id" not in det:
                raise DataError(f"{p}: each detection needs 'image_id' and 'bbox'")
            if det.get("category_id", 1) == 1:
                boxes.setdefault(str(det["image_id"]), []).append(list(map(float, det["bbox"])) + [float(det.get("score", 1.0))])
    else:
        raise DataError(f"{p}: expected a dict of boxes per image or a list of COCO detections")
    for key, items in boxes.items():
        if any(len(b) not in (4, 5) for b in items):
            raise DataError(f"{p}: boxes of {key!r} must be [x, y, w, h] or [x, y, w, h, score]")
    return boxes


def _boxes_for(image_path: Path, boxes: Mapping[str, list[list[float]]] | None, width: int,
               height: int) -> list[list[float]]:
    if boxes is None:
        return [[0.0, 0.0, float(width), float(height), 1.0]]
    stem = image_path.stem
    keys = (image_path.name, stem, str(int(stem)) if stem.isdigit() else None)
    for key in keys:
        if key is not None and key in boxes:
            return [b if len(b) == 5 else b + [1.0] for b in boxes[key]]
    return []


def estimate_poses(model: nn.Module, image: np.ndarray, person_boxes: Iterable[Sequence[float]],
                   cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Keypoints of each person box (x, y, w, h, score) in an RGB image, official post-processing
    (rescoring and OKS-NMS) included."""
    data, test_cfg = cfg["data"], cfg["test"]
    size_wh = _wh(data["input_size"])
    crops, centers, scales, scores, kept = [], [], [], [], []
    for box in person_boxes:
        x, y, w, h, score = box
        if w <= 1 or h <= 1 or score < test_cfg["image_thr"]:
            continue
        center, scale = box_to_center_scale(x, y, w, h, size_wh[0] / size_wh[1])
        crop = top_down_crop(image, center, scale, np.zeros((17, 3)), np.zeros(17), size_wh)
        crops.append(normalize(crop.image))
        centers.append(center)
        scales.append(scale)
        scores.append(score)
        kept.append([x, y, w, h])
    if not crops:
        return []
    device = next(model.parameters()).device
    centers_a, scales_a = np.array(centers), np.array(scales)
    preds, maxvals = predict_crops(model, torch.stack(crops).to(device), centers_a, scales_a, test_cfg)
    person_scores = rescore(maxvals, np.array(scores), test_cfg["vis_thr"])
    keypoints = np.concatenate([preds, maxvals.reshape(len(preds), -1, 1)], axis=2)
    keep = (oks_nms(keypoints, person_scores, np.prod(scales_a * 200, axis=1), test_cfg["oks_thr"])
            if test_cfg["oks_thr"] is not None else range(len(preds)))
    return [{"bbox": kept[i], "box_score": float(scores[i]), "score": float(person_scores[i]),
             "keypoints": {n: [float(v) for v in k] for n, k in zip(KEYPOINT_NAMES, keypoints[i])}}
            for i in keep]


def infer(image_paths: Sequence[str | os.PathLike], cfg: Mapping[str, Any], weights: str | os.PathLike,
          out_dir: str | os.PathLike, boxes_file: str | os.PathLike | None = None,
          person_detector: Any = None, kpt_thr: float = 0.3) -> list[dict[str, str]]:
    """Write, per image, ``<stem>_pose.png`` (skeleton overlay) and ``<stem>_pose.json``.

    Person boxes come from ``boxes_file``, else from ``person_detector`` (a callable
    ``image -> [[x, y, w, h, score], ...]``), else the whole image is one person. Every image is
    read before anything is written, so a bad file stops the run with nothing half-done.
    """
    from hrseg.visualization.pose import draw_poses

    paths = [Path(p) for p in image_paths]
    images = [read_image(p) for p in paths]  # errors name the file, before any output
    boxes = read_boxes(boxes_file) if boxes_file else None
    model = inference_model(load_pose_model(cfg["model"], weights), cfg["test"])
    out = Path(out_dir)
    written = []
    for path, image in zip(paths, images):
        h, w = image.shape[:2]
        person_boxes = person_detector(image) if person_detector is not None and boxes is None \
            else _boxes_for(path, boxes, w, h)
        people = estimate_poses(model, image, person_boxes, cfg)
        overlay = draw_poses(image, people, kpt_thr)
        png, js = out / f"{path.stem}_pose.png", out / f"{path.stem}_pose.json"
        write_image(png, overlay)
        write_json(js, {"image": str(path), "width": w, "height": h, "keypoint_names": list(KEYPOINT_NAMES),
                        "people": people})
        print(f"{path}: {len(people)} people -> {png}, {js}")
        written.append({"image": str(path), "overlay": str(png), "json": str(js)})
    return written


