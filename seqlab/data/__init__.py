"""Datamodules (one module each) and the shared vocabulary/tokenizer layer.

Importing the package loads the vocabulary layer only. The plugin API (``SeqDataModule``, ``DataError``,
``DataSpec``) and the datamodule classes resolve on first access (PEP 562): :mod:`seqlab.spec` imports
:mod:`seqlab.data.vocab` and would otherwise meet a half-imported package. Registration: :mod:`seqlab.data.builtins`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.errors import DataError

if TYPE_CHECKING:
    from seqlab.data.abc_music import AbcMusicDataModule
    from seqlab.data.adding import AddingDataModule
    from seqlab.data.base import SeqDataModule
    from seqlab.data.parallel import ParallelDataModule
    from seqlab.data.tagging import TaggingDataModule
    from seqlab.data.text import CharTextDataModule, WordTextDataModule
    from seqlab.data.timeseries import TimeSeriesDataModule
    from seqlab.data.tweets import TweetsDataModule
    from seqlab.spec import DataSpec

#: public name → the module that defines it (imported on first access)
_LAZY = {
    "DataSpec": "seqlab.spec",
    "SeqDataModule": "seqlab.data.base",
    "AbcMusicDataModule": "seqlab.data.abc_music",
    "AddingDataModule": "seqlab.data.adding",
    "CharTextDataModule": "seqlab.data.text",
    "ParallelDataModule": "seqlab.data.parallel",
    "TaggingDataModule": "seqlab.data.tagging",
    "TimeSeriesDataModule": "seqlab.data.timeseries",
    "TweetsDataModule": "seqlab.data.tweets",
    "WordTextDataModule": "seqlab.data.text",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'seqlab.data' has no attribute '{name}'")


__all__ = [
    "AbcMusicDataModule", "AddingDataModule", "CharTextDataModule", "DataError", "DataSpec", "ParallelDataModule",
    "SeqDataModule", "TaggingDataModule", "TimeSeriesDataModule", "Tokenizer", "TweetsDataModule", "Vocabulary",
    "WordTextDataModule"
]
