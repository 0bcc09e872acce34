"""Shared fixtures: where the real sample data lives, and deterministic torch settings."""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI and developers have ../shared beside the checkout; HRSEG_SHARED overrides it.
SHARED = Path(os.environ.get("HRSEG_SHARED", REPO_ROOT.parent / "shared")).resolve()
# Nothing in the tests reaches the network or a user's weights cache: downloads other than
# file:// URLs fail at once, and the cache is a fresh folder (tests that download set their own).
os.environ["HRSEG_OFFLINE"] = "1"
# One folder for the run, made by the pytest process, which removes it when pytest ends; processes
# the tests start (DDP workers, servers) import this file too and keep the HRSEG_HOME they inherit.
OWN_TEST_HOME = "HRSEG_TEST_HOME" not in os.environ
if OWN_TEST_HOME:
    os.environ["HRSEG_TEST_HOME"] = os.environ["HRSEG_HOME"] = tempfile.mkdtemp(prefix="hrseg-test-home-")

# pytest-xdist (pyproject's addopts: -n auto, a test file at a time per worker; docs/dependencies.md has
# the figures). The controller made the run's folder above; each worker takes a folder of its own in it,
# so that no two workers write one cache, and the cores are shared out: torch's default of a thread per
# core in each of N workers would run N times as many threads as cores. A worker's own processes (DDP
# workers, servers) inherit both settings.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER and os.environ.get("HRSEG_HOME") == os.environ["HRSEG_TEST_HOME"]:
    os.environ["HRSEG_HOME"] = os.path.join(os.environ["HRSEG_TEST_HOME"], WORKER)
    os.makedirs(os.environ["HRSEG_HOME"], exist_ok=True)


def usable_cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if WORKER:
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // _workers)))


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # optional: a hook of pytest-xdist's
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: a worker per usable core, at most four (each holds a torch and its models; the
    heaviest tests take a few GB). xdist's own count asks psutil for physical cores where it is
    installed, which is one on a 2-vCPU machine; PYTEST_XDIST_AUTO_NUM_WORKERS still overrides."""
    return int(os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", min(usable_cores(), 4)))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's cache folder goes with the run (exports made there weigh about 100 MB)."""
    if OWN_TEST_HOME:
        shutil.rmtree(os.environ["HRSEG_TEST_HOME"], ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"real sample data not found at {path} (set HRSEG_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def coco_mini(shared_data: Path) -> Path:
    """The COCO sample: photographs with keypoints and instances (``person_keypoints.json``)."""
    return shared_data / "coco_mini"


@pytest.fixture(scope="module")
def coco_mini_keypoints(coco_mini: Path) -> dict:
    """``person_keypoints.json`` of the COCO sample, read once per module (take copies:
    :func:`coco_subset`)."""
    return json.loads((coco_mini / "person_keypoints.json").read_text())


def coco_subset(data: dict, image_ids: list[int]) -> dict:
    """A copy of a COCO dict with only ``image_ids`` and their annotations."""
    out = copy.deepcopy(data)
    out["images"] = [i for i in out["images"] if i["id"] in image_ids]
    out["annotations"] = [a for a in out["annotations"] if a["image_id"] in image_ids]
    return out


def write_json_file(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.fail(f"reference facts not found at {path} (set HRSEG_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def official_state(shared_reference: Path):
    """``make(layout, seed=0)``: random tensors with exactly the keys and shapes of an official
    checkpoint (``layout`` names a file of ``reference/checkpoint_layouts``), as the official code
    saves them: a plain state dict."""
    import json

    import torch

    def make(layout: str, seed: int = 0) -> dict:
        g = torch.Generator().manual_seed(seed)
        state = {}
        for key, shape in json.loads((shared_reference / "checkpoint_layouts" / layout).read_text()).items():
            if key.endswith("num_batches_tracked"):
                state[key] = torch.tensor(7)
            elif key.endswith("running_var"):
                state[key] = torch.rand(shape, generator=g) + 0.5
            else:
                state[key] = torch.randn(shape, generator=g) * 0.05
        return state

    return make


@pytest.fixture
def publish_as(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``publish_as(model, record_name, model_name)``: ``model``'s checkpoint served as a published file
    (a ``file://`` URL whose file name carries its SHA-256) under the record ``record_name`` renamed for
    ``model_name`` (a small model standing in for the published one), known by that name for the test
    (the weights cache the test's own); returns the record."""
    import hashlib
    from dataclasses import replace

    import hrseg
    from hrseg import weights

    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))

    def publish(model, record_name: str, model_name: str):
        payload = hrseg.save_checkpoint(tmp_path / "published.pth", model).read_bytes()
        served = tmp_path / "server" / f"published-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
        served.parent.mkdir(exist_ok=True)
        served.write_bytes(payload)
        base = weights.get_weights(record_name)
        record = replace(base, name=f"{model_name}.{base.name.split('.', 1)[1]}", url=served.as_uri())
        monkeypatch.setitem(weights._BY_NAME, record.name, record)
        return record

    return publish


@pytest.fixture(autouse=True)
def _seeded():
    import torch

    torch.manual_seed(0)
    yield


def python_path(*first: str) -> str:
    """PYTHONPATH for a subprocess: ``first``, then this one's (where a machine without an install
    keeps hrseg's dependencies, e.g. wheels unpacked into a folder)."""
    return os.pathsep.join([*first, *filter(None, [os.environ.get("PYTHONPATH")])])


def randomize_weights(model, seed: int = 0):
    """``model`` in eval mode with non-trivial weights and BatchNorm statistics (the default
    init gives near-zero heatmaps, and folding a BatchNorm at its initial statistics tests little)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if name.endswith("running_var"):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        elif t.dtype.is_floating_point:
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model.eval()
