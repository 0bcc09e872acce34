"""The library's core stays light: ``import hrseg``, building a model, running it and loading a
checkpoint need none of pycocotools, albumentations, mmengine and matplotlib (those are imported
where evaluation, training transforms and plots use them; mmengine not at all).

The code runs in a fresh interpreter with the four hidden from the import system: a finder first
on ``sys.meta_path`` refuses them (ImportError, as if they were not installed) and records every
attempt, so the test fails whether the core needs one of them or merely tries one.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HIDDEN = ("pycocotools", "albumentations", "mmengine", "matplotlib")

CORE = textwrap.dedent("""
    import importlib.abc, json, sys

    HIDDEN = {hidden!r}
    tried = []

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                tried.append(name)
                raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    import torch
    import hrseg

    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        heatmaps = hrseg.build_model("pose_hrnet_w32").eval()(x)
        small = hrseg.build_model("pose_hrnet_w18_small_v1").eval()
        hrseg.save_checkpoint({checkpoint!r}, small, meta={{"epoch": 3}})
        again = hrseg.build_model("pose_hrnet_w18_small_v1").eval()
        hrseg.load_checkpoint(again, {checkpoint!r})
        same = bool(torch.equal(small(x), again(x)))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HIDDEN)
    print(json.dumps({{"shape": list(heatmaps.shape), "same": same, "tried": tried, "loaded": loaded}}))
""")


def test_core_runs_without_the_heavy_dependencies(tmp_path):
    code = CORE.format(hidden=HIDDEN, checkpoint=str(tmp_path / "small.pth"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [1, 17, 16, 12]  # 17 COCO keypoints at a quarter of 64x48
    assert result["same"] is True              # the checkpoint round trip gives the same model
    assert result["tried"] == [] and result["loaded"] == []


def test_the_finder_really_hides_them(tmp_path):
    """The guard itself: with the finder in place, importing a hidden package fails."""
    code = CORE.format(hidden=HIDDEN, checkpoint="").split("import torch")[0] + "import pycocotools.coco\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and "hidden by the test" in out.stderr
