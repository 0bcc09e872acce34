"""The self-check of an exported file: the same real photograph through eager PyTorch and
through the file, compared on the raw outputs and on what users get from them (keypoints, label
maps, detections). With the task's predictor (:func:`check_through`, what ``hrseg export``
runs), every forward the predictor makes on the photograph is compared (its flip test, windows,
scales); without, the graph alone on the predictor's crops or the resized photograph.

Tolerances (:data:`TOLERANCES`): float32 files must match eager to float rounding (largest
difference within 1e-3 of the output's range); bfloat16 ones to bfloat16's 8-bit mantissa
(relative L2 difference within 5e-2); int8 ones (quantised, :mod:`hrseg.export.quantize`) within 0.2.
Decoded results must agree as well: keypoints within one heatmap cell (in image pixels) for 99%
(float32) / 80% (bfloat16, int8) of them, the label map on 99.9% / 95% / 90% of the pixels; a
float32 keypoint or pixel whose eager scores tie (the exported choice scores within the raw
tolerance of eager's best: flat heatmaps of untrained weights) agrees either way (int8: a choice
within 2% of the output's range). A detector's outputs come in its own order (NMS), so each eager
detection (scoring 0.05 or more, on both sides) is matched to the exported one of its label with
the highest IoU: 99% / 80% of them must match (IoU >= 0.9, or every corner within one pixel),
the raw differences are those of the matched boxes and scores, and a Mask R-CNN's matched masks
must agree on 99.9% / 95% of their pixels.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hrseg.errors import HrsegError
from hrseg.utils.image import normalize, to_tensor
from hrseg.utils.image_io import read_image
from hrseg.codecs.msra import HeatmapCodec
from hrseg.data.synthetic.scenes import render_sample
from hrseg.inference.predictor import Predictor, RunnerStandIn
from hrseg.inference.top_down import crop_people
from hrseg.models.segmentation import class_indices


TOLERANCES: dict[str, dict[str, float]] = {
    "float32": dict(max_rel=1e-3, keypoints=0.99, labels=0.999, boxes=0.99),
    "bfloat16": dict(l2_rel=5e-2, keypoints=0.8, labels=0.95, boxes=0.8),
    # int8: ranges calibrated, so differences scale with the output's range; a choice within 2% of it is a tie
    "int8": dict(l2_rel=0.2, keypoints=0.8, labels=0.9, boxes=0.8, tie=0.02),
}
MATCH_IOU = 0.9  # a detection's exported twin overlaps it at least this much ...
MATCH_PX = 1.0  # ... or has every corner within this many pixels (thin boxes: IoU is fragile)
MIN_SCORE = 0.05  # detections compared: those scoring this (torchvision's default threshold) or more
# Scores this close are a tie: which of them NMS keeps, and which make the cap of detections per
# image, follows the order of the sort, which the backends' float rounding (about 3e-8) decides
SCORE_TIE = 1e-5
# The decoded agreement each task is judged on, and its key of TOLERANCES.
AGREEMENT = {"pose": ("keypoints within one cell", "keypoints"), "segmentation": ("labels agreement", "labels"),
             "detection": ("boxes matched", "boxes")}
# Real photographs of ``../shared/data`` (the project's sample data), one per task.
CHECK_IMAGES = {"pose": "images/astronaut.png",
                "segmentation": "seg_mini/cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png",
                "detection": "coco_mini/images/000000000785.jpg"}


CHECK_SCENE_SIZE = (480, 640)  # (H, W) of the synthetic scene checked where the photographs are not


class ExportCheckError(HrsegError):
    """An exported file whose outputs differ from eager PyTorch beyond the tolerance."""


@dataclass
class CheckReport:
    backend: str
    image: str
    batch: int
    dtype: str
    max_abs: float
    max_rel: float
    l2_rel: float
    decoded: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    forwards: int = 0  # through the task's predictor: the forwards it made on the photograph (0: the graph alone)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        decoded = ", ".join(f"{k} {v:.4g}" for k, v in self.decoded.items())
        verdict = "passed" if self.ok else "FAILED: " + "; ".join(self.failures)
        how = f"through the predictor, {self.forwards} forward(s)" if self.forwards else f"batch {self.batch}"
        return (f"self-check on {Path(self.image).name} ({self.backend}, {self.dtype}, {how}) against "
                f"eager PyTorch: max abs diff {self.max_abs:.3g}, max rel {self.max_rel:.3g}, "
                f"L2 rel {self.l2_rel:.3g}; {decoded} -> {verdict}")


def default_check_image(task: str) -> Path | None:
    """The real photograph the self-check uses: ``$HRSEG_SHARED/data/...``, by default the
    ``shared`` folder beside a checkout; None where it is not (an installed hrseg)."""
    shared = Path(os.environ.get("HRSEG_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    path = shared / "data" / CHECK_IMAGES[task]
    return path if path.is_file() else None


def check_image_of(task: str, image: str | os.PathLike | np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The RGB image the self-check runs on, and its name: ``image`` (a path or an array), else
    the task's photograph of :func:`default_check_image`, else a synthetic scene of figures and
    objects (:mod:`hrseg.data.synthetic.scenes`, seeded: the same every time), so that an
    installed hrseg, without the shared data, still checks every export."""
    if isinstance(image, np.ndarray):
        return image, "the given image"
    path = Path(image) if image is not None else default_check_image(task)
    if path is not None:
        return read_image(path), str(path)
    bgr = render_sample(np.random.default_rng(0), CHECK_SCENE_SIZE)[0]
    h, w = CHECK_SCENE_SIZE
    return np.ascontiguousarray(bgr[..., ::-1]), f"a synthetic scene ({h}x{w}, seed 0)"


def check_boxes(image: np.ndarray, batch: int) -> list[list[float]]:
    """The people of the pose check, ``[x, y, w, h, score]``: the whole photograph, then (batch 2)
    its middle, two different people-sized boxes (no person detector is looked for)."""
    ih, iw = image.shape[:2]
    return [[0.0, 0.0, float(iw), float(ih), 1.0], [iw * 0.25, ih * 0.1, iw * 0.5, ih * 0.8, 1.0]][:batch]


def _pose_inputs(image: np.ndarray, meta: Mapping[str, Any], batch: int
                 ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, HeatmapCodec]:
    """Person crops made as the pose predictor makes them (:func:`~hrseg.inference.top_down.crop_people`):
    the whole photograph, then (batch 2) its middle, two different people-sized boxes."""
    h, w = meta["input_size"]
    boxes = check_boxes(image, batch)
    codec = HeatmapCodec(input_size=(int(h), int(w)), heatmap_size=(int(h) // 4, int(w) // 4))
    crops, centers, scales = crop_people(image, boxes, codec)[:3]
    return crops, centers, scales, codec


def _near_ties(ref: torch.Tensor, chosen: torch.Tensor, dim: int, tie: float) -> np.ndarray:
    """Where eager's own score at the exported choice is within ``tie`` of eager's best: a near
    tie (flat heatmaps, logits of an untrained model), where either answer is eager's to rounding."""
    best = ref.amax(dim)
    at_choice = ref.gather(dim, chosen.unsqueeze(dim)).squeeze(dim)
    return ((best - at_choice) <= tie).numpy()


def _compare_pose(ref: torch.Tensor, out: torch.Tensor, centers: np.ndarray, scales: np.ndarray,
                  codec: HeatmapCodec, tie: float) -> dict[str, float]:
    """Keypoints decoded by the predictor's codec from both sides' heatmaps."""
    a, _ = codec.decode(ref, centers, scales)
    b, _ = codec.decode(out, centers, scales)
    dist = np.linalg.norm(a - b, axis=-1)  # (N, K) pixels
    cell = (scales[:, 0] * 200.0 / ref.shape[-1])[:, None]  # one heatmap pixel in image pixels
    flat_ref, flat_out = ref.flatten(2), out.flatten(2)
    agree = (dist <= cell) | _near_ties(flat_ref, flat_out.argmax(-1), -1, tie)
    return {"keypoints max px": float(dist.max()), "keypoints within one cell": float(agree.mean())}


def _compare_labels(ref: torch.Tensor, out: torch.Tensor, size: tuple[int, int], align: bool,
                    tie: float) -> dict[str, float]:
    up = [F.interpolate(t.float(), size=size, mode="bilinear", align_corners=align) for t in (ref, out)]
    return {"labels agreement": float(_labels_agree(*up, tie).mean())}


def _labels_agree(ref: torch.Tensor, out: torch.Tensor, tie: float) -> np.ndarray:
    """Per pixel of logits (N, C, H, W): the exported file's class is eager's, or a near tie."""
    chosen = class_indices(out, 1)
    return (class_indices(ref, 1) == chosen).numpy() | _near_ties(ref, chosen, 1, tie)


def _tied(d: Mapping[str, torch.Tensor], cap: int | None) -> torch.Tensor:
    """The detections whose presence the order of equal scores decides (:data:`SCORE_TIE`): one
    scoring as another of its label (NMS keeps the first), or, at the ``cap`` of detections an
    image, as the last one kept (the rest of the tie was cut)."""
    s, labels = d["scores"], d["labels"]
    tied = (((s[:, None] - s[None, :]).abs() <= SCORE_TIE) & (labels[:, None] == labels[None, :])).sum(1) > 1
    if cap and len(s) >= cap:
        tied |= s - s.min() <= SCORE_TIE
    return tied


def _compare_detections(ref: Mapping[str, torch.Tensor], out: Mapping[str, torch.Tensor], cap: int | None = None
                        ) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """Each eager detection matched to the exported one of its label with the highest IoU: the
    decoded agreement, and the matched (box, score) rows of both sides for the raw differences.
    Detections tied in score (:func:`_tied`; ``cap``: the graph's detections an image) may differ
    by order alone: they are counted apart and not required to match (an undertrained model
    scores nearly everything alike)."""
    from torchvision.ops import box_iou

    decoded: dict[str, float] = {}
    if "semantic" in ref:  # the multi-task model's class map
        decoded["semantic agreement"] = float((ref["semantic"] == out["semantic"]).float().mean())
    ref, out = ({k: v[d["scores"] >= MIN_SCORE] for k, v in d.items() if k != "semantic"} for d in (ref, out))
    n = len(ref["boxes"])
    same_label = ref["labels"][:, None] == out["labels"][None, :]
    iou = torch.nan_to_num(box_iou(ref["boxes"], out["boxes"]), nan=0.0) * same_label  # NaN: two empty boxes
    best, j = iou.max(1) if iou.numel() else (torch.zeros(n), torch.zeros(n, dtype=torch.long))
    # a box clipped to nothing at the image's edge (FCOS keeps them) overlaps none: its nearest twin instead
    empty = (ref["boxes"][:, 2:] <= ref["boxes"][:, :2]).any(1)
    if iou.numel() and empty.any():
        gap = (ref["boxes"][:, None] - out["boxes"][None]).abs().amax(-1).masked_fill(~same_label, float("inf"))
        j = torch.where(empty, gap.argmin(1), j)
    near = (ref["boxes"] - out["boxes"][j]).abs().amax(1) <= MATCH_PX if iou.numel() else best > 0
    matched = (best >= MATCH_IOU) | (near & ((best > 0) | empty))
    decided = ~_tied(ref, cap)
    rows = [torch.cat([d["boxes"], d["scores"][:, None]], 1) for d in (ref, out)]
    a, b = rows[0][matched], rows[1][j[matched]]
    share = float(matched[decided].float().mean()) if decided.any() else float(len(out["boxes"]) == n)
    if not decided.all():
        decoded["tied in score (order-dependent)"] = float((~decided).sum())
    decoded.update({"detections": float(n), "exported detections": float(len(out["boxes"])),
                    "boxes matched": share if n else float(len(out["boxes"]) == 0),
                    "max score diff": float((a[:, 4] - b[:, 4]).abs().max()) if len(a) else 0.0})
    if "masks" in ref and matched.any():
        m = [d["masks"][k] >= 0.5 for d, k in ((ref, matched), (out, j[matched]))]
        decoded["masks agreement"] = float((m[0] == m[1]).float().mean())
    if "keypoints" in ref and matched.any():
        # the people eager PyTorch gave keypoints to (a predictor may skip low scores; the graph never does)
        k_ref, k_out = ref["keypoints"][matched], out["keypoints"][j[matched]]
        people = k_ref[..., 2].amax(1) > 0
        if people.any():
            near = (k_ref[people, :, :2] - k_out[people, :, :2]).norm(dim=-1) <= MATCH_PX
            decoded["keypoints within 1 px"] = float(near.float().mean())
    return decoded, a, b


def _run_both(model: nn.Module, runner: nn.Module, x: Any) -> tuple[Any, Any]:
    """Eager ``model`` (put back in its mode after) and ``runner`` on the same input."""
    was_training = model.training
    try:
        ref = model.eval()(x)
    finally:
        model.train(was_training)
    return ref, runner(x)


@torch.no_grad()
def self_check(model: nn.Module, runner: nn.Module, meta: Mapping[str, Any],
               image_path: str | os.PathLike | None = None, backend: str = "?",
               predictor: Predictor | None = None) -> CheckReport:
    """Compare ``runner`` (the exported file) with eager ``model`` on a real photograph: through
    ``predictor`` (the task's, :func:`check_through`) when given, else on the graph alone (crops
    made as the pose predictor makes them, a resized photograph, one detector input)."""
    image, image_name = check_image_of(meta["task"], image_path)
    if predictor is not None:
        return check_through(predictor, model, runner, meta, image, image_name, backend)
    batch = 2  # a fixed-batch graph runs them one at a time (Runner.forward)
    decoded: dict[str, float] = {}
    if meta["task"] == "detection":
        ref, out = (r[0] for r in _run_both(model, runner, [to_tensor(image)]))
        decoded, ref, out = _compare_detections(ref, out, meta.get("detections_per_img"))
    else:
        if meta["task"] == "pose":
            x, centers, scales, codec = _pose_inputs(image, meta, batch)
        else:
            h, w = meta["input_size"]
            x = normalize(cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR))[None]
            x = torch.cat([x, x.flip(-1)])[:batch]
        ref, out = _same_shape(*(t.float() for t in _run_both(model, runner, x)))
        tie = _tie(ref, meta)
        if meta["task"] == "pose":
            decoded = _compare_pose(ref, out, centers, scales, codec, tie)
        else:
            decoded = _compare_labels(ref, out, tuple(meta["input_size"]), bool(meta.get("align_corners")), tie)
    return _judged(ref, out, decoded, meta, backend, image_name, batch)


class Recorder(RunnerStandIn):
    """Stands in for a runner in the task's predictor and keeps what each forward returned, so
    that the self-check compares the eager model and the exported file on the very inputs the
    predictor gives them (people's crops and their mirror images, windows, scales, one image)."""

    def __init__(self, runner: Any) -> None:
        super().__init__(runner)
        self.outputs: list[Any] = []

    def __call__(self, inputs: Any) -> Any:
        out = self.runner(inputs)
        self.outputs.append(out)
        return out


def check_through(predictor: Predictor, model: nn.Module, runner: Any, meta: Mapping[str, Any],
                  image: np.ndarray, image_name: str, backend: str = "?") -> CheckReport:
    """The self-check through the task's one predictor: it predicts the photograph on eager
    ``model`` and on ``runner`` (the exported file); every forward's outputs are compared as the
    graph check compares them (raw differences; pose: each heatmap's peak within one cell, or a
    near tie; segmentation: the labels at the logits' resolution; detection: matched boxes), and
    the number of results (people, boxes, classes present) must agree."""
    eager, exported = Recorder(model.eval()), Recorder(runner)
    results = [predictor.with_runner(r)(image) for r in (eager, exported)]
    if len(eager.outputs) != len(exported.outputs) or not eager.outputs:
        raise ExportCheckError(f"self-check: the predictor ran {len(eager.outputs)} forward(s) eagerly and "
                               f"{len(exported.outputs)} on the file")
    decoded = {"results": float(predictor.count(results[0])), "exported results": float(predictor.count(results[1]))}
    if meta["task"] == "detection":
        found, ref, out = _compare_detections(*(r.outputs[0][0] for r in (eager, exported)),
                                              meta.get("detections_per_img"))
        decoded.update(found)
    else:
        pairs = [_same_shape(a.float(), b.float()) for a, b in zip(eager.outputs, exported.outputs)]
        ref, out = (torch.cat([t.flatten() for t in ts]) for ts in zip(*pairs))  # every forward's outputs
        tie = _tie(ref, meta)
        if meta["task"] == "pose":
            agree = [_peaks_agree(a, b, tie) for a, b in pairs]
            decoded["keypoints within one cell"] = float(torch.cat(agree).float().mean())
        else:
            agree = [_labels_agree(a, b, tie) for a, b in pairs]
            decoded["labels agreement"] = float(np.mean(np.concatenate([x.ravel() for x in agree])))
    report = _judged(ref, out, decoded, meta, backend, image_name, len(eager.outputs[0]))
    report.forwards = len(eager.outputs)
    if decoded["results"] != decoded["exported results"]:
        report.failures.append(f"{decoded['results']:.0f} results eagerly, {decoded['exported results']:.0f} "
                               "through the file")
    return report


def _peaks_agree(ref: torch.Tensor, out: torch.Tensor, tie: float) -> torch.Tensor:
    """Per (person, keypoint): the exported heatmap's peak within one cell of eager's, or a near tie."""
    width = ref.shape[-1]
    best, chosen = ref.flatten(2).argmax(-1), out.flatten(2).argmax(-1)
    near = ((best // width - chosen // width).abs() <= 1) & ((best % width - chosen % width).abs() <= 1)
    return near | torch.from_numpy(_near_ties(ref.flatten(2), chosen, -1, tie))


def _same_shape(ref: torch.Tensor, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if out.shape != ref.shape:
        raise ExportCheckError(f"self-check: the exported output has shape {tuple(out.shape)}, "
                               f"eager {tuple(ref.shape)}")
    return ref, out


def _tie(ref: torch.Tensor, meta: Mapping[str, Any]) -> float:
    """A near tie: within the raw tolerance of this dtype (of the output's range; int8: its own)."""
    tol = TOLERANCES[meta["dtype"]]
    return tol.get("tie", tol.get("max_rel", 0.0)) * float(ref.abs().max())


def _judged(ref: torch.Tensor, out: torch.Tensor, decoded: dict[str, float], meta: Mapping[str, Any],
            backend: str, image_name: str, batch: int) -> CheckReport:
    """The report of raw outputs ``ref`` (eager) and ``out`` (the file) and the decoded agreement,
    with the failures against :data:`TOLERANCES`."""
    diff = (out - ref).abs()
    scale = ref.abs().max().clamp_min(1e-12) if ref.numel() else torch.tensor(1.0)
    report = CheckReport(backend=backend, image=image_name, batch=batch, dtype=meta["dtype"],
                         max_abs=float(diff.max()) if diff.numel() else 0.0,
                         max_rel=float(diff.max() / scale) if diff.numel() else 0.0,
                         l2_rel=float((out - ref).norm() / ref.norm().clamp_min(1e-12)) if diff.numel() else 0.0,
                         decoded=decoded)
    tol = TOLERANCES[meta["dtype"]]
    for key, limit in tol.items():
        if key in ("max_rel", "l2_rel") and getattr(report, key) > limit:
            report.failures.append(f"{key} {getattr(report, key):.3g} > {limit}")
    name, tol_key = AGREEMENT[meta["task"]]
    for key, need in ((name, tol[tol_key]), ("masks agreement", tol["labels"]),
                      ("keypoints within 1 px", tol["keypoints"]), ("semantic agreement", tol["labels"])):
        if key in decoded and decoded[key] < need:
            report.failures.append(f"{key} {decoded[key]:.4f} < {need}")
    return report
