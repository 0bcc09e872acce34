"""Drawing detections: one colour per class, instance masks as translucent fills with outlines,
boxes with a filled label of the class name and score."""
from __future__ import annotations

import colorsys
from typing import Any, Mapping, Sequence

import cv2
import numpy as np
from hrseg.utils.masks import decode_rle


def class_colour(label: int) -> tuple[int, int, int]:
    """A stable, distinct RGB colour for a class (golden-ratio hues)."""
    h = (label * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def colour_of(det: Mapping[str, Any]) -> tuple[int, int, int]:
    """A detection's colour: its track's when it has an id (``track_id``, video), else its class's."""
    track = det.get("track_id")
    return class_colour(7 * int(track) + 3) if track is not None else class_colour(int(det.get("label", 1)))


def draw_boxes(image: np.ndarray, detections: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """A copy of the RGB ``image`` with each detection's box and a ``name score`` label.

    ``detections`` as ``infer`` writes them: ``{'bbox': [x1, y1, x2, y2], 'label': int,
    'name': str, 'score': float}`` and, from a mask model, ``'segmentation'`` (COCO RLE), drawn
    by :func:`draw_masks` under the boxes; lowest score first, so the best ones end up on top.
    A tracked detection (``track_id``) is drawn in its track's colour, its id in the label.
    """
    canvas = draw_masks(image, detections)
    h, w = canvas.shape[:2]
    thick = max(1, round(max(h, w) / 500))
    font_scale = max(0.4, max(h, w) / 1600)
    for det in sorted(detections, key=lambda d: d["score"]):
        x1, y1, x2, y2 = (int(round(v)) for v in det["bbox"])
        colour = colour_of(det)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thick, cv2.LINE_AA)
        track = f"#{det['track_id']} " if det.get("track_id") is not None else ""
        text = f"{track}{det['name']} {det['score']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1  # inside the box at the top edge
        x = min(max(x1, 0), max(w - tw - 2, 0))
        cv2.rectangle(canvas, (x, top), (x + tw + 2, top + th + base + 2), colour, -1)
        luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(canvas, text, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink, 1, cv2.LINE_AA)
    return canvas


def draw_masks(image: np.ndarray, detections: Sequence[Mapping[str, Any]], alpha: float = 0.45) -> np.ndarray:
    """A copy of the RGB ``image`` with each detection's ``segmentation`` (COCO RLE at the
    image's size) filled in its class colour at ``alpha`` and outlined; lowest score first."""
    canvas = image.copy()
    thick = max(1, round(max(canvas.shape[:2]) / 400))
    for det in sorted(detections, key=lambda d: d["score"]):
        if "segmentation" not in det:
            continue
        mask = decode_rle(det["segmentation"]).astype(bool)
        colour = np.array(colour_of(det), np.float32)
        canvas[mask] = (canvas[mask].astype(np.float32) * (1 - alpha) + colour * alpha).round().astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in colour), thick, cv2.LINE_AA)
    return canvas
