"""Gated recurrent unit, in both conventions: reset after the recurrent product (cuDNN) or before it (Cho et al.)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import Cell, State
from seqlab.schema import model as schema


class GRUCell(Cell):
    """GRU — Cho et al., "Learning phrase representations using RNN encoder-decoder", 2014, in Keras' two conventions.

    ``reset_after=True`` (default; cuDNN, ``torch.nn.GRU``, Keras' default): the reset gate multiplies the recurrent
    product *after* it is taken, so the recurrence stays one product ``W_h h_{t-1}`` and ``b_h`` is kept apart:

    .. math::
        r_t &= \\sigma(W_{xr} x_t + b_{xr} + W_{hr} h_{t-1} + b_{hr}) \\\\
        z_t &= \\sigma(W_{xz} x_t + b_{xz} + W_{hz} h_{t-1} + b_{hz}) \\\\
        n_t &= \\tanh(W_{xn} x_t + b_{xn} + r_t \\odot (W_{hn} h_{t-1} + b_{hn})) \\\\
        h_t &= (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}

    ``reset_after=False`` (Cho et al. 2014 eq. 5–8, the Coursera sequence-models notes, Keras' ``reset_after=False``):
    the reset gate acts on ``h_{t-1}`` *before* the product, and there is one bias per gate (no ``b_h``):

    .. math::
        n_t = \\tanh(W_{xn} x_t + b_{xn} + W_{hn} (r_t \\odot h_{t-1}))

    (``r_t``, ``z_t`` and ``h_t`` as above without ``b_h``). The product then depends on ``r_t``, so the step is not
    of the form ``update(W_x x_t + b_x, W_h h_{t-1})``: this variant runs on the ``step`` path only (no structured,
    no fused kernel). Gate rows are stacked ``r, z, n`` in both. Shapes: ``x_t (B, I)``, ``h_t (B, H)``.
    """

    gates = 3
    gate_names = ("r", "z", "n")
    recurrent_bias = True
    fused_mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = schema.GRU.reset_after):
        self.reset_after = bool(reset_after)
        if not self.reset_after:  # instance attributes shadow the class's: step() only, one bias per gate
            self.recurrent_bias = False
            self.structured = False
            self.fused_mode = None
        super().__init__(input_size, hidden_size)

    def update(self, xp_t: Tensor, hp_t: Tensor, state: State) -> State:
        xr, xz, xn = xp_t.chunk(3, dim=-1)
        hr, hz, hn = hp_t.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return ((1 - z) * n + z * state[0],)

    def step(self, x_t: Tensor, state: State) -> State:
        if self.reset_after:
            return super().step(x_t, state)
        H, h = self.hidden_size, state[0]
        xr, xz, xn = nn.functional.linear(x_t, self.W_x, self.b_x).chunk(3, dim=-1)
        hr, hz = torch.mm(h, self.W_h[: 2 * H].t()).chunk(2, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(torch.addmm(xn, r * h, self.W_h[2 * H :].t()))  # reset before the product
        return ((1 - z) * n + z * h,)

    def describe(self) -> str:
        return "GRUCell" if self.reset_after else "GRUCell with reset_after=false (reset before the recurrent product)"

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, reset_after={self.reset_after}"
