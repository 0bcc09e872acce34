"""Semantic segmentation as a :class:`~hrseg.tasks.base.Task`: config -> datasets -> training -> mIoU -> inference.

One prediction path (:func:`hrseg.inference.segmentation.predict_labels`: whole image or sliding
window, optional multi-scale and flip, scores resized to the input size) serves the evaluation
during training, ``tools/test_seg.py`` and ``tools/infer_seg.py``, so the numbers are the same
wherever they are computed. The tools only parse arguments and call this module.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hrseg.data.augment import mixed_losses, mixup_images
from hrseg.data.seg.datasets import SegDataset
from hrseg.meta.classes import IGNORE_INDEX, LIP_FLIP_PAIRS
from hrseg.engine import TRAIN_DEFAULTS, get_rank
from hrseg.utils.progress import progress_iter
from hrseg.engine.distributed import get_world_size
from hrseg.engine.progressive import PROGRESSIVE_DEFAULTS
from hrseg.engine.speed import SpeedOptions
from hrseg.config import load_config
from hrseg.errors import ConfigError
from hrseg.evaluation.segmentation import ConfusionMatrix, format_table
from hrseg.backends import inference_runner
from hrseg.inference.optimize import inference_model
from hrseg.inference.segmentation import SEG_TEST_DEFAULTS, predict_labels, resolve_test_settings, with_align_corners
from hrseg.inference.predictor import SegPredictor
from hrseg.losses.segmentation import SegCrossEntropy
from hrseg.utils.image import Normalizer
from hrseg.utils.profile import StageTimer
from hrseg.tasks.base import Evaluation, Task
from hrseg.tasks.common import check_predictor, progressive_hook
from hrseg.tasks.seg_data import build_dataset, class_names, crop_pair, default_palette, with_dataset_of
from hrseg.utils.io import write_json
from hrseg.visualization.segmentation import palette_for, write_segmentation
from hrseg.weights import cache_dir, get_weights

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
        # cityscapes | pascal_context | ade20k | voc | cocostuff | lip | folder (hrseg.tasks.seg_data)
        type="cityscapes",
        root="datasets/cityscapes",
        synthetic=None,  # dict(num_train=..., ...): generate synthetic streets (lip: figures) under root
        train_split="train",  # the dataset's split names (ade20k: training, validation; voc: train+aug, val)
        val_split="val",
        num_classes=None,  # pascal_context: 59 (background ignored) or 60
        classes=None,  # folder: the class names, in mask-value order
        palette=None,  # folder: [[r, g, b], ...] (default: a generated palette)
        train=dict(images=None, masks=None),  # folder: image and mask folders, relative to root
        val=dict(images=None, masks=None),
        crop_size=[512, 1024],  # H, W
        base_size=2048,  # long side at scale 1.0 (None: the image's own size)
        short_size=None,  # with base_size: mmsegmentation's Resize(img_scale=(base_size, short_size), keep_ratio)
        scale_range=[0.5, 2.0],
        scale_step=None,  # None: uniform in scale_range; 0.1 with [0.5, 2.1]: the official grid
        squash=False,  # flip, then resize to crop_size (aspect not kept), then scale: the official LIP training
        pad_value=None,  # crop padding, uint8 RGB (None: the mean colour; official: [0, 0, 0])
        flip=True,
        photometric=False,  # mmsegmentation's photometric distortion (the official HRNet code has none)
        cat_max_ratio=1.0,
        batch_size=3,  # per process
        num_workers=4,
    ),
    # avg_non_ignore False: the mean over every pixel, ignored ones included (mmsegmentation's CrossEntropyLoss)
    "loss": dict(ohem=False, ohem_thresh=0.9, ohem_min_kept=131072, class_weight=None, aux_weight=0.4,
                 avg_non_ignore=True),
    # EfficientNetV2's progressive learning (hrseg.engine.progressive), off by default: the crop grows
    # in stages (on multiples of 32) while RandAugment, dropout and Mixup grow with it
    "progressive": dict(PROGRESSIVE_DEFAULTS, size_divisor=32),
    "test": dict(SEG_TEST_DEFAULTS, mode="whole", crop_size=[1024, 2048]),
}
OPEN_KEYS = ("model",)


def load_seg_config(path: str | os.PathLike | None = None,
                    cfg_options: Mapping[str, Any] | Sequence[str] | None = None) -> dict[str, Any]:
    """A segmentation config (``None``: the defaults) validated against :data:`SEG_DEFAULTS`."""
    return TASK.load_config(path, cfg_options)


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
                           bool(getattr(model, "align_corners", False)), bool(loss_cfg["avg_non_ignore"]))


# The model infer_seg.py uses without --weights when it is in the weights cache.
DEFAULT_PUBLISHED = "seg_hrnetv2_w48.official_cityscapes"
HOW_TO_GET_WEIGHTS = ("run `hrseg train seg` first (it trains a small model on synthetic street "
                      "scenes on the CPU), pass published weights by name (--weights "
                      f"{DEFAULT_PUBLISHED}; `hrseg weights download {DEFAULT_PUBLISHED}` puts "
                      "them in the cache) or an official checkpoint file with --weights")


def default_infer_weights(work_dir: str | os.PathLike) -> str | os.PathLike:
    """The weights of ``infer_seg.py`` without --weights: the published Cityscapes model when it
    is in the weights cache (no download), else the newest checkpoint of the run in ``work_dir``."""
    if (cache_dir() / get_weights(DEFAULT_PUBLISHED).filename).is_file():
        log.info(f"using {DEFAULT_PUBLISHED} from the weights cache")
        return DEFAULT_PUBLISHED
    return TASK.resolve_weights(None, work_dir)


def test_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg``'s test section; LIP's flip test exchanges the left and right arm, leg and shoe
    classes (:data:`~hrseg.meta.classes.LIP_FLIP_PAIRS`) unless ``test.flip_pairs`` says otherwise,
    as its training flip does (the mirrored "left arm" is the right one)."""
    test = dict(cfg["test"])
    if cfg["data"]["type"] == "lip" and not test.get("flip_pairs"):
        test["flip_pairs"] = [list(p) for p in LIP_FLIP_PAIRS]
    return test


# -- evaluation: the one prediction path ---------------------------------------------------------
def evaluate_dataset(model: nn.Module, dataset: SegDataset, test_cfg: Mapping[str, Any],
                     progress: bool = True, name: str | None = None) -> tuple[dict[str, float], dict[str, Any]]:
    """mIoU of ``model`` on ``dataset`` (untransformed samples: uint8 image, int64 label).

    Returns the scalar metrics (``mIoU``, ``aAcc``, ``mAcc``) and the full result with the
    per-class IoU. Distributed: each process predicts its share; the confusion matrices are summed.
    """
    test_cfg = with_align_corners(test_cfg, model)
    runner = (inference_runner(model, test_cfg, name, test_cfg.get("crop_size", (512, 1024))) if name
              else inference_model(model, test_cfg))
    cm = ConfusionMatrix(dataset.num_classes, dataset.ignore_index)
    rank, world = get_rank(), get_world_size()
    indices = range(rank, len(dataset), world)
    for index in progress_iter(indices, len(indices), "evaluate", disable=not progress or rank != 0):
        image, label, _ = dataset.load(index)
        cm.update(predict_labels(runner, image, test_cfg), label)
    cm.all_reduce()
    result = cm.compute()
    return {"mIoU": result["mIoU"], "aAcc": result["pixel_acc"], "mAcc": result["mean_acc"]}, result


# -- the task ------------------------------------------------------------------------------------
class SegTask(Task):
    name = "seg"
    defaults = SEG_DEFAULTS
    how_to_get_weights = HOW_TO_GET_WEIGHTS
    result_noun = ("class", "classes")
    collate = staticmethod(seg_collate)

    def check_config(self, cfg: Mapping[str, Any], source: str | os.PathLike | None = None) -> None:
        """Besides the task's checks, the test setting and a batch BatchNorm can train on: HRNet's stride-32
        branch sees ``batch x ceil(H/32) x ceil(W/32)`` values per channel, and one is none to normalise."""
        super().check_config(cfg, source)
        resolve_test_settings(cfg["test"])  # test.mode and test.protocol, before any work
        h, w = crop_pair(cfg["data"]["crop_size"], "data.crop_size")
        if int(cfg["data"]["batch_size"]) * math.ceil(h / 32) * math.ceil(w / 32) < 2:
            raise ConfigError(f"data.crop_size {[h, w]} with data.batch_size {cfg['data']['batch_size']}: HRNet's "
                              "stride-32 branch would see one value per channel, which BatchNorm cannot train on; "
                              "give a crop over 32 pixels on a side or a batch of 2")

    def build_dataset(self, cfg: Mapping[str, Any], split: str) -> SegDataset:
        return build_dataset(cfg, split)

    def model_meta(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().model_meta(cfg), "classes": list(class_names(cfg)), "palette": default_palette(cfg),
                "dataset": cfg["data"]["type"]}

    def config_for_model(self, name: str, meta: Mapping[str, Any], cfg_options: Any = None) -> dict[str, Any]:
        """The base's, with the classes ``meta`` names where they are not the defaults' (Cityscapes' 19): the
        dataset they are of (:func:`~hrseg.tasks.seg_data.with_dataset_of`), else a folder dataset of those names."""
        cfg = super().config_for_model(name, meta)
        classes = list(meta.get("classes") or ())
        if classes:
            cfg["model"]["num_classes"] = len(classes)
        if classes and classes != list(class_names(cfg)):
            cfg = with_dataset_of(cfg, str(meta.get("dataset")), len(classes))
            if cfg["data"]["type"] == "folder":
                cfg["data"]["classes"] = classes
        cfg = load_config(None, cfg_options, cfg, self.open_keys)
        self.check_config(cfg)
        return cfg

    def config_for_record(self, record: Any, cfg_options: Any) -> dict[str, Any]:
        """Published segmentation weights: the model, the dataset of their classes (:meth:`config_for_model`)
        and the test setting their published metric was measured with (the record's ``meta["test"]``);
        ``cfg_options`` (the tools' --mode, --scales, ...) over all of it."""
        cfg = self.config_for_model(record.model, record.model_meta())
        cfg["test"].update(copy.deepcopy(record.meta.get("test", {})))
        cfg = load_config(None, cfg_options, cfg, self.open_keys)
        self.check_config(cfg)
        return cfg

    def training_step(self, cfg: Mapping[str, Any], model: nn.Module, train_set: SegDataset):
        criterion = build_loss(cfg["loss"], model)
        hook = progressive_hook(cfg, train_set, cfg["data"]["crop_size"])
        normalize = Normalizer(train_set.transform.mean, train_set.transform.std)

        def train_step(net: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            images = normalize(batch["image"])
            if hook is not None and hook.mixup_alpha > 0:
                images, lam, perm = mixup_images(images, hook.mixup_alpha, hook.generator)
                return mixed_losses(criterion, net(images), batch["label"], lam, perm)
            return criterion(net(images), batch["label"])

        def use_speed(options: SpeedOptions) -> None:
            """train.device_normalize as the Trainer resolved it (automatic: on): the workers send uint8 crops,
            normalised by the step on the batch's device; the step takes float crops too."""
            train_set.normalize_images = not options.device_normalize

        train_step.use_speed = use_speed
        return train_step, hook

    def evaluate(self, model: nn.Module, dataset: SegDataset, cfg: Mapping[str, Any],
                 out_dir: Path | None = None, stage: str = "val", verbose: bool = True) -> Evaluation:
        metrics, result = evaluate_dataset(model, dataset, test_settings(cfg),
                                           name=cfg["model"]["name"] if stage == "test" else None)
        names = class_names(cfg)
        return metrics, {"result": result, "json": {"classes": list(names), "iou": result["iou"],
                                                    "acc": result["acc"], "num_images": len(dataset)}}

    def report(self, evaluation: Evaluation, cfg: Mapping[str, Any], dataset: SegDataset, title: str) -> None:
        metrics, details = evaluation
        print(title)
        print(format_table(details["result"], class_names(cfg)))
        if title.endswith("val split"):  # after training: the per-class file and the one-line summary
            work_dir = Path(cfg["work_dir"])
            write_json(work_dir / "metrics_val_per_class.json", {**details["json"], **metrics})
            print(f"mIoU {metrics.get('mIoU', float('nan')):.4f} on the val split ({len(dataset)} images)")

    def test_title(self, cfg: Mapping[str, Any], dataset: SegDataset, **options: Any) -> str:
        t = cfg["test"]
        how = f"{t['mode']}" + (f", scales {t['scales']}" if len(t["scales"]) > 1 else "") + (", flip" if t["flip"] else "")
        return f"{cfg['model']['name']} on {len(dataset)} {cfg['data']['type']} images ({how})"

    def runner(self, model: nn.Module, cfg: Mapping[str, Any]) -> nn.Module:
        """``model`` on ``test.backend`` (float32; exported with a dynamic size, traced at
        ``test.crop_size``, checked through this task's predictor)."""
        return inference_runner(model, cfg["test"], cfg["model"]["name"], cfg["test"]["crop_size"],
                                check=lambda: check_predictor(self, model, cfg))

    def predictor(self, model: nn.Module, cfg: Mapping[str, Any], palette: str | None = None, alpha: float = 0.5,
                  timer: StageTimer | None = None, **options: Any) -> SegPredictor:
        """Label maps with the config's test protocol; overlays in ``palette`` (default: the dataset's)."""
        names = class_names(cfg)
        colours = palette_for(palette or default_palette(cfg), len(names))
        test_cfg = with_align_corners(test_settings(cfg), model)
        return SegPredictor(self.runner(model, cfg), model, test_cfg, list(names), colours, alpha, timer)

    def write_prediction(self, out_dir: Path, path: Path, image: np.ndarray, result: np.ndarray,
                         predictor: SegPredictor) -> dict[str, str]:
        """``<stem>_labels.png`` (class indices), ``<stem>_color.png`` (the dataset's palette) and
        ``<stem>_overlay.png`` (blended over the photograph), all at the image's size, and
        ``<stem>_seg.json`` (the classes present, their pixels and share: what the service answers)."""
        files = write_segmentation(out_dir, path.stem, result, predictor.colours, predictor.draw(image, result))
        files["json"] = self.write_document(out_dir, path, image, result, predictor)
        return {k: str(v) for k, v in files.items()}


TASK = SegTask()
train = TASK.train
test = TASK.test
infer = TASK.infer
resolve_weights = TASK.resolve_weights
build_seg_model = TASK.model_from_section
