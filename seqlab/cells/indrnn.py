"""Independently recurrent neural network."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import Cell, State


class IndRNNCell(Cell):
    """IndRNN — Li, Li, Cook, Zhu & Gao, "Independently recurrent neural network (IndRNN)", CVPR 2018.

    Each unit sees only its own past, through a vector ``u`` instead of a matrix:

    .. math::  h_t = \\operatorname{ReLU}(W_x x_t + b_x + u \\odot h_{t-1})

    There is no recurrent matrix (``W_h`` is None), so the whole update is pointwise and runs on the structured
    path. ``u`` starts uniform in ``[0, recurrent_max]``; the paper keeps :math:`|u| \\le 2^{1/T}` (about 1) for
    long sequences, so ``recurrent_max`` defaults to 1.
    """

    state_names = ("h",)
    gates = 1
    recurrent_weight = False

    def __init__(self, input_size: int, hidden_size: int, recurrent_max: float = 1.0):
        self.recurrent_max = recurrent_max
        super().__init__(input_size, hidden_size)
        self.u = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, recurrent_max))

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        return (torch.relu(xp_t + self.u * state[0]),)
