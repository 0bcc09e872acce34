"""Shared fixtures: where the real sample data lives, and deterministic torch settings."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI and developers have ../shared beside the checkout; HRSEG_SHARED overrides it.
SHARED = Path(os.environ.get("HRSEG_SHARED", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"real sample data not found at {path} (set HRSEG_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.fail(f"reference facts not found at {path} (set HRSEG_SHARED to the shared folder)")
    return path


@pytest.fixture(autouse=True)
def _seeded():
    import torch

    torch.manual_seed(0)
    yield
