"""Drawing COCO skeletons: left limbs in one colour family, right in another, centre in a third."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from hrseg.meta.keypoints import COCO_PERSON, KeypointSet
from hrseg.visualization.boxes import colour_of

_LEFT, _RIGHT, _CENTRE = (0, 200, 255), (255, 120, 0), (60, 255, 60)  # RGB


def _side_colour(a: str, b: str) -> tuple[int, int, int]:
    if a.startswith("left") and b.startswith("left"):
        return _LEFT
    if a.startswith("right") and b.startswith("right"):
        return _RIGHT
    return _CENTRE


def draw_poses(image: np.ndarray, people: Sequence[Mapping[str, Any]], kpt_thr: float = 0.3,
               draw_boxes: bool = True, keypoints: KeypointSet = COCO_PERSON) -> np.ndarray:
    """A copy of the RGB ``image`` with each person's skeleton (joints scoring >= ``kpt_thr``)
    and box. ``people`` as written by ``infer``: ``{'bbox': [x, y, w, h], 'keypoints':
    {name: [x, y, score]}}``; ``keypoints``: the set whose skeleton is drawn."""
    canvas = image.copy()
    scale = max(1, round(max(image.shape[:2]) / 640))
    for person in people:
        kpts = person["keypoints"]
        if draw_boxes and person.get("bbox"):
            x, y, w, h = (int(round(v)) for v in person["bbox"][:4])
            track = person.get("track_id")
            colour = colour_of(person) if track is not None else (255, 255, 255)  # a colour per id in a video
            cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, scale)
            if track is not None:
                cv2.putText(canvas, f"#{track}", (x + 2, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale,
                            colour, scale, cv2.LINE_AA)
        for i, j in keypoints.skeleton:  # 0-based
            a, b = keypoints.names[i], keypoints.names[j]
            (xa, ya, sa), (xb, yb, sb) = kpts[a], kpts[b]
            if sa >= kpt_thr and sb >= kpt_thr:
                cv2.line(canvas, (int(xa), int(ya)), (int(xb), int(yb)), _side_colour(a, b), 2 * scale, cv2.LINE_AA)
        for name in keypoints.names:
            x, y, s = kpts[name]
            if s >= kpt_thr:
                colour = _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE
                cv2.circle(canvas, (int(x), int(y)), 3 * scale, colour, -1, cv2.LINE_AA)
                cv2.circle(canvas, (int(x), int(y)), 3 * scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
