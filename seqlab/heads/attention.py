"""Encoder-decoder attention (Bahdanau's additive, Luong's dot and general scores) and attention heat maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn


class Attention(nn.Module):
    """Scores a decoder state against every encoder output and returns the weighted context.

    Scores (``query`` is the decoder state ``s``, ``keys`` the encoder outputs ``h_j``):
    ``additive`` (Bahdanau et al. 2015) ``vᵀ tanh(W_q s + W_k h_j)``; ``dot`` (Luong et al. 2015) ``sᵀ h_j``;
    ``general`` (Luong et al. 2015) ``sᵀ W_a h_j``. ``dot`` needs ``query_size == key_size``.

    ``query (B, Q)`` or ``(B, T, Q)``, ``keys (B, S, K)``, ``mask (B, S)`` (True on real source steps) →
    ``context`` shaped like the query with ``K`` features, ``weights (B, S)`` or ``(B, T, S)`` (zero on padding).
    For the additive score, :meth:`precompute` ``W_k h_j`` once per source and pass it as ``projected_keys``.

    >>> attn = Attention("general", query_size=4, key_size=6)
    >>> mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3])
    >>> context, weights = attn(torch.randn(2, 3, 4), torch.randn(2, 5, 6), mask)
    >>> tuple(context.shape), tuple(weights.shape), float(weights.detach()[1, :, 2:].sum())
    ((2, 3, 6), (2, 3, 5), 0.0)
    """

    def __init__(self, score: str, query_size: int, key_size: int, attention_size: int | None = None):
        super().__init__()
        self.score = score
        if score == "additive":
            size = attention_size or query_size
            self.query_proj = nn.Linear(query_size, size, bias=False)
            self.key_proj = nn.Linear(key_size, size)
            self.v = nn.Linear(size, 1, bias=False)
        elif score == "general":
            self.W_a = nn.Linear(key_size, query_size, bias=False)

    def precompute(self, keys: Tensor) -> Tensor:
        """What the score needs from the keys alone, computed once per source sequence."""
        if self.score == "additive":
            return self.key_proj(keys)
        if self.score == "general":
            return self.W_a(keys)
        return keys

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None, projected_keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        projected = self.precompute(keys) if projected_keys is None else projected_keys
        single = query.dim() == 2
        if single:
            query = query[:, None]
        if self.score == "additive":
            scores = self.v(torch.tanh(self.query_proj(query)[:, :, None] + projected[:, None])).squeeze(-1)
        else:
            scores = torch.bmm(query, projected.transpose(1, 2))
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None], float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(keys.dtype)
        context = torch.bmm(weights, keys)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights


def save_attention_heatmap(
    weights: Tensor,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Write a PNG heat map of ``weights (T, S)``: one row per generated token, one column per source token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = weights.detach().float().cpu()[: len(target_tokens), : len(source_tokens)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * len(source_tokens), 30), min(2 + 0.35 * len(target_tokens), 30)))
    ax.imshow(weights.numpy(), cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(source_tokens)), list(source_tokens), rotation=90)
    ax.set_yticks(range(len(target_tokens)), list(target_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
