"""Non-recurrent baselines from the lectures: a fixed window of the last N inputs, and an order-free bag of words."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from seqlab.encoders.base import Encoder, mlp
from seqlab.schema import model as schema


class FixedWindowEncoder(Encoder):
    """Each step sees only the last ``window`` inputs (``encoder=fixed_window``; Bengio et al. 2003's neural LM):

    ``o_t = MLP([x_{t-N+1}; …; x_t])`` — the ``N`` input vectors joined, zeros before the first step, then
    ``num_layers`` of ``Linear → tanh``. Causal by construction, so it serves language models, classification
    (``pool=last`` reads only the last ``N`` inputs — the point of the comparison) and tagging (left context only).

    ``x (B, T, I)`` → ``outputs (B, T, hidden_size)``; the continuation context is the last ``N-1`` inputs.

    >>> import torch
    >>> encoder = FixedWindowEncoder(4, causal=True, window=3, hidden_size=8)
    >>> outputs, state = encoder(torch.randn(2, 5, 4))
    >>> tuple(outputs.shape), tuple(state[0].shape), tuple(state.context.shape)
    ((2, 5, 8), (1, 2, 8), (2, 2, 4))
    """

    def __init__(
        self,
        input_size: int,
        causal: bool,
        num_states: int = 1,
        window: int = schema.FixedWindow.window,
        hidden_size: int = schema.FixedWindow.hidden_size,
        num_layers: int = schema.FixedWindow.num_layers,
        dropout: float = schema.FixedWindow.dropout,
    ):
        super().__init__(causal=True, num_states=num_states)
        self.window = window
        self.output_size = hidden_size
        self.net = mlp(window * input_size, hidden_size, num_layers, dropout)

    def encode(self, x: Tensor, mask: Tensor | None, lengths: Tensor | None, context: Any) -> tuple[Tensor, Tensor]:
        B, T, size = x.shape
        if mask is not None:
            x = x * mask[..., None]
        previous = context if context is not None else x.new_zeros(B, self.window - 1, size)
        full = torch.cat([previous, x], dim=1)  # (B, N-1+T, I)
        windows = full.unfold(1, self.window, 1).transpose(2, 3).reshape(B, T, self.window * size)
        # the context: the N-1 steps of `full` ending at each row's last real step (zeros before its first step)
        n = self.window - 1
        end = (lengths.to(x.device) if lengths is not None else torch.full((B,), T, device=x.device)) + n
        index = end[:, None] + torch.arange(n, device=x.device)[None, :]
        padded = torch.cat([x.new_zeros(B, n, size), full], dim=1)
        return self.net(windows), padded.gather(1, index[..., None].expand(B, n, size))


class BagOfWordsEncoder(Encoder):
    """Order-free: the mean (or sum, ``pool``) of the input vectors, then ``num_layers`` of ``Linear → tanh``
    (``encoder=bag_of_words``).

    Not causal (classification, translation): every step's output is the bag of the whole sequence, so any
    many_to_one ``pool`` gives the same vector. Causal (language models): step ``t`` gets the bag of ``x_1..x_t``.

    ``x (B, T, I)`` → ``outputs (B, T, hidden_size)``; the continuation context is the running sum and count.

    >>> import torch
    >>> encoder = BagOfWordsEncoder(4, causal=False, hidden_size=8)
    >>> x = torch.randn(1, 5, 4)
    >>> torch.allclose(encoder(x)[0], encoder(x.flip(1))[0], atol=1e-6)
    True
    """

    def __init__(
        self,
        input_size: int,
        causal: bool,
        num_states: int = 1,
        pool: str = schema.BagOfWords.pool,
        hidden_size: int = schema.BagOfWords.hidden_size,
        num_layers: int = schema.BagOfWords.num_layers,
        dropout: float = schema.BagOfWords.dropout,
    ):
        super().__init__(causal=causal, num_states=num_states)
        self.pool = pool
        self.output_size = hidden_size
        self.net = mlp(input_size, hidden_size, num_layers, dropout)

    def encode(
        self, x: Tensor, mask: Tensor | None, lengths: Tensor | None, context: Any
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        B, T, _ = x.shape
        real = torch.ones(B, T, 1, dtype=x.dtype, device=x.device) if mask is None else mask[..., None].to(x.dtype)
        x = x * real
        total, count = context if context is not None else (x.new_zeros(B, x.shape[-1]), x.new_zeros(B, 1))
        if self.causal:
            sums = total[:, None] + x.cumsum(1)
            counts = count[:, None] + real.cumsum(1)
        else:
            sums = (total + x.sum(1))[:, None].expand_as(x)
            counts = (count + real.sum(1))[:, None].expand(B, T, 1)
        bag = sums / counts.clamp(min=1) if self.pool == "mean" else sums
        return self.net(bag), (sums[:, -1], counts[:, -1])
