"""Heads: what a model predicts for each sequence shape. Built-ins register by name here."""

from seqlab.heads.base import Backbone, Head, HeadContext
from seqlab.heads.many_to_many import ManyToManyHead
from seqlab.heads.many_to_one import ManyToOneHead
from seqlab.heads.one_to_many import OneToManyHead
from seqlab.heads.regression import RegressionHead
from seqlab.heads.seq2seq import Seq2SeqHead
from seqlab.registry import HEADS

HEADS.register("many_to_one", ManyToOneHead)
HEADS.register("many_to_many", ManyToManyHead)
HEADS.register("one_to_many", OneToManyHead)
HEADS.register("seq2seq", Seq2SeqHead)
HEADS.register("regression", RegressionHead)

__all__ = [
    "Backbone",
    "Head",
    "HeadContext",
    "ManyToManyHead",
    "ManyToOneHead",
    "OneToManyHead",
    "RegressionHead",
    "Seq2SeqHead",
]
