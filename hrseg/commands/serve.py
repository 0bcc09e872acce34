"""HRNet over HTTP: pose, segmentation and detection, with a page to try them at /.

    hrseg serve --pose pose_hrnet_w32_256x192.pth
    hrseg serve --pose work_dirs/synthetic_mini/best.pth --seg seg.pth --det det.pth --port 8080
    hrseg serve --pose pose.pth --pose-det-weights det.pth --det-score-thr 0.5   # your person detector
    hrseg serve --pose pose_hrnet_w32            # a model name: random weights, for trying it out
Each of --pose / --seg / --det takes a checkpoint (hrseg or official) or a model name; a file that
records no model takes its config as the tools do (--pose-config ...). Pose runs the person
detector `hrseg infer pose` runs (--pose-det-weights, the same default and fallback), and every
pose answer names what gave its boxes ("detector"). The models
are loaded once, on the tools' --backend (default auto: the fastest installed, logged; a detector
eager; onnxruntime / openvino export at start-up, once per weights, then read the export cache)
and --dtype (pose); requests are micro-batched (--max-batch, --max-wait-ms) behind a bounded
queue (--max-queue; past it: 429 + Retry-After). Binds 127.0.0.1 unless --host says otherwise.
Needs the serve extra: pip install 'hrseg[serve]' (in a clone: pip install -e '.[serve]').
API and examples: docs/serve.md.
"""
from __future__ import annotations

import argparse

from hrseg.cli import CommandParser, fraction, port_number, positive_int
from hrseg.commands import add_backend_arg
from hrseg.serve.models import DTYPES
from hrseg.serve.server import Limits, listen, load_models, require_serve_extra, serve
from hrseg.tasks.person_boxes import DEFAULT_PERSON_DETECTOR


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for task, what in (("pose", "pose"), ("seg", "segmentation"), ("det", "detection"), ("multi", "multi-task")):
        ap.add_argument(f"--{task}", default=None, metavar="NAME_OR_FILE", help=f"{what} checkpoint or model name")
        ap.add_argument(f"--{task}-config", default=None, help=f"the {what} config, for weights that record none "
                        "(an official file under another name): the tools' --config")
        ap.add_argument(f"--{task}-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help=f"{what} config overrides, e.g. test.flip=False")
    ap.add_argument("--pose-det-weights", default=None, help="the person detector in front of pose, as "
                    f"`hrseg infer pose --det-weights` (default: {DEFAULT_PERSON_DETECTOR}; without it, the "
                    "whole image, with a warning)")
    ap.add_argument("--det-score-thr", type=fraction, default=0.5, help="keep person boxes scoring at least this "
                    "(as `hrseg infer pose --det-score-thr`)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    ap.add_argument("--port", type=port_number, default=8000, help="TCP port, 1 .. 65535 (default 8000)")
    add_backend_arg(ap)  # the tools' --backend: auto (default), torch, optimized, compiled, onnxruntime, openvino
    ap.add_argument("--dtype", default="float32", choices=DTYPES,
                    help="the pose model's test.dtype: float32 (default) or bfloat16 (optimized, compiled, "
                         "openvino); segmentation and detection run float32")
    ap.add_argument("--max-batch", type=positive_int, default=8,
                    help="crops or images per forward (1: no micro-batching)")
    ap.add_argument("--max-wait-ms", type=float, default=2.0, help="how long a forward waits to fill its batch")
    ap.add_argument("--max-queue", type=positive_int, default=32, help="requests in the service before 429")
    ap.add_argument("--max-bytes", type=positive_int, default=Limits.max_bytes, help="largest request body")
    ap.add_argument("--max-pixels", type=positive_int, default=Limits.max_pixels, help="largest image (width x height)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args(argv)
    require_serve_extra()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tasks = ("pose", "seg", "det", "multi")
    sock = listen(args.host, args.port)  # a port in use stops the start before the models load
    try:
        models = load_models({t: getattr(args, t) for t in tasks}, args.backend,
                             {t: getattr(args, f"{t}_options") for t in tasks}, args.dtype,
                             {t: getattr(args, f"{t}_config") for t in tasks},
                             {"pose": {"det_weights": args.pose_det_weights, "det_score_thr": args.det_score_thr}})
    except BaseException:
        sock.close()
        raise
    serve(models, args.host, args.port, sock=sock, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
          max_queue=args.max_queue, limits=Limits(max_bytes=args.max_bytes, max_pixels=args.max_pixels))
    return 0
