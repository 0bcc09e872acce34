"""COCO annotations of a rendered figure scene, read off its label map: per visible entity a box,
an area and polygons of the visible pixels, and for people the keypoints of a keypoint set.

Boxes describe the visible figure and take in its labelled joints, plus a 2 px margin.
Coordinates follow OpenCV's drawing: integers are pixel centres.
"""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from hrseg.data.synthetic.body import PART_BITS, POINT_PARTS
from hrseg.data.synthetic.figures import Person
from hrseg.data.synthetic.scenes import Entity
from hrseg.meta.keypoints import COCO_PERSON, PERSON_CATEGORY_ID, KeypointSet

__all__ = ["ANNS_PER_IMAGE", "INSTANCE_CATEGORIES", "OBJECT_CATEGORIES", "annotate", "coco_files",
           "keypoint_sources", "person_category", "split_stats"]

OBJECT_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"supercategory": "sports", "id": 2, "name": "ball"},
    {"supercategory": "object", "id": 3, "name": "box"},
    {"supercategory": "outdoor", "id": 4, "name": "sign"},
)
INSTANCE_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"supercategory": "person", "id": PERSON_CATEGORY_ID, "name": "person"},
) + OBJECT_CATEGORIES
ANNS_PER_IMAGE = 100  # annotation id = image id * 100 + index within the image
_MIN_VISIBLE_AREA = 16  # px; entities hidden more than this are not annotated
_BOX_MARGIN = 2.0  # px around the visible figure


def person_category(keypoints: KeypointSet = COCO_PERSON) -> dict[str, Any]:
    """The person category of a person_keypoints file: the set's names and 1-based skeleton (the
    category id is always COCO's person, 1, as in the instances file)."""
    return {"supercategory": "person", "id": PERSON_CATEGORY_ID, "name": "person",
            "keypoints": list(keypoints.names), "skeleton": [[a + 1, b + 1] for a, b in keypoints.skeleton]}


def keypoint_sources(keypoints: KeypointSet, sources: Sequence[str] | None = None) -> tuple[str, ...]:
    """The body point each keypoint of ``keypoints`` is read from: ``sources`` (one body point name
    per keypoint, for a renamed set) or the keypoint names themselves."""
    points = tuple(sources) if sources is not None else keypoints.names
    if len(points) != keypoints.num_joints:
        raise ValueError(f"{len(points)} body points for {keypoints.num_joints} keypoints")
    unknown = [p for p in points if p not in POINT_PARTS]
    if unknown:
        raise ValueError(f"no body point {unknown[0]!r}; the figures have {', '.join(POINT_PARTS)}")
    return points


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (outer contours) of a binary mask."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    crop = mask[y0: ys.max() + 1, x0: xs.max() + 1].astype(np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 0.8, True)[:, 0, :]
        if len(c) >= 3:
            polys.append([float(v) for v in (c + (x0, y0)).reshape(-1)])
    return polys


def _bbox(mask: np.ndarray, keypoints: list[float]) -> list[float]:
    """[x, y, w, h] around the visible pixels and labelled joints, plus a margin, in the image."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    kp = np.array(keypoints, dtype=np.float64).reshape(-1, 3)
    kp = kp[kp[:, 2] > 0, :2]
    x = np.concatenate([xs, kp[:, 0]]) if len(kp) else xs
    y = np.concatenate([ys, kp[:, 1]]) if len(kp) else ys
    x0 = round(max(0.0, float(x.min()) - _BOX_MARGIN), 2)
    y0 = round(max(0.0, float(y.min()) - _BOX_MARGIN), 2)
    x1 = round(min(float(w), float(x.max()) + _BOX_MARGIN), 2)
    y1 = round(min(float(h), float(y.max()) + _BOX_MARGIN), 2)
    return [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)]


def annotate(entities: list[Entity], labels: np.ndarray, image_id: int,
             points: Sequence[str] = COCO_PERSON.names) -> list[dict[str, Any]]:
    """COCO annotations of the visible entities; persons carry the keypoints read from the body
    points ``points`` (:func:`keypoint_sources`)."""
    owner = labels >> PART_BITS
    anns = []
    for i, e in enumerate(entities, 1):
        mask = owner == i
        area = int(mask.sum())
        if area < _MIN_VISIBLE_AREA:
            continue
        kps = e.keypoints(labels, i, points) if isinstance(e, Person) else []
        bbox = _bbox(mask, kps)
        x, y, bw, bh = bbox
        ann: dict[str, Any] = {
            "id": image_id * ANNS_PER_IMAGE + i, "image_id": image_id,
            "category_id": e.category_id, "bbox": bbox, "area": float(area), "iscrowd": 0,
            "segmentation": _polygons(mask) or [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]}
        if isinstance(e, Person):
            ann["keypoints"] = kps
            ann["num_keypoints"] = sum(1 for v in kps[2::3] if v > 0)
        anns.append(ann)
    return anns


def coco_files(images: list[dict], anns: list[dict], seed: int, version: int,
               keypoints: KeypointSet = COCO_PERSON) -> tuple[dict, dict]:
    """The person_keypoints and instances documents of one split."""
    info = {"description": f"hrseg synthetic person keypoints (seed {seed})",
            "version": str(version), "year": 2024,
            "contributor": "hrseg.data.synthetic.pose", "url": "", "date_created": ""}
    people = [a for a in anns if a["category_id"] == PERSON_CATEGORY_ID]
    person_keypoints = {"info": info, "licenses": [], "images": images, "annotations": people,
                        "categories": [person_category(keypoints)]}
    plain = [{k: v for k, v in a.items() if k not in ("keypoints", "num_keypoints")} for a in anns]
    instances = {"info": info, "licenses": [], "images": images, "annotations": plain,
                 "categories": list(INSTANCE_CATEGORIES)}
    return person_keypoints, instances


def split_stats(anns: list[dict], n_images: int) -> dict[str, int]:
    """The counts a split's marker records: images, persons, labelled keypoints, objects."""
    people = [a for a in anns if a["category_id"] == PERSON_CATEGORY_ID]
    vis = [v for a in people for v in a["keypoints"][2::3]]
    return {"images": n_images, "persons": len(people),
            "persons_with_keypoints": sum(1 for a in people if a["num_keypoints"] > 0),
            "keypoints_visible": vis.count(2), "keypoints_occluded": vis.count(1),
            "objects": len(anns) - len(people)}
