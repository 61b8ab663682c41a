"""A self-attention encoder (Vaswani et al. 2017) behind the same contract as ``Recurrent``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.encoders.base import Encoder
from seqlab.registry import ConfigError
from seqlab.schema import model as schema


class TransformerEncoder(Encoder):
    """Multi-head self-attention over the whole sequence (``encoder=transformer``).

    ``z_0 = W_in x + PE``; ``num_layers`` pre-norm blocks ``z ← z + MHA(LN(z))``, ``z ← z + FFN(LN(z))``
    (``torch.nn.TransformerEncoderLayer``), then a final ``LN``. Padded keys are masked out; ``causal`` also hides
    later steps. A continuation (generation) longer than ``max_length`` keeps the last ``max_length`` steps.

    ``x (B, T, I)`` → ``outputs (B, T, hidden_size)``; the continuation context is the prefix ``x`` seen so far.

    >>> import torch
    >>> encoder = TransformerEncoder(4, causal=True, hidden_size=8, num_heads=2, num_layers=1).eval()
    >>> x = torch.randn(1, 6, 4)
    >>> full, _ = encoder(x)
    >>> first, state = encoder(x[:, :4])
    >>> rest, _ = encoder(x[:, 4:], None, state)
    >>> torch.allclose(full, torch.cat([first, rest], 1), atol=1e-5)
    True
    """

    def __init__(
        self,
        input_size: int,
        causal: bool,
        num_states: int = 1,
        hidden_size: int = schema.Transformer.hidden_size,
        num_layers: int = schema.Transformer.num_layers,
        num_heads: int = schema.Transformer.num_heads,
        feedforward_size: int | None = schema.Transformer.feedforward_size,
        dropout: float = schema.Transformer.dropout,
        positional: str = schema.Transformer.positional,
        max_length: int = schema.Transformer.max_length,
    ):
        super().__init__(causal=causal, num_states=num_states)
        if hidden_size % num_heads:
            raise ConfigError(f"model.encoder.num_heads={num_heads} must divide model.encoder.hidden_size="
                              f"{hidden_size}")
        self.output_size = hidden_size
        self.max_length = max_length
        self.project_inputs = nn.Linear(input_size, hidden_size)
        self.position_table = nn.Embedding(max_length, hidden_size) if positional == "learned" else None
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            num_heads,
            feedforward_size or 4 * hidden_size,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(hidden_size), enable_nested_tensor=False
        )

    def positions(self, length: int, like: Tensor) -> Tensor:
        """The learned table's first ``length`` rows, or ``PE[t, 2i] = sin(t / 10000^{2i/d})``, ``PE[t, 2i+1] =
        cos(t / 10000^{2i/d})`` → ``(length, hidden_size)``."""
        if self.position_table is not None:
            return self.position_table.weight[:length]
        size, device = self.output_size, like.device
        position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / size))
        table = torch.zeros(length, size, device=device)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: size // 2])
        return table.to(like.dtype)

    def encode(self, x: Tensor, mask: Tensor | None, lengths: Tensor | None, context: Any) -> tuple[Tensor, Any]:
        new_steps = x.shape[1]
        if new_steps > self.max_length:
            raise ConfigError(
                f"model.encoder.max_length={self.max_length} is shorter than a sequence of {new_steps} steps; raise it"
            )
        if context is not None:  # continue a sequence: the prefix is attended again (no key/value cache)
            prefix, prefix_mask = context
            if mask is not None or prefix_mask is not None:  # a missing mask: every step real
                pairs = ((prefix_mask, prefix), (mask, x))
                mask = torch.cat([t.new_ones(t.shape[:2], dtype=torch.bool) if m is None else m for m, t in pairs], 1)
            x = torch.cat([prefix, x], dim=1)
        x, mask = x[:, -self.max_length :], None if mask is None else mask[:, -self.max_length :]
        T = x.shape[1]
        z = self.dropout(self.project_inputs(x) + self.positions(T, x))
        causal_mask = (
            torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=1) if self.causal else None
        )
        outputs = self.layers(
            z, mask=causal_mask, src_key_padding_mask=None if mask is None else ~mask, is_causal=self.causal
        )
        return outputs[:, -new_steps:], (x, mask)
