"""COCO mask AP/AR with pycocotools: ``COCOeval(gt, dt, 'segm')`` and its 12 stats, through the
same runner as the box and keypoint evaluators (:mod:`hrseg.evaluation.coco_eval`).

Results are COCO ``segm`` records ``{'image_id', 'category_id', 'segmentation': RLE, 'score'}``
with the RLE of the image's size (``counts`` a string, as
:func:`hrseg.data.det.instance_masks.encode_mask` writes it; uncompressed RLE and polygons are
accepted and compressed first). The ground truth's polygons and RLE (crowd regions) are
pycocotools' business, so the numbers are its numbers: COCO's rules apply (detections matched
to crowd regions ignored, 100 per image, areas split at 32**2 and 96**2, -1 for a stat without
ground truth).

Instances without ``segmentation`` (a box-only file, or some boxes unmasked: docs/multitask.md
allows them) cannot be scored for masks, and pycocotools decodes every ground-truth instance of
the images evaluated (a ``KeyError`` on the first without one). The mask AP therefore covers the
images whose every instance has a mask (:func:`mask_coverage`), and says so.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from pycocotools.coco import COCO

from hrseg.data.det.coco_instances import load_coco_instances
from hrseg.data.det.instance_masks import check_segmentation, to_rle
from hrseg.evaluation.coco_boxes import STAT_NAMES
from hrseg.evaluation.coco_eval import format_table, load_results, run_cocoeval

__all__ = ["STAT_NAMES", "MaskCoverage", "evaluate_masks", "format_metrics", "mask_coverage", "split_results"]

log = logging.getLogger("hrseg")

_RESULT_FIELDS = ("image_id", "category_id", "segmentation", "score")


class MaskCoverage(NamedTuple):
    """The images a mask AP can score, of the ``total`` asked for (:func:`mask_coverage`)."""

    img_ids: list[int]  # the images whose every instance has a mask
    total: int
    scorable: bool  # some instance of img_ids has a mask to score against

    @property
    def note(self) -> str | None:
        """A line saying which images the mask AP covers; None when it covers them all."""
        if not self.scorable:
            return "mask AP skipped: no val image has masks for all its instances"
        left_out = self.total - len(self.img_ids)
        if not left_out:
            return None
        return (f"mask AP on {len(self.img_ids)} of {self.total} images ({left_out} "
                f"{'has' if left_out == 1 else 'have'} instances without masks)")


def mask_coverage(coco: COCO, img_ids: Iterable[int] | None = None,
                  cat_ids: Iterable[int] | None = None) -> MaskCoverage:
    """Of ``img_ids`` (default: all images of ``coco``), those whose every annotation of
    ``cat_ids`` (default: all; crowd regions too, pycocotools reads them) has a non-empty
    ``segmentation``."""
    ids = sorted(coco.imgs) if img_ids is None else [int(i) for i in img_ids]
    cats = None if cat_ids is None else {int(c) for c in cat_ids}
    anns = {i: [a for a in coco.imgToAnns.get(i, []) if cats is None or a["category_id"] in cats] for i in ids}
    masked = [i for i in ids if all(a.get("segmentation") for a in anns[i])]
    return MaskCoverage(masked, len(ids), any(anns[i] for i in masked))


def evaluate_masks(gt: str | os.PathLike | COCO, results: str | os.PathLike | Sequence[dict],
                   img_ids: Iterable[int] | None = None, cat_ids: Iterable[int] | None = None,
                   verbose: bool = True, title: str = "COCO masks") -> dict[str, float]:
    """COCO mask stats of ``results`` (a ``segm`` results JSON or its records) against ``gt``
    (an instances JSON or a loaded ``COCO``) on ``img_ids`` / ``cat_ids`` (default: all of
    ``gt``). Returns ``{name: value}`` for :data:`STAT_NAMES`; empty results give pycocotools'
    stats of no masks (0; -1 without ground truth), with a warning. A record whose RLE does not
    fit its image is a DataError naming the file. Only the images whose every instance has a
    mask are scored (:func:`mask_coverage`; logged when that leaves some out); none: every stat
    -1, pycocotools' value without ground truth."""
    coco = gt if isinstance(gt, COCO) else load_coco_instances(gt)

    def check(det: dict, name: str) -> None:
        img = coco.imgs[det["image_id"]]
        check_segmentation(det["segmentation"], int(img["height"]), int(img["width"]),
                           f"{name}: result for image id {det['image_id']}")

    dets, name = load_results(results, coco, _RESULT_FIELDS, "mask results", check)
    dets = [_compressed(d, coco) for d in dets]
    coverage = mask_coverage(coco, img_ids, cat_ids)
    if coverage.note:  # the ground truth's doing: named when it is a file
        log.warning(coverage.note if isinstance(gt, COCO) else f"{gt}: {coverage.note}")
    if coverage.scorable:
        stats = run_cocoeval(coco, dets, name, "segm", STAT_NAMES, coverage.img_ids, cat_ids, "masks")
    else:
        stats = dict.fromkeys(STAT_NAMES, -1.0)
    if verbose:
        print(format_table(stats, title))
    return stats


def _compressed(det: Mapping[str, Any], coco: COCO) -> dict[str, Any]:
    """The record with its segmentation as compressed RLE (pycocotools' ``loadRes`` needs it)."""
    seg = det["segmentation"]
    if isinstance(seg, Mapping) and isinstance(seg["counts"], str):
        return dict(det)
    img = coco.imgs[det["image_id"]]
    rle = to_rle(seg, int(img["height"]), int(img["width"]))
    return {**det, "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}}


def split_results(records: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Records carrying both ``bbox`` and ``segmentation`` as box records and ``segm`` records
    (each only its own geometry, so that pycocotools reads each as the kind it is)."""
    boxes = [{k: v for k, v in r.items() if k != "segmentation"} for r in records]
    masks = [{k: v for k, v in r.items() if k != "bbox"} for r in records if "segmentation" in r]
    return boxes, masks


def format_metrics(metrics: Mapping[str, float], title: str = "COCO boxes") -> str:
    """The box stats as a table and, when there are ``mask_*`` stats, the mask table below it."""
    boxes = {k: v for k, v in metrics.items() if not k.startswith("mask_")}
    masks = {k[len("mask_"):]: v for k, v in metrics.items() if k.startswith("mask_")}
    tables = [format_table(boxes, title)]
    if masks:
        tables.append(format_table(masks, title.replace("boxes", "masks")))
    return "\n".join(tables)
