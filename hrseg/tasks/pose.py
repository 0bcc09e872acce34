"""Top-down pose as a :class:`~hrseg.tasks.base.Task`: COCO-format keypoint data (COCO's person
or any keypoint set), heatmap models, COCO keypoint AP (OKS with the set's sigmas), skeleton
overlays. Prediction is :mod:`hrseg.inference.top_down`; the tools only parse arguments.
"""
from __future__ import annotations

import copy
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from hrseg.codecs.msra import RECIPE_CODECS, HeatmapCodec
from hrseg.data.pose.coco_keypoints import keypoint_categories, load_coco_keypoints, split_image_ids
from hrseg.data.pose.dataset import CocoPoseDataset, pose_collate
from hrseg.data.pose.mpii import MpiiKeypoints
from hrseg.data.augment import mixup_heatmaps
from hrseg.data.pose.transforms import PoseAugment
from hrseg.engine import TRAIN_DEFAULTS
from hrseg.engine.progressive import PROGRESSIVE_DEFAULTS
from hrseg.engine.speed import SpeedOptions
from hrseg.config import load_config
from hrseg.errors import ConfigError
from hrseg.backends import inference_runner
from hrseg.inference.pose_postprocess import OKS_THR, VIS_THR
from hrseg.losses.keypoint import keypoint_loss
from hrseg.meta.keypoints import (COCO_PERSON, MPII_PERSON, KeypointSet, checked_sigmas, flip_index,
                                  keypoint_set_from_category)
from hrseg.tasks.base import Evaluation, Task
from hrseg.tasks import common
from hrseg.tasks.common import coco_split_paths
from hrseg.tasks.pose_eval import evaluate_dataset, format_metrics
from hrseg.utils.image import Normalizer
from hrseg.utils.profile import StageTimer
from hrseg.inference.person_boxes import PersonBoxes, boxes_for, read_boxes  # noqa: F401  (boxes*: re-exported)
from hrseg.inference.pose import PosePredictor
from hrseg.tasks.person_boxes import person_detector as find_person_detector

log = logging.getLogger("hrseg")

# gt_file: MPII's ground-truth .mat (head boxes) that PCKh needs, official annot/gt_valid.mat
_SPLIT = dict(ann_file=None, img_dir=None, img_ids=None, coco_split=None, det_file=None, gt_file=None)

# The defaults are the official COCO recipe (256x192, Adam 1e-3, steps 170/200 of 210 epochs);
# they are also the schema: a config key not listed here is an error.
POSE_DEFAULTS: dict[str, Any] = {
    **copy.deepcopy(TRAIN_DEFAULTS),
    "model": {"name": "pose_hrnet_w32"},
    "data": dict(
        root="datasets/coco",
        format="coco",  # "mpii": MPII's annotation files (hrseg.data.pose.mpii), scored by PCKh
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
        unbiased_encoding=False,  # DARK's unbiased (sub-pixel) Gaussian targets
        udp=False,  # UDP: crops on pixel centres, sub-pixel targets, DARK-UDP decoding (with test.shift_heatmap=False)
        heatmap_type="gaussian",  # "combined": UDP's disk and offset maps, 3 per joint (hrseg.codecs.combined)
        clip_visibility=False,  # official: a joint outside the crop keeps its (partial) Gaussian
        # The keypoint set: COCO's person, or any set a COCO-format file's category lists.
        # sigmas: OKS sigmas (required for a set other than COCO's 17 joints); flip_pairs:
        # [[i, j], ...] (default: from the names, left_/right_, l_/r_, ...); keypoints: the set
        # a checkpoint recorded (written by training, not by hand)
        sigmas=None,
        flip_pairs=None,
        keypoints=None,
    ),
    "loss": dict(type="mse", use_target_weight=True, topk=8),
    # EfficientNetV2's progressive learning (hrseg.engine.progressive), off by default
    "progressive": copy.deepcopy(PROGRESSIVE_DEFAULTS),
    # optimize: the validation during training, BatchNorm folded + channels_last; dtype: 'bfloat16' for about
    # 2x on CPUs with AVX512-BF16/AMX; backend: what the tools run the model on, None / "auto" (the fastest
    # installed, logged), torch (eager), optimized, compiled, onnxruntime or openvino (docs/deploy.md)
    # train_val_boxes: the person boxes of the validation during training, "gt" (official
    # USE_GT_BBOX: true) or "det" (data.val.det_file, what tools/test_pose.py uses)
    # track, smooth: video with --track (hrseg.inference.tracking.TrackerConfig) and --smooth (a filter per
    # keypoint: hrseg.inference.smoothing.KeypointSmoother, constant-velocity Kalman by default), docs/video.md
    # blur_kernel: DARK's blur (None: 6 sigma - 1, odd; hrseg.codecs.msra.dark_kernel); offset_blur: mmpose 0.x's
    # blur of the combined maps' offsets (0: none, as 1.x)
    "test": dict(flip=True, shift_heatmap=True, decoder="argmax", blur_kernel=None, offset_blur=0, oks_thr=OKS_THR,
                 vis_thr=VIS_THR, image_thr=0.0, optimize=True, dtype="float32", train_val_boxes="gt", backend=None,
                 track=dict(common.TRACK_DEFAULTS), smooth=dict(common.SMOOTH_DEFAULTS)),
}
HOW_TO_GET_WEIGHTS = ("run `hrseg train pose` first (it trains a small HRNet on the synthetic mini-split), "
                      "or pass an official HRNet pose checkpoint such as pose_hrnet_w32_256x192.pth")


def keypoint_set(cfg: Mapping[str, Any], category: Mapping[str, Any] | None = None) -> KeypointSet:
    """The config's keypoint set: the one a checkpoint recorded (``data.keypoints``), else that of
    the annotation file's keypoint ``category`` with ``data.sigmas`` / ``data.flip_pairs``, else COCO's."""
    data = cfg["data"]
    if data.get("keypoints"):
        return KeypointSet.from_dict(data["keypoints"])
    if category is None:
        return MPII_PERSON if data.get("format") == "mpii" else COCO_PERSON
    try:
        return keypoint_set_from_category(category, data.get("sigmas"), data.get("flip_pairs"))
    except ValueError as e:
        raise ConfigError(str(e)) from None


class PoseTask(Task):
    name = "pose"
    defaults = POSE_DEFAULTS
    how_to_get_weights = HOW_TO_GET_WEIGHTS
    result_noun = ("person", "people")
    collate = staticmethod(pose_collate)

    # -- data ---------------------------------------------------------------------------------
    def build_dataset(self, cfg: Mapping[str, Any], split: str, det_file: str | os.PathLike | None = None
                      ) -> CocoPoseDataset:
        """The ``train`` (augmented) or ``val`` dataset; ``det_file`` overrides the config's
        person detections for ``val`` (without either, ground-truth boxes are used)."""
        data = cfg["data"]
        if data["format"] == "mpii":
            ann_file, img_dir, gt_file = common.mpii_split_paths(cfg, split)
        else:
            (ann_file, img_dir), gt_file = coco_split_paths(cfg, split, "person_keypoints"), None
        train = split == "train"
        det = det_file if det_file is not None else (None if train else data[split].get("det_file"))
        if det is not None and not Path(det).is_absolute() and not Path(det).exists():
            det = Path(data["root"]) / det
        augment = PoseAugment(**data["augment"]) if train else None
        if augment is not None and not data["augment"].get("flip", True):
            augment.flip_prob = 0.0
        keypoints = KeypointSet.from_dict(data["keypoints"]) if data.get("keypoints") else None
        codec, ids = HeatmapCodec.from_config(cfg), _img_ids(cfg, split, ann_file)
        people = MpiiKeypoints(ann_file, img_dir, codec.input_size, ids) if data["format"] == "mpii" else None
        try:
            dataset = CocoPoseDataset(ann_file, img_dir, train, augment=augment, img_ids=ids,
                                      det_file=det, image_thre=cfg["test"]["image_thr"],
                                      clip_visibility=data["clip_visibility"], seed=cfg["seed"] or 0,
                                      keypoints=keypoints or (people.default_keypoints() if people else
                                                              self._file_keypoints(cfg, ann_file)),
                                      codec=codec, annotations=people)
        except ValueError as e:  # a keypoint set that does not fit its file
            raise ConfigError(f"{ann_file}: {e}") from None
        if not train:  # a missing val image or PCKh's .mat stops a run before its first epoch, not at its evaluation
            dataset.check_files()
            dataset.gt_file = gt_file
            if people is not None and people.annotated and (gt_file is None or not gt_file.is_file()):
                state = f"not found: {gt_file}" if gt_file else "not set"
                raise ConfigError(f"data.{split}.gt_file: MPII's PCKh needs its ground-truth .mat (the head boxes), "
                                  f"{state} (official: annot/gt_valid.mat, mmpose: annotations/mpii_gt_val.mat)")
        return dataset

    def _file_keypoints(self, cfg: Mapping[str, Any], ann_file: Path) -> KeypointSet:
        return keypoint_set(cfg, keypoint_categories(load_coco_keypoints(ann_file).dataset["categories"])[0])

    def training_val_set(self, cfg: Mapping[str, Any], val_set: CocoPoseDataset) -> CocoPoseDataset:
        """``test.train_val_boxes="gt"`` (official): validate on ground-truth boxes during training,
        also when the val split names a detection file (the published AP uses that at test time)."""
        if cfg["test"]["train_val_boxes"] == "gt" and cfg["data"]["val"].get("det_file"):
            val = {**cfg["data"]["val"], "det_file": None}
            return self.build_dataset({**cfg, "data": {**cfg["data"], "val": val}}, "val")
        return val_set

    def prepare_training(self, cfg: dict[str, Any], train_set: CocoPoseDataset, val_set: CocoPoseDataset) -> None:
        """The keypoint set of the training file becomes the config's, and its K the model's
        heatmaps (the data decides: a model config's ``num_joints`` 17 is COCO's default)."""
        cfg["data"]["keypoints"] = train_set.keypoints.to_dict()
        k, given = train_set.keypoints.num_joints, cfg["model"].get("num_joints")
        if given is not None and int(given) != k:
            log.info(f"model.num_joints: {k}, the keypoints of {train_set.coco.ann_file} (the config said {given})")
        cfg["model"]["num_joints"] = k

    def model_meta(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().model_meta(cfg), "input_size": list(cfg["data"]["input_size"]),
                "keypoints": keypoint_set(cfg).to_dict()}

    def check_config(self, cfg: Mapping[str, Any], source: str | os.PathLike | None = None) -> None:
        """The base's checks, the codec's and the loss's for its maps; heatmaps of the models' output size (stride
        4: a mismatch failed at the first step); no Mixup of combined maps (it would average two people's offsets)."""
        super().check_config(cfg, source)
        _check_format(cfg["data"], source or "config")
        maps = HeatmapCodec.from_config(cfg).maps_per_joint
        keypoint_loss(cfg["loss"], maps)
        if maps > 1 and max(cfg["progressive"]["mixup"]) > 0:
            raise ConfigError(f"{source or 'config'}: progressive.mixup with data.heatmap_type 'combined'")
        (h, w), heatmaps = cfg["data"]["input_size"], list(cfg["data"]["heatmap_size"])
        if h % 4 or w % 4 or heatmaps != [h // 4, w // 4]:
            raise ConfigError(f"{source or 'config'}: data.heatmap_size {heatmaps} with data.input_size [{h}, {w}]: "
                              "the models predict at stride 4, so the input size takes multiples of 4 and the heatmaps "
                              f"are a quarter of it{f' ([{h // 4}, {w // 4}])' if not (h % 4 or w % 4) else ''}")

    def apply_meta(self, cfg: dict[str, Any], meta: Mapping[str, Any]) -> None:
        """The checkpoint's keypoint set becomes ``data.keypoints`` (its K ``model.num_joints``); ``data.sigmas``
        and ``data.flip_pairs`` given in the config or ``--cfg-options`` replace its OKS sigmas and
        flip pairs (the joints and their order are the weights'), logged where they differ."""
        if not meta.get("keypoints"):
            return
        recorded = KeypointSet.from_dict(meta["keypoints"])
        data, given = cfg["data"], {}
        try:
            if data.get("sigmas") is not None:
                given["sigmas"] = checked_sigmas(data["sigmas"], recorded.names, "data.sigmas")
            if data.get("flip_pairs") is not None:
                flip_index(data["flip_pairs"], recorded.num_joints, "data.flip_pairs")
                given["flip_pairs"] = tuple((int(a), int(b)) for a, b in data["flip_pairs"])
        except ValueError as e:
            raise ConfigError(str(e)) from None
        given = {k: v for k, v in given.items() if v != getattr(recorded, k)}
        if given:
            log.info("keypoints: %s as the config gives, not the checkpoint's",
                     " and ".join(f"data.{k}" for k in given))
            recorded = replace(recorded, **given)
        data["keypoints"] = recorded.to_dict()
        cfg["model"]["num_joints"] = recorded.num_joints

    def config_for_model(self, name: str, meta: Mapping[str, Any], cfg_options: Any = None) -> dict[str, Any]:
        """The base's with ``meta``'s keypoints (MPII's 16 joints for its files), cropping at the input size it
        gives (heatmaps at stride 4, sigma scaled as the official recipes: ``HeatmapCodec.rescaled``)."""
        cfg = super().config_for_model(name, meta)
        HeatmapCodec.from_config(cfg).rescaled(meta.get("input_size") or cfg["data"]["input_size"]).write_sizes(cfg)
        return load_config(None, cfg_options, cfg, self.open_keys)

    def config_for_record(self, record: Any, cfg_options: Any) -> dict[str, Any]:
        """Published pose weights: their input size (:meth:`config_for_model`) and codec (DARK files decode
        with DARK, UDP files are UDP's end to end, udp_regress files UDP's combined maps); ``cfg_options`` over
        all of it."""
        cfg = super().config_for_record(record, None)
        codec = RECIPE_CODECS[record.meta.get("codec", "msra")]
        cfg["data"].update(codec["data"])
        cfg["test"].update(codec["test"])
        # the recipe's own blurs where it sets them (mmpose 1.x UDP's DARK blur at 11, 0.x's offset blur)
        cfg["test"].update({k: record.meta[k] for k in ("blur_kernel", "offset_blur") if k in record.meta})
        return load_config(None, cfg_options, cfg, self.open_keys)

    def fit_exported(self, cfg: dict[str, Any], record: Mapping[str, Any]) -> None:
        """A fixed-size graph takes crops of its size only: a config given beside it (``hrseg test
        pose CONFIG --weights pose.onnx``) crops at the file's size, heatmaps and sigma scaled."""
        size = [int(v) for v in record["input_size"]]
        if not record.get("dynamic_size") and size != list(cfg["data"]["input_size"]):
            log.info("data.input_size %dx%d: the exported graph's (the config said %s)", *size,
                     "x".join(map(str, cfg["data"]["input_size"])))
            HeatmapCodec.from_config(cfg).rescaled(size).write_sizes(cfg)

    def build_model(self, cfg: Mapping[str, Any]) -> nn.Module:
        """The config's model with the maps its codec draws per joint (UDP's combined maps: three)."""
        maps = HeatmapCodec.from_config(cfg).maps_per_joint if "data" in cfg else 1
        return common.build_from_config({**cfg["model"], "maps_per_joint": maps} if maps > 1 else cfg["model"])

    # -- training -----------------------------------------------------------------------------
    def training_step(self, cfg: Mapping[str, Any], model: nn.Module, train_set: CocoPoseDataset):
        criterion = keypoint_loss(cfg["loss"], HeatmapCodec.from_config(cfg).maps_per_joint)
        # progressive learning's stages: crops, heatmaps (stride 4) and sigma, RandAugment, dropout, drop-path, Mixup
        hook = common.progressive_hook(cfg, train_set, cfg["data"]["input_size"], heatmap_stride=4)
        normalize = Normalizer()  # the workers' mean and std (hrseg.utils.image.normalize's defaults)

        def train_step(net: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            images = normalize(batch["image"])
            if "target" in batch:
                target, weight = batch["target"], batch["target_weight"]
            else:
                target, weight = train_set.device_targets(batch["meta"])
            if hook is not None and hook.mixup_alpha > 0:
                images, target, weight, _ = mixup_heatmaps(images, target, weight, hook.mixup_alpha, hook.generator)
            return {"loss": criterion(net(images), target, weight)}

        def use_speed(options: SpeedOptions) -> None:
            """train.gpu_targets and train.device_normalize as the Trainer resolved them (automatic: on
            under CUDA, on everywhere): the workers leave the heatmaps and the normalisation to the step
            on the batch's device; the step takes batches either way."""
            train_set.draw_targets = not options.gpu_targets
            train_set.normalize_images = not options.device_normalize

        train_step.use_speed = use_speed
        return train_step, hook

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, dataset: CocoPoseDataset, cfg: Mapping[str, Any],
                 out_dir: Path | None = None, stage: str = "val", verbose: bool = True) -> Evaluation:
        out_json = out_dir / f"results_keypoints_{stage}.json" if out_dir is not None else None
        metrics = evaluate_dataset(model, dataset, cfg["test"], out_json, batch_size=cfg["data"]["val_batch_size"],
                                   verbose=False, codec=HeatmapCodec.from_config(cfg),
                                   name=cfg["model"]["name"] if stage == "test" else None,
                                   gt_file=dataset.gt_file)
        return metrics, {"results": str(out_json) if out_json else None}

    def report(self, evaluation: Evaluation, cfg: Mapping[str, Any], dataset: CocoPoseDataset, title: str) -> None:
        print(format_metrics(evaluation[0], title))

    def test_config(self, cfg: dict[str, Any], flip: bool | None = None, **options: Any) -> dict[str, Any]:
        if flip is not None:
            cfg["test"]["flip"] = flip
        return cfg

    def dataset_options(self, det_file: str | os.PathLike | None = None, **options: Any) -> dict[str, Any]:
        return {"det_file": det_file}

    def test_title(self, cfg: Mapping[str, Any], dataset: CocoPoseDataset, det_file: Any = None, **options: Any) -> str:
        detected = det_file or cfg["data"]["val"]["det_file"]
        return (f"{len(dataset)} people{', detected boxes' if detected else ''}"
                f"{', flip test' if cfg['test']['flip'] else ''}")

    # -- inference ------------------------------------------------------------------------------
    def runner(self, model: nn.Module, cfg: Mapping[str, Any]) -> nn.Module:
        """``model`` on ``test.backend`` in ``test.dtype``, exported (when it is) at ``data.input_size``
        and checked through this task's predictor."""
        return inference_runner(model, cfg["test"], cfg["model"]["name"], cfg["data"]["input_size"],
                                check=lambda: common.check_predictor(self, model, cfg))

    def tracking(self, predictor: PosePredictor, cfg: Mapping[str, Any], smooth: bool = False) -> PosePredictor:
        """People followed across frames by box IoU and keypoint OKS (the keypoint set's sigmas; their looks
        along its limbs), on their boxes' detection scores (``box_score``), as ByteTrack associates detections."""
        return common.tracking(predictor, cfg["test"], "xywh", smooth, keypoint_set(cfg), "box_score")

    def predictor(self, model: nn.Module, cfg: Mapping[str, Any], boxes_file: str | os.PathLike | None = None,
                  det_weights: str | os.PathLike | None = None, det_score_thr: float = 0.5,
                  person_detector: Callable[[np.ndarray], list[list[float]]] | None = None, det_every: int = 1,
                  kpt_thr: float = 0.3, timer: StageTimer | None = None, **options: Any) -> PosePredictor:
        """Person boxes come from ``boxes_file`` (those scoring ``det_score_thr`` or more, as a
        detector's; a file's boxes without a score score 1), else from a person detector (``person_detector``,
        a callable ``image -> [[x, y, w, h, score], ...]``, else the one of ``det_weights``, else
        the default COCO detector: :func:`hrseg.tasks.person_boxes.person_detector`; in a video
        every ``det_every`` frames), else the whole image is one person."""
        runner = self.runner(model, cfg)  # a backend that cannot run the weights says so before a detector is fetched
        test_cfg = dict(cfg["test"])
        if boxes_file is None and person_detector is None:
            person_detector = find_person_detector(det_weights, det_score_thr)
        elif boxes_file is not None:  # a file's boxes are kept as a detector's are: scoring det_score_thr or more
            test_cfg["image_thr"] = max(float(test_cfg["image_thr"]), det_score_thr)
        boxes = PersonBoxes(boxes_file, person_detector, det_every)
        return PosePredictor(runner, model, HeatmapCodec.from_config(cfg), keypoint_set(cfg), test_cfg, boxes,
                             kpt_thr, timer)


def _check_format(data: Mapping[str, Any], source: str) -> None:
    """``data.format``: COCO's files, or MPII's (its annotated people and PCKh: no coco_split, no detected boxes)."""
    if data["format"] not in ("coco", "mpii"):
        raise ConfigError(f"{source}: data.format is 'coco' or 'mpii', not {data['format']!r}")
    if data["format"] == "mpii":
        given = [f"data.{s}.{k}" for s in ("train", "val") for k in ("coco_split", "det_file") if data[s].get(k)]
        if given:
            raise ConfigError(f"{source}: {', '.join(given)} with data.format 'mpii' (COCO's files only)")


def _img_ids(cfg: Mapping[str, Any], split: str, ann_file: Path) -> list[int] | None:
    s = cfg["data"][split]
    ids = list(s["img_ids"]) if s.get("img_ids") else None
    if s.get("coco_split"):
        in_split = set(split_image_ids(load_coco_keypoints(ann_file), s["coco_split"], ann_file))
        ids = sorted(in_split if ids is None else in_split & set(ids))
    return ids


TASK = PoseTask()
OPEN_KEYS = TASK.open_keys
load_pose_config = TASK.load_config
build_dataset = TASK.build_dataset
train = TASK.train
test = TASK.test
infer = TASK.infer
resolve_weights = TASK.resolve_weights
build_pose_model = TASK.model_from_section
