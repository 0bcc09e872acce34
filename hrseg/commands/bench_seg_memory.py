"""Peak memory of sliding-window segmentation as the photograph grows.

    hrseg bench-seg-memory                         # HxW 750x1000, 1500x2000, 3000x4000 (4:3 landscape)
    hrseg bench-seg-memory --sizes 3000x4000 --model seg_hrnetv2_w48 --crop-size 512x1024
    hrseg bench-seg-memory --image photo.jpg       # a real photograph, resized to each size
    python tools/benchmark_seg_memory.py ...       # the same command, from a clone

Each size runs in a fresh process (peak RSS is a high-water mark). Reported per size: the peak
resident memory above the process's state before inference (model built, image in memory), the
bytes of the float32 score accumulator (K x H x W, plus the H x W window count) and their
difference, which is what the rest of the pipeline costs. The baseline is taken after one window
has run (its activations are in the high-water mark), so the rest is what the other windows of a
forward add (``--window-batch``, the test default ``test.window_batch``) and the label map: it
stops growing once an image has a full batch of windows.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from hrseg.cli import CommandParser, parse_size, positive_int
import hrseg
from hrseg.utils.image_io import read_image
from hrseg.inference.optimize import inference_model
from hrseg.inference.segmentation import SEG_TEST_DEFAULTS, predict_labels

# The photograph sizes (H, W) measured by default: the docstring's first example names them.
DEFAULT_SIZES = ((750, 1000), (1500, 2000), (3000, 4000))


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(args: argparse.Namespace) -> dict:
    import cv2
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    h, w = args.size
    if args.image:
        image = cv2.resize(read_image(args.image), (w, h), interpolation=cv2.INTER_AREA)
    else:
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    model = inference_model(hrseg.build_model(args.model, num_classes=args.num_classes), {})
    cfg = dict(mode="slide", crop_size=list(args.crop_size), optimize=True, window_batch=args.window_batch)
    # warm up on one window so that allocator pools and one-time buffers are in the baseline
    predict_labels(model, image[: args.crop_size[0], : args.crop_size[1]].copy(), cfg)
    before = _rss_mb()
    start = time.perf_counter()
    labels = predict_labels(model, image, cfg)
    seconds = time.perf_counter() - start
    peak = _rss_mb() - before
    scores_mb = (args.num_classes + 1) * h * w * 4 / 2**20
    return {"size": f"{h}x{w}", "model": args.model, "crop": f"{args.crop_size[0]}x{args.crop_size[1]}",
            "peak_above_baseline_mb": round(peak, 1), "scores_mb": round(scores_mb, 1),
            "rest_mb": round(peak - scores_mb, 1), "seconds": round(seconds, 1),
            "labels_shape": list(labels.shape)}


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=parse_size, nargs="+", default=list(DEFAULT_SIZES),
                    help=f"HxW sizes (default {' '.join(f'{h}x{w}' for h, w in DEFAULT_SIZES)})")
    ap.add_argument("--model", default="seg_hrnetv2_w18_small_v1")
    ap.add_argument("--num-classes", type=positive_int, default=19)
    ap.add_argument("--crop-size", type=parse_size, default=(512, 512), help="sliding window HxW")
    ap.add_argument("--image", default=None, help="a photograph to resize to each size (default: noise)")
    ap.add_argument("--threads", type=positive_int, default=1)
    ap.add_argument("--window-batch", type=positive_int, default=SEG_TEST_DEFAULTS["window_batch"],
                    help=f"windows per forward (default {SEG_TEST_DEFAULTS['window_batch']}, test.window_batch's)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", type=parse_size, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        args.size = args.child
        print(json.dumps(child(args)))
        return 0
    rows = []
    for h, w in args.sizes:
        cmd = [sys.executable, "-m", "hrseg", "bench-seg-memory", "--child", f"{h}x{w}", "--model", args.model,
               "--num-classes", str(args.num_classes), "--crop-size", f"{args.crop_size[0]}x{args.crop_size[1]}",
               "--threads", str(args.threads), "--window-batch", str(args.window_batch)] + (
                   ["--image", args.image] if args.image else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{args.model}, sliding window {args.crop_size[0]}x{args.crop_size[1]}, {args.window_batch} a forward, "
          f"{args.num_classes} classes, {args.threads} thread(s)")
    print("| image | peak above baseline (MB) | score accumulator (MB) | rest (MB) | seconds |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['peak_above_baseline_mb']} | {r['scores_mb']} | {r['rest_mb']} | {r['seconds']} |")
    return 0

