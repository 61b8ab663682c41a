"""Helpers for head tests: data specs, models and a plain training loop, all tiny and seeded."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqlab.data.base import DataSpec
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.models.builder import build_model
from seqlab.models.sequence_model import SequenceModel

DIGITS = list("0123456789")


def make_spec(task: str, tokens: list[str], **extra) -> DataSpec:
    """A char-level spec over ``tokens`` (ids 4, 5, ... in that order)."""
    return DataSpec(task, Vocabulary([*("<pad>", "<unk>", "<bos>", "<eos>"), *tokens]), Tokenizer("char"), **extra)


def make_model(
    spec: DataSpec,
    head: dict,
    cell: str = "lstm",
    hidden_size: int = 16,
    embedding_dim: int = 8,
    seed: int = 0,
    **encoder,
) -> SequenceModel:
    torch.manual_seed(seed)
    return build_model(
        spec, {"name": cell}, head, {"hidden_size": hidden_size, **encoder}, embedding_dim=embedding_dim
    )


def pad(sequences: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Id lists → ``(B, T)`` padded with ``value`` and their lengths ``(B,)``."""
    lengths = torch.tensor([len(s) for s in sequences])
    out = torch.full((len(sequences), int(lengths.max())), value)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.tensor(s)
    return out, lengths


def train(
    model: SequenceModel,
    next_batch: Callable[[int], dict[str, torch.Tensor]],
    steps: int,
    lr: float = 1e-2,
) -> float:
    """Plain Adam loop over ``next_batch(step)``; returns the last loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        batch = next_batch(step)
        loss = model.head.loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    return float(loss.detach())
