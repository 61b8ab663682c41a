"""Metrics that heads share: entity-level F1 of BIO tags. A leaf, like :mod:`seqlab.spec`: no datamodule imported."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from seqlab.data.vocab import SPECIALS

__all__ = ["EntityF1", "bio_chunks", "is_bio"]


def is_bio(tags: list[str]) -> bool:
    """Whether a tag set is BIO/IOB2 (``O``, ``B-X``, ``I-X``), ignoring the special tokens."""
    real = [t for t in tags if t not in SPECIALS]
    return any(t.startswith(("B-", "I-")) for t in real) and all(t == "O" or t[:2] in ("B-", "I-") for t in real)


def bio_chunks(tags: list[str]) -> set[tuple[str, int, int]]:
    """Entity chunks ``(type, start, end)`` (end exclusive) of a BIO tag sequence, read as conlleval does: a chunk
    starts at ``B-X``, or at ``I-X`` not continuing a chunk of type X, and runs over the following ``I-X``. Any
    other tag (``O``, special tokens) ends a chunk.

    >>> sorted(bio_chunks(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]))
    [('LOC', 3, 4), ('LOC', 4, 5), ('ORG', 5, 6), ('PER', 0, 2)]
    """
    chunks = set()
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, this = tag.partition("-") if tag[:2] in ("B-", "I-") else ("O", "", None)
        if kind is not None and not (prefix == "I" and this == kind):
            chunks.add((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and kind is None):
            kind, start = this, i
    return chunks


class EntityF1(Metric):
    """Entity-level (chunk) F1 of BIO tags, micro-averaged over entities as in conlleval / seqeval.

    ``update(predictions (B, T), targets (B, T))`` with tag ids into ``tags``; steps whose target is negative
    (ignored, e.g. padding) are dropped. States are counts, so it syncs across processes.
    """

    full_state_update = False

    def __init__(self, tags: list[str]):
        super().__init__()
        self.tags = list(tags)
        for name in ("correct", "predicted", "gold"):
            self.add_state(name, torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, targets: Tensor) -> None:
        for row_pred, row_gold in zip(predictions.tolist(), targets.tolist()):
            kept = [(p, g) for p, g in zip(row_pred, row_gold) if g >= 0]
            predicted = bio_chunks([self.tags[p] for p, _ in kept])
            gold = bio_chunks([self.tags[g] for _, g in kept])
            self.correct += len(predicted & gold)
            self.predicted += len(predicted)
            self.gold += len(gold)

    def compute(self) -> Tensor:
        precision = self.correct / self.predicted.clamp(min=1)
        recall = self.correct / self.gold.clamp(min=1)
        return 2 * precision * recall / (precision + recall).clamp(min=1e-12)
