"""Export a pose, segmentation, detection or multi-task model to ONNX or OpenVINO IR, checked against
eager PyTorch.

    hrseg export pose_hrnet_w32 --weights pose_hrnet_w32_256x192.pth --format onnx --dynamic-batch
    hrseg export configs/seg/hrnetv2_w48_cityscapes_1024x512 --weights hrnet_w48_cityscapes.pth \\
        --format openvino --dtype bfloat16 --out exports/seg_w48.xml
    hrseg export configs/det/mini_fasterrcnn.py --weights work_dirs/mini_fasterrcnn/best.pth --format onnx
    hrseg export configs/multi/synthetic_mini.py --weights work_dirs/multi_synthetic_mini/best.pth --format openvino
    hrseg export configs/det/mini_maskrcnn.py --weights W.pth --score-thr 0.3   # only detections scoring >= 0.3
The file holds the BatchNorm-folded graph (segmentation: the logits before the final resize; a
Faster / Mask R-CNN: one image of any size in, its boxes, labels, scores (and masks) out, resize,
proposals and NMS inside; the multi-task model adds its keypoints and class map) and records the
model name, input size, mean/std and class / keypoint tables. Before it is moved into place it runs on a real photograph of ../shared/data (or
--check-image) against eager PyTorch; a result outside the tolerance is an error with the
numbers, and no file is left behind.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hrseg.cli import parse_size
from hrseg.errors import ConfigError
from hrseg.export import export_model
from hrseg.inference.detection import check_threshold
from hrseg.tasks.detection import with_score_floor
from hrseg.tasks.export_source import model_for_export

SUFFIX = {"onnx": ".onnx", "openvino": ".xml"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model name (hrseg.list_models()) or a pose / segmentation / detection config file")
    ap.add_argument("--weights", default=None, help="hrseg or official checkpoint (without: initial weights)")
    ap.add_argument("--format", choices=sorted(SUFFIX), default="onnx")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="bfloat16: OpenVINO only (compiled in bfloat16 on CPUs that have it)")
    ap.add_argument("--dynamic-batch", action="store_true", help="leave the batch axis free (default: batch 1)")
    ap.add_argument("--fixed-size", action="store_true",
                    help="segmentation: fix H and W to --input-size (default: free, so whole images of any size run)")
    ap.add_argument("--input-size", type=parse_size, default=None,
                    help="HxW (default: the config's pose crop / segmentation test crop; a detector's trace size, 480x640)")
    ap.add_argument("--check-image", default=None, help="photograph for the self-check (default: from ../shared/data)")
    ap.add_argument("--score-thr", type=float, default=None,
                    help="detectors and the multi-task model: the graph returns only detections scoring at least this "
                    "(masks and keypoints for those alone; default: the model's own threshold, 0.05, as evaluation needs)")
    ap.add_argument("--out", default=None, help="output file (default: exports/<model>_<HxW>_<dtype>.onnx|.xml)")
    args = ap.parse_args(argv)
    model, name, size = model_for_export(args.model, args.weights)
    if args.score_thr is not None:
        if getattr(model, "roi_heads", None) is None:
            raise ConfigError(f"--score-thr: {name} is not an R-CNN detector or the multi-task model")
        check_threshold(args.score_thr)
        model = with_score_floor(model, args.score_thr)
    size = args.input_size or size
    out = Path(args.out) if args.out else Path("exports") / f"{name}_{size[0]}x{size[1]}_{args.dtype}{SUFFIX[args.format]}"
    if out.suffix.lower() != SUFFIX[args.format]:
        out = out.with_suffix(SUFFIX[args.format])
    report = export_model(model, out, name, size, dtype=args.dtype, dynamic_batch=args.dynamic_batch,
                          dynamic_size=False if args.fixed_size else None, check_image=args.check_image)
    print(report.check.summary())
    print(f"wrote {', '.join(map(str, report.files))} in {report.seconds:.1f} s")
    return 0
