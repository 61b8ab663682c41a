"""Gated recurrent unit."""

from __future__ import annotations

import torch
from torch import Tensor

from seqlab.cells.base import Cell, State


class GRUCell(Cell):
    """GRU — Cho et al., "Learning phrase representations using RNN encoder-decoder", 2014 (cuDNN variant).

    .. math::
        r_t &= \\sigma(W_{xr} x_t + b_{xr} + W_{hr} h_{t-1} + b_{hr}) \\\\
        z_t &= \\sigma(W_{xz} x_t + b_{xz} + W_{hz} h_{t-1} + b_{hz}) \\\\
        n_t &= \\tanh(W_{xn} x_t + b_{xn} + r_t \\odot (W_{hn} h_{t-1} + b_{hn})) \\\\
        h_t &= (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}

    The reset gate multiplies the recurrent product *after* it is taken (as cuDNN and ``torch.nn.GRU`` do), so the
    recurrence stays one product ``W_h h_{t-1}`` and ``b_h`` is kept apart. Gate rows are stacked ``r, z, n``.
    """

    state_names = ("h",)
    gates = 3
    recurrent_bias = True
    fused_mode = "GRU"

    def update(self, xp_t: Tensor, hp_t: Tensor, state: State) -> State:
        xr, xz, xn = xp_t.chunk(3, dim=-1)
        hr, hz, hn = hp_t.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return ((1 - z) * n + z * state[0],)
