"""Heads: what a model predicts for each sequence shape. Built-ins register by name here."""

from seqlab.heads.base import Head, HeadContext
from seqlab.heads.many_to_many import ManyToManyHead
from seqlab.registry import HEADS

HEADS.register("many_to_many", ManyToManyHead)

__all__ = ["Head", "HeadContext", "ManyToManyHead"]
