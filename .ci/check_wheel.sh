#!/usr/bin/env bash
# CI, after the tests: build the sdist and, from it, the wheel, then use the wheel as a user
# would. It is installed with `pip install --no-deps --target` into a temporary folder and run
# with the dependencies of the CI environment (VENV, the first argument), from an empty folder
# outside the clone, so neither the clone's hrseg/ nor its configs/ can be picked up.
#   .ci/check_wheel.sh VENV
set -euo pipefail
venv=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${HRSEG_SHARED:-$repo/../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hrseg-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
step() { echo "+ [$(( $(date +%s) - start )) s] $*"; }

step "build the sdist, then the wheel from it (so the sdist is known to be complete)"
(cd "$repo" && "$venv/bin/python" -c "from setuptools import build_meta as b; b.build_sdist('$tmp/dist')" >/dev/null)
"$venv/bin/pip" wheel -q --no-deps -w "$tmp/dist" "$tmp"/dist/hrseg-*.tar.gz
ls -l "$tmp"/dist

step "install the wheel: pip install --no-deps --target $tmp/site"
"$venv/bin/pip" install -q --no-deps --target "$tmp/site" "$tmp"/dist/hrseg-*.whl
mkdir "$tmp/user" && cd "$tmp/user"
export PYTHONPATH="$tmp/site" PATH="$tmp/site/bin:$venv/bin:$PATH" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
unset HRSEG_HOME
python -c "import hrseg, sys; sys.exit(0 if hrseg.__file__.startswith('$tmp/site/') else 'hrseg imported from ' + hrseg.__file__)"
installed() { find "$tmp/site" -type f ! -name '*.pyc' | sort; }
installed > "$tmp/installed_before.txt"

step "hrseg --version"
hrseg --version

step "hrseg models (one model per task; the numbers are the papers')"
hrseg models pose_hrnet_w32 seg_hrnetv2_w48 | tee models.txt
grep -q "| pose_hrnet_w32 | 256x192 | 28.54M | 7.1 |" models.txt
grep -q "| seg_hrnetv2_w48 | 1024x2048 | 65.86M | 696.2 |" models.txt

step "hrseg configs pose; a config by name with _base_ files, inside the installed package"
hrseg configs pose > configs.txt && grep -q hrnet_w32_coco_256x192 configs.txt
python - <<'PY'
from hrseg.tasks.pose import load_pose_config
cfg = load_pose_config("hrnet_w32_coco_256x192")  # its _base_: models/, _base_/datasets, _base_/schedules
assert cfg["model"]["name"] == "pose_hrnet_w32" and cfg["data"]["input_size"] == [256, 192], cfg
assert cfg["train"]["max_epochs"] == 210, cfg["train"]
PY

step "hrseg infer pose on a photograph, with a checkpoint written by .ci/make_pose_checkpoint.py"
python "$repo/.ci/make_pose_checkpoint.py" pose.pth
hrseg infer pose "$shared/data/images/zidane.jpg" --weights pose.pth --out out
ls out
test -s out/zidane_pose.json && test -s out/zidane_pose.png

step "hrseg export of that checkpoint, by a shipped config's name: self-checked on a synthetic scene (no shared data)"
HRSEG_SHARED="$tmp/no_shared" hrseg export pose/synthetic_mini --weights pose.pth --out exports/pose.onnx 2>&1 \
  | tee export.txt
grep -q "self-check on a synthetic scene" export.txt && test -s exports/pose.onnx

step "hrseg train pose: one epoch on a tiny synthetic split, data and work dir under the current folder"
hrseg train pose --cfg-options train.max_epochs=1 train.eval_interval=1 data.synthetic.num_train=32 \
  data.synthetic.num_val=8 data.batch_size=8 data.num_workers=0
test -s work_dirs/synthetic_mini/latest.pth && test -s work_dirs/synthetic_mini/metrics.json
test -d datasets/synthetic_pose
step "nothing was written inside the installed package"
installed | diff "$tmp/installed_before.txt" -

step "error from the installed command: one line, exit status 2"
set +e
hrseg train pose no_such_config 2> err.txt; code=$?
set -e
cat err.txt
[ "$code" -eq 2 ] && [ "$(wc -l < err.txt)" -eq 1 ]
echo "wheel check passed in $(( $(date +%s) - start )) s"
