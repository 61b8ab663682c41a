"""Every conf/head/*.yaml selects a registered head and only sets options that head accepts."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import seqlab.heads  # noqa: F401  (registers the built-ins)
from seqlab.registry import HEADS

CONF = Path(__file__).resolve().parents[2] / "conf" / "head"


@pytest.mark.parametrize("path", sorted(p for p in CONF.glob("*.yaml") if p.stem != "auto"), ids=lambda p: p.stem)
def test_head_config_names_its_head_and_its_options_exist(path):
    assert path.read_text().startswith("# @package model.head\n")
    options = OmegaConf.to_container(OmegaConf.load(path))
    assert options.pop("name") == path.stem
    accepted = inspect.signature(HEADS.get(path.stem)).parameters
    assert set(options) <= set(accepted) - {"ctx"}
    assert all(accepted[k].default == v for k, v in options.items()), "yaml defaults match the code's defaults"
