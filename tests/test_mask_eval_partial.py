"""Mask AP when some ground-truth instances have no ``segmentation`` (docs/multitask.md allows
them): pycocotools decodes every instance of the images it evaluates and raised ``KeyError``, so
:func:`hrseg.evaluation.evaluate_masks` (and through it the detection task's Mask R-CNN
evaluation) scores the images whose every instance has a mask, and logs which it left out."""
from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.det.dataset import CocoDetection
from hrseg.data.det.instance_masks import encode_mask
from hrseg.evaluation import evaluate_masks
from hrseg.evaluation.coco_boxes import STAT_NAMES
from hrseg.tasks.detection import evaluate_dataset


@pytest.fixture(scope="module")
def coco_files(shared_data, tmp_path_factory) -> dict[str, Path]:
    """coco_mini's instances file as it is, with one instance of its second image unmasked, and
    with no mask at all (a box-only file); ``ids``: its first 6 images, those evaluated."""
    source = shared_data / "coco_mini" / "instances.json"
    doc = json.loads(source.read_text())
    ids = sorted(i["id"] for i in doc["images"])[:6]
    out = tmp_path_factory.mktemp("masks")
    partial = json.loads(json.dumps(doc))
    del next(a for a in partial["annotations"] if a["image_id"] == ids[1] and not a["iscrowd"])["segmentation"]
    for ann in doc["annotations"]:
        del ann["segmentation"]
    (out / "partial.json").write_text(json.dumps(partial))
    (out / "box_only.json").write_text(json.dumps(doc))
    return {"full": source, "partial": out / "partial.json", "box_only": out / "box_only.json", "ids": ids,
            "images": shared_data / "coco_mini" / "images"}


def _answer(full: CocoInstances, image_id: int) -> dict[str, torch.Tensor]:
    """The complete ground truth of an image as a Mask R-CNN output, the masks moved 3 px right
    (so that the mask AP is neither 0 nor 1)."""
    t = full.targets(image_id, masks=True)
    return {"boxes": torch.from_numpy(t.boxes), "labels": torch.from_numpy(t.labels),
            "scores": torch.linspace(0.9, 0.5, len(t.boxes)),
            "masks": torch.from_numpy(np.roll(t.masks, 3, axis=2))[:, None].float()}


class _ShiftedOracle(torch.nn.Module):
    """A 'Mask R-CNN' giving :func:`_answer` for the images in the dataset's order."""

    def __init__(self, full: CocoInstances, image_ids) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.queue = [_answer(full, i) for i in image_ids]
        self.roi_heads = type("Heads", (torch.nn.Module,), {"has_mask": lambda self: True})()

    def forward(self, images):
        return [self.queue.pop(0) for _ in images]


def _mask_records(full: CocoInstances, image_ids) -> list[dict]:
    """COCO ``segm`` records of :func:`_answer`, made here from the results format."""
    return [{"image_id": i, "category_id": full.cat_ids[int(label) - 1], "score": round(float(score), 5),
             "segmentation": encode_mask(mask[0].numpy() >= 0.5)}
            for i in image_ids for label, score, mask in zip(*(_answer(full, i)[k] for k in ("labels", "scores",
                                                                                             "masks")))]


def _segm_ap(gt_file: Path, dets: list[dict], image_ids) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]), "segm")
        ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_mask_ap_scores_the_images_whose_every_instance_has_a_mask(coco_files, caplog):
    ids = coco_files["ids"]
    dets = _mask_records(CocoInstances(coco_files["full"]), ids)
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        stats = evaluate_masks(coco_files["partial"], dets, img_ids=ids, verbose=False)
    expected = _segm_ap(coco_files["partial"], dets, [i for i in ids if i != ids[1]])
    assert 0.05 < expected[0] < 0.95
    assert [stats[k] for k in STAT_NAMES] == pytest.approx(list(expected), abs=1e-12)
    assert f"{coco_files['partial']}: mask AP on 5 of 6 images (1 has instances without masks)" in caplog.text


def test_a_box_only_file_has_no_mask_ground_truth(coco_files, caplog):
    dets = _mask_records(CocoInstances(coco_files["full"]), coco_files["ids"])
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        stats = evaluate_masks(coco_files["box_only"], dets, img_ids=coco_files["ids"], verbose=False)
    assert stats == dict.fromkeys(STAT_NAMES, -1.0)  # pycocotools' value for a stat without ground truth
    assert "mask AP skipped: no val image has masks for all its instances" in caplog.text


def test_the_detection_tasks_mask_evaluation_skips_the_unmasked_images(coco_files):
    """evaluate_dataset (the detection task's box + mask AP) on a file with an unmasked instance."""
    ids = coco_files["ids"]
    full, partial = CocoInstances(coco_files["full"]), CocoInstances(coco_files["partial"])
    dataset = CocoDetection(partial, coco_files["images"], img_ids=ids)
    metrics = evaluate_dataset(_ShiftedOracle(full, ids), dataset, partial.categories, verbose=False)
    assert metrics["AP"] == pytest.approx(1.0)  # the boxes are the ground truth's, on every image
    expected = _segm_ap(coco_files["partial"], _mask_records(full, ids), [i for i in ids if i != ids[1]])
    assert metrics["mask_AP"] == pytest.approx(expected[0], abs=1e-12)


def test_a_mask_models_val_split_loads_instances_without_masks(coco_files):
    """The masks are training targets: the val split of a Mask R-CNN config reads no mask (it
    refused a file with an unmasked instance before the evaluation could score the others)."""
    from hrseg.tasks.detection import build_dataset, load_det_config

    root = coco_files["partial"].parent
    cfg = load_det_config(None, {"model.name": "det_maskrcnn_hrnetv2p_w18_small_v1", "data.synthetic": None,
                                 "data.root": str(root), "data.val.ann_file": "partial.json",
                                 "data.val.img_dir": str(coco_files["images"]), "data.val.img_ids": coco_files["ids"]})
    val = build_dataset(cfg, "val")
    targets = [val[i][1] for i in range(len(val))]  # (image, target); the second image has the unmasked instance
    assert len(targets) == 6 and len(targets[1]["boxes"]) > 0 and "masks" not in targets[1]
