"""Every experiment's figure says where it came from: a footer with the machine, the command and the
date (UTC), drawn below the axes and kept in the PNG's Description text; results JSONs keep the same
provenance, so a figure drawn again from them carries the run's, not the redrawing process's."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from hrseg.errors import DataError
from hrseg.experiments import common
from hrseg.experiments import progressive_study as study
from hrseg.experiments.effnetv2_search import replot_search
from hrseg.experiments.scaling_search import plot_family, replot_family
from hrseg.utils import provenance
from hrseg.utils.io import save_figure

RUN = {"machine": "2-core AMD EPYC (AVX-512), torch 2.14.1", "date": "2026-12-06",
       "command": "OMP_NUM_THREADS=1 python tools/search_scaling.py --epochs 10 --with-base --family 0 1 2"}
FOOTER = ("machine: 2-core AMD EPYC (AVX-512), torch 2.14.1 | date: 2026-12-06\n"
          "command: OMP_NUM_THREADS=1 python tools/search_scaling.py --epochs 10 --with-base --family 0 1 2")
FAMILY = [{"name": "b0", "gflops": 0.166, "AP": 0.281}, {"name": "b1", "gflops": 0.331, "AP": 0.392},
          {"name": "b2", "gflops": 0.637, "AP": None}]  # None: a NaN AP as write_json keeps it


def png_description(path: Path) -> str | None:
    with Image.open(path) as image:
        return image.text.get("Description")


def one_line(text: str) -> str:
    """The footer as drawn (wrapped to the figure's width) back on single spaces."""
    return " ".join(text.split())


def test_footer_text_names_machine_command_and_date():
    assert provenance.provenance_footer(RUN) == FOOTER
    assert provenance.provenance_footer({**RUN, "note": "redrawn"}).endswith("\nredrawn")
    with pytest.raises(ValueError, match="date"):
        provenance.provenance_footer({k: v for k, v in RUN.items() if k != "date"})


def test_save_figure_draws_the_footer_below_the_axes(tmp_path):
    fig, ax = common.new_figure()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("GFLOPs")
    path = save_figure(fig, tmp_path / "f.png", footer=FOOTER)
    assert [one_line(t.get_text()) for t in fig.texts] == [one_line(FOOTER)]
    assert png_description(path) == FOOTER
    footer, = fig.texts
    assert footer.get_fontsize() < 7
    renderer = FigureCanvasAgg(fig).get_renderer()  # save_figure closed the figure: its canvas went with it
    box, axes = footer.get_window_extent(renderer), ax.get_tightbbox(renderer)
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.width   # all of it on the figure
    assert box.y1 <= axes.y0                                          # under the x label, not over it
    bare, _ = common.new_figure()
    save_figure(bare, tmp_path / "bare.png")
    assert bare.texts == [] and png_description(tmp_path / "bare.png") is None


def test_command_line_and_this_runs_provenance():
    env = {"OMP_NUM_THREADS": "1", "HOME": "/root"}
    assert provenance.command_line(["tools/search_scaling.py", "--epochs", "10"], env) == \
        "OMP_NUM_THREADS=1 python tools/search_scaling.py --epochs 10"
    assert provenance.command_line(["/x/hrseg/__main__.py", "search-scaling", "--cfg-options", "a=1 2"], {}) == \
        "python -m hrseg search-scaling --cfg-options 'a=1 2'"
    assert provenance.command_line(["/venv/bin/hrseg", "search-effnetv2"], {}) == "hrseg search-effnetv2"
    here = provenance.run_provenance()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", here["date"])
    assert re.match(r"\d+-core ", here["machine"]) and f"torch {torch.__version__}" in here["machine"]
    assert here["command"] == provenance.command_line()


def test_an_experiments_plot_and_its_redrawing_carry_the_runs_provenance(tmp_path, monkeypatch):
    saved = []

    def spy(fig, path, **kwargs):
        saved.append(fig)
        return save_figure(fig, path, **kwargs)

    monkeypatch.setattr(common, "save_figure", spy)
    plot_family(FAMILY, tmp_path / "family.png", RUN)
    assert [one_line(t.get_text()) for t in saved[0].texts] == [one_line(FOOTER)]   # drawn on the figure
    assert png_description(tmp_path / "family.png") == FOOTER                        # and kept in the file
    (tmp_path / "family.json").write_text(json.dumps({"rows": FAMILY, "provenance": RUN}))
    replot_family(tmp_path / "family.json", tmp_path / "again.png")
    assert png_description(tmp_path / "again.png") == FOOTER   # the run's, not this process's
    (tmp_path / "old.json").write_text(json.dumps({"rows": FAMILY}))
    with pytest.raises(DataError, match="no 'provenance'"):
        replot_family(tmp_path / "old.json", tmp_path / "old.png")
    assert not (tmp_path / "old.png").exists()
    replot_family(tmp_path / "old.json", tmp_path / "old.png", {**RUN, "note": "from the page's table"})
    assert png_description(tmp_path / "old.png") == FOOTER + "\nfrom the page's table"


def test_search_redrawn_from_its_json(tmp_path):
    rows = [{"name": "Bx1-Bx1-Bx1", "step_s": 0.1, "AP": 0.2, "reward": 0.2},
            {"name": "F3e4x1-Bx1-Bx1", "step_s": 0.2, "AP": 0.3, "reward": 0.29},
            {"name": "M3e4x1-Bx1-Bx1", "step_s": 0.3, "AP": None, "reward": None}]
    (tmp_path / "search.json").write_text(json.dumps({"rows": rows, "provenance": RUN}))
    replot_search(tmp_path / "search.json", tmp_path / "search.png")
    assert png_description(tmp_path / "search.png") == FOOTER


CONFIG = Path(__file__).resolve().parents[1] / "configs" / "effnet" / "progressive_synthetic.py"


def test_the_study_keeps_its_provenance_and_draws_it(tmp_path, monkeypatch):
    def stand_in(cfg, task, work_dir, collect_only=False):
        return {"metric": 0.4, "cpu_s": 5.0, "wall_s": 6.0, "epochs": 2, "curve": [(2.0, 0.3), (5.0, 0.4)]}

    monkeypatch.setattr(study, "train_arm", stand_in)
    monkeypatch.setattr(provenance, "command_line", lambda: "python tools/progressive_experiment.py --seeds 0")
    study.run_study(CONFIG, "pose", tmp_path, seeds=(0,), arms=("a", "b"))
    kept = json.loads((tmp_path / "study.json").read_text())["provenance"]
    assert kept["command"] == "python tools/progressive_experiment.py --seeds 0"
    assert png_description(tmp_path / "study.png") == provenance.provenance_footer(kept)
    study.replot_study(tmp_path / "study.json", tmp_path / "again.png")
    assert png_description(tmp_path / "again.png") == png_description(tmp_path / "study.png")
