"""Datamodules (one module each) and the shared vocabulary/tokenizer layer. Built-ins register by name here."""

from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.text import CharTextDataModule, WordTextDataModule
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.registry import DATAMODULES

DATAMODULES.register("text_char", CharTextDataModule)
DATAMODULES.register("text_word", WordTextDataModule)

__all__ = ["DataError", "DataSpec", "SeqDataModule", "Tokenizer", "Vocabulary"]
