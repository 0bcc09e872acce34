#!/usr/bin/env bash
# The GPU half of issue 26 in one run of at most 10 minutes, on a machine with CUDA (no network):
#
#   mkdir -p shared && cp -r ../shared/data shared/   # the tests' sample data (15 MB), untracked: it travels
#   (wheels for what the GPU image lacks, into .whl/: docs/training.md, "GPU figures")
#   run(command="bash tools/gpu_check.sh", carry=[".whl", "datasets/synthetic_pose"], timeout_s=600)
#
# (datasets/synthetic_pose: the main job's generated split, 19 MB, else generated there first.)
# Steps (by name; env always runs first):
# 1. env: the environment (torch, CUDA device) and hrseg importable from this checkout;
# 2. bench_pose_w32: hrseg bench-train pose_hrnet_w32 256x192 batch 64 (AMP float16, the speed options
#    automatic: cuDNN autotuning, fused Adam, CUDA graph, targets on the GPU, uint8 crops normalised on
#    the GPU, persistent workers): the bare step, its phases, kernels per step, the real loop over 20
#    iterations of the synthetic split with 14 workers (images/s, data-wait share), the DataLoader alone,
#    one worker's samples/s;
# 3. tests_engine: the fast CUDA-touching tests: tests/test_engine.py (every make_trainer test on CUDA,
#    exact resume with train.deterministic), test_training_speed.py (graph step = eager step),
#    test_gpu_targets.py, test_bench_train.py (one graph launch per step), test_device_normalize.py (the
#    GPU's normalised batch against the CPU's), test_compile.py (compiled regions inside the graph),
#    test_udp_combined.py (UDP's combined maps drawn on the device);
# 4. main_job: python tools/train_pose.py (14 epochs of the synthetic mini-split) on CUDA: its AP against
#    0.822 +- 0.01, its log.csv's images/s and data_wait;
# 5. bench_pose_w32_compile: the pose table with train.compile=true (its compile time: the first eager
#    step, in the table's first line);
# 6. bench_pose_w32_eager: the pose table with the CUDA graph off (the eager step, fused Adam);
# 7. bench_seg_w48: seg_hrnetv2_w48 512x1024 batch 8, the same table (OHEM on the device, the graph);
# 8. bench_pose_w32_float_crops: the pose table with float32 crops (train.device_normalize=false);
# 9. tests_more: in the time left, the slower CUDA-touching tests: test_progressive.py,
#    test_engine_ddp.py, test_pose_pipeline.py, test_seg_pipeline.py.
# Steps 1-4 are what issue 26 is checked by, so they come first: a session's device time (15 minutes in
# all, the machine's start included) leaves room for one call. Each step has its own time limit and runs
# only while that limit fits in the call's 590 s (else it is listed as skipped); the script goes on after
# a failure; everything it prints is also written under $OUT (or ./gpu_check_out) for the session to read
# back. Arguments pick steps by name, e.g. a second call (where device time is left) for what the first
# skipped: bash tools/gpu_check.sh bench_pose_w32_compile bench_seg_w48
set -u
ONLY="$*"  # step names to run (default: all, in this order, each while its time limit fits)
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-gpu_check_out}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${HRSEG_SHARED:-}" ] && [ -d shared/data ]; then export HRSEG_SHARED="$PWD/shared"; fi
WHEELS="${WHEELS:-.whl}"
start=$(date +%s)
status=0

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s, at $(( $(date +%s) - start ))s)" | tee -a "$OUT_DIR/summary.txt"
  timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT_DIR/$name.log"
  echo "=== $name: rc $rc" | tee -a "$OUT_DIR/summary.txt"
  [ $rc -eq 0 ] || status=1
}

if [ -d "$WHEELS" ]; then  # pycocotools, albumentations and their needs come along as wheels
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/hrseg_site "$WHEELS"/*.whl \
    > "$OUT_DIR/pip.log" 2>&1 || true
  export PYTHONPATH="$PYTHONPATH:/tmp/hrseg_site"
fi
step env 60 "$PY" -c "
import torch, hrseg
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'device', torch.cuda.get_device_name(0))
print('cudnn', torch.backends.cudnn.version())"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >> "$OUT_DIR/env.log" 2>&1 || true

BENCH=("$PY" -m hrseg bench-train)
POSE=(pose_hrnet_w32 --input-size 256x192 --batch 64 --device cuda --workers 14 --warmup 3 --loop-iters 20)
left() { echo $(( 590 - ($(date +%s) - start) )); }
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
run_step() {  # run_step NAME LIMIT COMMAND...: when asked for and when its limit fits in the time left
  local name=$1 limit=$2; shift 2
  wanted "$name" || return 0
  if [ "$(left)" -lt "$limit" ]; then
    echo "=== $name: skipped, ${limit}s needed and $(left)s left" | tee -a "$OUT_DIR/summary.txt"
    return 0
  fi
  step "$name" "$limit" "$@"
}
run_step bench_pose_w32 150 "${BENCH[@]}" "${POSE[@]}" --iters 20
# one process on the one GPU (-o addopts: pyproject's -n auto needs pytest-xdist, which the image lacks)
PYTEST=("$PY" -m pytest -q -p no:cacheprovider -o addopts=-ra)
run_step tests_engine 120 "${PYTEST[@]}" tests/test_engine.py tests/test_training_speed.py \
  tests/test_gpu_targets.py tests/test_bench_train.py tests/test_device_normalize.py tests/test_compile.py \
  tests/test_udp_combined.py
run_step main_job 200 "$PY" tools/train_pose.py --work-dir "$OUT_DIR/main_job"
wanted main_job && cut -d, -f1-10 "$OUT_DIR/main_job/log.csv" 2>/dev/null
# train.compile: the first eager step in the table's first line is the compile's time
run_step bench_pose_w32_compile 240 "${BENCH[@]}" "${POSE[@]}" --iters 20 --cfg-options train.compile=true
run_step bench_pose_w32_eager 90 "${BENCH[@]}" "${POSE[@]}" --iters 10 --cfg-options train.cuda_graph=false
run_step bench_seg_w48 90 "${BENCH[@]}" seg_hrnetv2_w48 --input-size 512x1024 --batch 8 --device cuda --workers 14 \
  --iters 10 --warmup 3 --loop-iters 10
# the loop's data wait with the workers normalising, as before device_normalize
run_step bench_pose_w32_float_crops 90 "${BENCH[@]}" "${POSE[@]}" --iters 5 --cfg-options train.device_normalize=false
if wanted tests_more && [ "$(left)" -gt 30 ]; then  # the slower CUDA-touching tests, in the time left
  step tests_more "$(left)" "${PYTEST[@]}" tests/test_progressive.py \
    tests/test_engine_ddp.py tests/test_pose_pipeline.py tests/test_seg_pipeline.py
fi
rm -f "$OUT_DIR"/main_job/*.pth
echo "=== done in $(( $(date +%s) - start ))s, status $status" | tee -a "$OUT_DIR/summary.txt"
exit $status
