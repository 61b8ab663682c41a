"""Independently recurrent neural network."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import Cell, State
from seqlab.schema import model as schema


class IndRNNCell(Cell):
    """IndRNN — Li, Li, Cook, Zhu & Gao, "Independently recurrent neural network (IndRNN)", CVPR 2018.

    Each unit sees only its own past, through a vector ``u`` instead of a matrix:

    .. math::  h_t = \\operatorname{ReLU}(W_x x_t + b_x + u \\odot h_{t-1}), \\qquad |u| \\le u_{max}

    There is no recurrent matrix (``W_h`` is None), so the whole update is pointwise and runs on the structured
    path. The gradient through ``T`` steps of a unit scales with ``u^T``, so the paper regulates ``|u|``: at most
    :math:`\\gamma^{1/T}` for a largest tolerated gradient growth ``γ``. The authors' implementation notes (README of
    github.com/Sunnydreamrain/IndRNN_pytorch, "Constraint of the recurrent weights") give ``MAG ** (1 / seq_len)``
    with MAG "2 or 10 or others", [-1, 1] for very long sequences, and "for simplicity, the constraint can always
    set to [-1, 1]" with little difference in performance; hence ``recurrent_max`` defaults to 1.0
    (``2 ** (1 / T)`` is batzner/indrnn's choice "as recommended in the paper"). :meth:`constrain_` clamps ``u`` to
    ``[-recurrent_max, recurrent_max]`` after every optimizer step. ``u`` starts uniform in ``[0, recurrent_max]``
    (the authors' ``Uniform(0, 1)`` for ReLU at the default).
    """

    recurrent_weight = False

    def __init__(self, input_size: int, hidden_size: int, recurrent_max: float = schema.IndRNN.recurrent_max):
        self.recurrent_max = float(recurrent_max)
        super().__init__(input_size, hidden_size)

    def create_parameters(self) -> None:
        self.u = nn.Parameter(torch.empty(self.hidden_size))

    def reset_extra_parameters(self) -> None:
        nn.init.uniform_(self.u, 0.0, self.recurrent_max)

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        return (torch.relu(xp_t + self.u * state[0]),)

    def recurrent_weights(self) -> dict[str, Tensor]:
        """``u``, a diagonal recurrent matrix: the diagnostics' σ_max of it is max|u|."""
        return {"u": self.u}

    @torch.no_grad()
    def constrain_(self) -> None:
        """Clamp ``u`` to ``[-recurrent_max, recurrent_max]`` in place (called after every optimizer step)."""
        self.u.clamp_(-self.recurrent_max, self.recurrent_max)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, recurrent_max={self.recurrent_max}"
