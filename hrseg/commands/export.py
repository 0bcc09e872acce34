"""Export a pose, segmentation, detection or multi-task model to ONNX or OpenVINO IR, checked against eager PyTorch.

    hrseg export pose_hrnet_w32 --weights pose_hrnet_w32_256x192.pth --format onnx --dynamic-batch
    hrseg export configs/seg/hrnetv2_w48_cityscapes_1024x512 --weights hrnet_w48_cityscapes.pth \\
        --format openvino --dtype bfloat16 --out exports/seg_w48.xml
    hrseg export configs/det/mini_fasterrcnn.py --weights work_dirs/mini_fasterrcnn/best.pth --format onnx
    hrseg export configs/pose/synthetic_mini.py --weights work_dirs/pose_synthetic_mini/best.pth --dtype int8
    hrseg export configs/multi/synthetic_mini.py --weights work_dirs/multi_synthetic_mini/best.pth --format openvino
    hrseg export configs/det/mini_maskrcnn.py --weights W.pth --score-thr 0.3   # only detections scoring >= 0.3
The file holds the BatchNorm-folded graph (segmentation: the logits before the final resize;
an R-CNN or FCOS detector: one image of any size in, its boxes, labels, scores (and masks) out, resize,
proposals and NMS inside; the multi-task model adds its keypoints and class map) and records the
model name, input size, mean/std and class / keypoint tables. Before it is moved into place it runs on a real photograph of ../shared/data (or
--check-image) against eager PyTorch; a result outside the tolerance is an error with the
numbers, and no file is left behind.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from hrseg.cli import CommandParser, parse_size, positive_int
from hrseg.errors import ConfigError
from hrseg.export import EXPORT_DTYPES, export_model
from hrseg.export.quantize import CALIBRATION_SAMPLES
from hrseg.inference.detection import check_threshold
from hrseg.models.detection import detection_settings
from hrseg.tasks.detection import with_score_floor
from hrseg.tasks.export_source import export_source

SUFFIX = {"onnx": ".onnx", "openvino": ".xml"}


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model name (hrseg.list_models()) or a pose / segmentation / detection config file")
    ap.add_argument("--weights", default=None, help="hrseg or official checkpoint (without: initial weights)")
    ap.add_argument("--format", choices=sorted(SUFFIX), default=None,
                    help="default: from --out's suffix (.onnx, .xml), else onnx")
    ap.add_argument("--dtype", choices=list(EXPORT_DTYPES), default="float32",
                    help="bfloat16: OpenVINO only (compiled in bfloat16 on CPUs that have it); int8: quantised on "
                    "calibration inputs (either format; a detector's backbone, its heads float32)")
    ap.add_argument("--calibration", default=None, metavar="PHOTOS",
                    help="int8: a folder of photographs to calibrate on, through the predictor (default: the "
                    "config's val split: pose's crops of its people, the others' images)")
    ap.add_argument("--calibration-samples", type=positive_int, default=CALIBRATION_SAMPLES, metavar="N",
                    help=f"int8: the network inputs calibrated on, at most (default {CALIBRATION_SAMPLES})")
    ap.add_argument("--dynamic-batch", action="store_true", help="leave the batch axis free (default: batch 1)")
    ap.add_argument("--fixed-size", action="store_true",
                    help="segmentation: fix H and W to --input-size (default: free, so whole images of any size run)")
    ap.add_argument("--input-size", type=parse_size, default=None,
                    help="HxW (default: the config's pose crop / segmentation test crop; a detector's trace size, 480x640)")
    ap.add_argument("--check-image", default=None,
                    help="photograph for the self-check (default: from ../shared/data, else a synthetic scene)")
    ap.add_argument("--score-thr", type=float, default=None,
                    help="detectors and the multi-task model: the graph returns only detections scoring at least this "
                    "(masks and keypoints for those alone; default: the model's own threshold, 0.05, as evaluation needs)")
    ap.add_argument("--out", default=None, help="output file, or a folder for the default name "
                    "(default: exports/<model>_<HxW>_<dtype>[_thr<T>].onnx|.xml)")
    args = ap.parse_args(argv)
    source = export_source(args.model, args.weights)
    if args.dynamic_batch and source.task.name in ("det", "multi"):
        ap.error("--dynamic-batch: a detector's graph takes one image a call (torchvision's convention), whatever "
                 "the batch")
    if args.fixed_size and source.task.name != "seg":
        ap.error(f"--fixed-size: only a segmentation graph has a free size; a {source.task.name} model's is fixed "
                 f"already (pose: the crop, --input-size; a detector's resizes any image itself)")
    model, name, size = source.model, source.name, source.input_size
    if args.score_thr is not None:
        if not hasattr(detection_settings(model), "score_thresh"):
            raise ConfigError(f"--score-thr: {name} is not a detector or the multi-task model")
        check_threshold(args.score_thr)
        model = with_score_floor(model, args.score_thr)
    size = args.input_size or size
    out = output_path(args.out, args.format, f"{name}_{size[0]}x{size[1]}_{args.dtype}", args.score_thr)
    if args.dtype != "int8" and args.calibration is not None:
        ap.error("--calibration: only an int8 export is calibrated")
    calibration = (source.calibration_inputs(model, size, not args.fixed_size, args.calibration,
                                             args.calibration_samples) if args.dtype == "int8" else None)
    predictor = source.check_predictor(model, size, dynamic_size=not args.fixed_size)
    report = export_model(model, out, name, size, dtype=args.dtype, dynamic_batch=args.dynamic_batch,
                          dynamic_size=False if args.fixed_size else None, check_image=args.check_image,
                          predictor=predictor, config=source.run_config(size, not args.fixed_size),
                          calibration=calibration)
    print(f"wrote {', '.join(map(str, report.files))} in {report.seconds:.1f} s")
    return 0


def output_path(out: str | None, fmt: str | None, stem: str, score_thr: float | None = None) -> Path:
    """Where the export goes: ``out`` (a file: its suffix names the format, ``.onnx`` or ``.xml``;
    a folder, existing or ending in ``/``, or nothing: ``stem`` in it, by default in ``exports/``,
    with ``_thr<score_thr>`` added when a score threshold is given, so that it does not replace
    the export without one) in ``fmt`` (default: the suffix's, else onnx); a suffix of another
    format than ``fmt``, or of neither, is an error."""
    path = Path(out) if out else Path("exports")
    formats = {suffix: name for name, suffix in SUFFIX.items()}
    if out is None or path.is_dir() or out.endswith(("/", os.sep)):  # a folder (made if missing)
        thr = "" if score_thr is None else f"_thr{score_thr:g}"
        return path / f"{stem}{thr}{SUFFIX[fmt or 'onnx']}"
    named = formats.get(path.suffix.lower())
    if named is None:
        raise ConfigError(f"--out {out}: an export is a .onnx file or an OpenVINO .xml (with its .bin)")
    if fmt is not None and fmt != named:
        raise ConfigError(f"--out {out} names the {named} format but --format is {fmt}")
    return path
