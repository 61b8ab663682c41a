"""Datamodules (one module each) and the shared vocabulary/tokenizer layer. Built-ins register by name here."""

from seqlab.data.abc_music import AbcMusicDataModule
from seqlab.data.adding import AddingDataModule
from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.parallel import ParallelDataModule
from seqlab.data.tagging import TaggingDataModule
from seqlab.data.text import CharTextDataModule, WordTextDataModule
from seqlab.data.tweets import TweetsDataModule
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.registry import DATAMODULES

DATAMODULES.register("text_char", CharTextDataModule)
DATAMODULES.register("text_word", WordTextDataModule)
DATAMODULES.register("abc_music", AbcMusicDataModule)
DATAMODULES.register("tweets", TweetsDataModule)
DATAMODULES.register("parallel", ParallelDataModule)
DATAMODULES.register("adding", AddingDataModule)
DATAMODULES.register("tagging", TaggingDataModule)

__all__ = [
    "AbcMusicDataModule",
    "AddingDataModule",
    "CharTextDataModule",
    "DataError",
    "DataSpec",
    "ParallelDataModule",
    "SeqDataModule",
    "TaggingDataModule",
    "Tokenizer",
    "TweetsDataModule",
    "Vocabulary",
    "WordTextDataModule",
]
