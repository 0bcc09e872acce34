#!/usr/bin/env bash
# CI, the other end of the dependency ranges: a fresh virtual environment with every dependency of
# pyproject.toml's [project] at its lower bound (each `>=X` installed as `==X`), running the fast
# tests (`-m "not slow"`).
#
# torch and torchvision are the exception: any torch other than the few on this machine's disk is
# a multi-gigabyte download per fresh environment, and torch 2.13.0+cpu (the oldest there) has no
# torchvision that installs beside it without one (PyPI's 0.28.0 is a CUDA build: "operator
# torchvision::nms does not exist"). So this run takes torch 2.14.1 with torchvision 0.29.1 from
# the disk (LB_TORCH overrides); the torch floor itself (2.6 / 0.21) was tested by hand, see
# docs/dependencies.md. The extras of README's test command are installed unpinned (the tools and
# optional backends, not what hrseg needs to run), so that their tests run here too.
#   .ci/lower_bounds.sh               # from the repository root or anywhere: all of it, in a temporary folder
#   .ci/lower_bounds.sh prepare DIR   # the venv and torch only, in DIR: reads and writes nothing of the project,
#                                     # so .ci/run does it beside the README's install and tests
#   .ci/lower_bounds.sh test DIR      # the rest (the floors, the project, the tests) in DIR's venv
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:-all}
case "$phase" in
  all) work=$(mktemp -d "${TMPDIR:-/tmp}/hrseg-lower.XXXXXX"); trap 'rm -rf "$work"' EXIT ;;
  prepare|test) work=${2:?"usage: .ci/lower_bounds.sh [prepare DIR | test DIR]"}; mkdir -p "$work" ;;
  *) echo "usage: .ci/lower_bounds.sh [prepare DIR | test DIR]" >&2; exit 2 ;;
esac
start=$(date +%s)
step() { echo "+ [$(( $(date +%s) - start )) s] $*"; }
pip="$work/venv/bin/pip"
if [ "$phase" != test ]; then
  python3 -m venv "$work/venv"
  step "pip install ${LB_TORCH:-torch==2.14.1 torchvision==0.29.1}"
  # shellcheck disable=SC2086
  "$pip" install -q ${LB_TORCH:-torch==2.14.1 torchvision==0.29.1}
  if [ "$phase" = prepare ]; then exit 0; fi
fi

python3 - > "$work/lowest.txt" <<'PY'
import re, tomllib
for req in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name, low = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", req).groups()
    if name not in ("torch", "torchvision"):
        print(f"{name}=={low}")
PY
step "the lower bounds, as pins: $(tr '\n' ' ' < "$work/lowest.txt")"
step "pip install -c lowest.txt -e .[dev,onnx,openvino,serve] (torch as installed; the extras as README's test command has them)"
"$pip" install -q -c "$work/lowest.txt" -e ".[dev,onnx,openvino,serve]"
"$pip" list 2>/dev/null | grep -i -E "^(torch|torchvision|numpy|opencv-python.*|pycocotools|albumentations|matplotlib|pillow|tqdm|safetensors|scipy) "
# every pinned release is what got installed (a pin pip could not honour has failed the install already)
"$work/venv/bin/python" - "$work/lowest.txt" <<'PY'
import sys
from importlib.metadata import version
from packaging.version import Version
wrong = [f"{n}: {version(n)} installed, {v} asked" for n, v in (l.strip().split("==") for l in open(sys.argv[1]))
         if Version(version(n)) != Version(v)]
sys.exit("\n".join(wrong) or None)
PY
opencv=$("$pip" list 2>/dev/null | grep -ci opencv || true)
[ "$opencv" -eq 1 ] || { echo "expected exactly one OpenCV distribution, found $opencv" >&2; exit 1; }
# Test files of code only torch serves (model structure and counting, torchvision's detector, torch.compile,
# the import rules): torch is the same release in both runs, so the README's run covers them.
torch_only=(test_backbone test_model_configs test_det_model test_compile test_mbconv test_layers)
step "pytest -m 'not slow' with the lower bounds (not: ${torch_only[*]})"
"$work/venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider --durations=10 \
  $(printf -- "--ignore=tests/%s.py " "${torch_only[@]}")  # --durations: a new long test shows here
step "lower-bound run finished"
