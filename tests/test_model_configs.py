"""Every model config under configs/models builds the same model as hrseg.build_model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hrseg
from hrseg.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "models").glob("*.py"))
MODEL_DEFAULTS = {"model": {}}  # a model section takes the build options of the named model


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_the_named_model(path):
    cfg = load_config(path, defaults=MODEL_DEFAULTS)
    options = dict(cfg["model"])
    name = options.pop("name")
    assert name == path.stem
    with torch.device("meta"):
        from_config = hrseg.build_model(name, **options)
        direct = hrseg.build_model(name)
    assert {k: v.shape for k, v in from_config.state_dict().items()} == \
           {k: v.shape for k, v in direct.state_dict().items()}
    assert repr(from_config) == repr(direct)


def test_the_named_models_all_have_configs():
    names = {p.stem for p in CONFIGS}
    for name in ["pose_hrnet_w32", "pose_hrnet_w48", "seg_hrnetv2_w18", "seg_hrnetv2_w48", "hrnetv2p_w32"]:
        assert name in names
    assert {n for n in hrseg.list_models() if n.startswith("hrnet_w")} <= names
