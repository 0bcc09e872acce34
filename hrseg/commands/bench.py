"""Params, multiply-adds, latency, throughput and peak memory of a named model.

    hrseg bench pose_hrnet_w32 --input-size 256x192 --batch 8
    hrseg bench seg_hrnetv2_w48 --input-size 1024x2048 --json
    hrseg bench pose_hrnet_w32 --input-size 256x192 --batch 8 --compare-timm
    hrseg bench --table            # params and GFLOPs of every named model (also: hrseg models)
    hrseg bench pose_hrnet_w32 --input-size 256x192 --batch 8 \
        --backends torch,optimized,compiled,onnxruntime,openvino --dtype float32,bfloat16 --json-out bench.json
    python tools/benchmark.py ...  # the same command, from a clone
--backends prints one table: img/s per backend and dtype, the ratio to timm eager and the shares of
the float32 and of the row's own dtype's 3x3-convolution rooflines, all measured at the start of
the same run (a dtype's roofline over the model's multiply-adds bounds its speed-up over timm).
"""
from __future__ import annotations

import argparse
import json
import torch

from hrseg.backends import BACKENDS
from hrseg.benchmark import (
    backend_table, benchmark, complexity_table, format_backend_table, format_result, prepare,
    time_forward, timm_reference,
)
from hrseg.models import list_models
from hrseg.cli import CommandParser, device_name, parse_size, positive_int
from hrseg.utils.io import write_json


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", nargs="?", help="a model name from hrseg.list_models()")
    ap.add_argument("--table", action="store_true",
                    help="print params and GFLOPs of every named model (or those matching NAME) as Markdown")
    ap.add_argument("--input-size", type=parse_size, default=(256, 192), help="HxW (default 256x192)")
    ap.add_argument("--batch", type=positive_int, default=1)
    ap.add_argument("--mode", choices=["eager", "optimized", "compiled"], default="optimized",
                    help="eager; optimized = BatchNorm folded + channels_last (default); compiled = torch.compile too")
    ap.add_argument("--dtype", default="float32",
                    help="float32 | bfloat16 | float16, or a comma list with --backends: weights and activations of the "
                         "optimized/compiled model (bfloat16: about 2x on CPUs with AVX512-BF16 or AMX); int8: "
                         "onnxruntime and openvino's rows, a file quantised on random inputs (speed only)")
    ap.add_argument("--backends", default=None,
                    help=f"comma list of {','.join(BACKENDS)}: one table of them all (torch = hrseg eager)")
    ap.add_argument("--json-out", default=None, help="with --backends: also write the table as JSON here")
    ap.add_argument("--device", type=device_name, default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--iters", type=positive_int, default=5)
    ap.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--compare-timm", action="store_true",
                    help="also time timm's hrnet_w32 (features_only, eager) in the same run")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement (a fresh process)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)
    if args.table:
        print(complexity_table(list_models(args.name or "")))
        return 0
    if not args.name:
        ap.error("give a model name, or --table")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    if not dtypes or set(dtypes) - {"float32", "bfloat16", "float16", "int8"}:
        ap.error(f"--dtype {args.dtype}: float32, bfloat16, float16 or int8 (a comma-separated list with --backends)")
    if "int8" in dtypes and not args.backends:
        ap.error("--dtype int8: an exported file's; with --backends onnxruntime,openvino")
    if args.backends:
        result = backend_table(args.name, args.input_size, args.batch, args.backends.split(","), dtypes,
                               iters=args.iters, progress=lambda line: print(line, flush=True))
        print(format_backend_table(result))
        if args.json_out:
            write_json(args.json_out, result)
        return 0
    if len(dtypes) != 1:
        ap.error("--dtype: one of float32, bfloat16, float16 (a list only with --backends)")
    args.dtype = dtypes[0]

    result = benchmark(args.name, args.input_size, args.batch, args.mode, args.device,
                       iters=args.iters, memory=not args.no_memory, dtype=args.dtype)
    out = result.as_dict()
    if args.compare_timm:
        reference = timm_reference(args.device)
        x = torch.randn(args.batch, 3, *args.input_size, device=args.device)
        seconds = time_forward(prepare(reference, "eager"), x, iters=args.iters)
        out["timm_hrnet_w32_throughput"] = args.batch / seconds
        out["speedup_vs_timm"] = result.throughput / out["timm_hrnet_w32_throughput"]
    if args.json:
        print(json.dumps(out))
    else:
        print(format_result(result))
        if args.compare_timm:
            print(f"  timm hrnet_w32 (features_only, eager): {out['timm_hrnet_w32_throughput']:.2f} images/s"
                  f" -> {out['speedup_vs_timm']:.2f}x its speed (timm's W32 whatever the model: a fixed yardstick)")
    return 0

