"""Elman recurrences: the vanilla tanh RNN, the ReLU RNN, and the IRNN (ReLU with identity initialisation)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import Cell, State
from seqlab.schema import model as schema


class TanhRNNCell(Cell):
    """Vanilla (Elman) RNN — Elman, "Finding structure in time", 1990.

    .. math::  h_t = \\tanh(W_x x_t + b_x + W_h h_{t-1})

    Shapes: ``x_t (B, I)``, ``h_t (B, H)``. Fused equivalent: ``torch.nn.RNN(nonlinearity="tanh")``.
    """

    fused_mode = "RNN_TANH"
    sums_projections = True

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        return (torch.tanh(self.preactivation(xp_t, hp_t)),)


class ReLURNNCell(Cell):
    """Elman RNN (Elman 1990) with the rectifier of Nair & Hinton, "Rectified linear units improve restricted
    Boltzmann machines", 2010.

    .. math::  h_t = \\max(0, W_x x_t + b_x + W_h h_{t-1})

    Fused equivalent: ``torch.nn.RNN(nonlinearity="relu")``.
    """

    fused_mode = "RNN_RELU"
    sums_projections = True

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        return (torch.relu(self.preactivation(xp_t, hp_t)),)


class IRNNCell(ReLURNNCell):
    """IRNN — Le, Jaitly & Hinton, "A simple way to initialize recurrent networks of rectified linear units", 2015.

    .. math::  h_t = \\max(0, W_x x_t + b_x + W_h h_{t-1}),\\quad W_h^{(0)} = s I,\\ b_x^{(0)} = 0

    ``recurrent_scale`` is ``s``, default 1.0: the identity of the paper's long-range tasks (adding problem, pixel
    MNIST), which at init passes ``h`` and the gradient ``∂L/∂h_t`` through each step unchanged. A smaller ``s``
    shrinks them by ``s`` per step at init (0.01 → 10⁻² per step, 10⁻²⁰ over 10 steps), so it makes the network
    *forget*: Le et al. use it only "for tasks that exhibit less long range dependencies" (their iRNN, 0.01·I, on
    TIMIT speech), never for long-range ones.
    The input weights are drawn from N(0, ``input_std``²), as in the paper's experiments (0.001).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        recurrent_scale: float = schema.IRNN.recurrent_scale,
        input_std: float = schema.IRNN.input_std,
    ):
        self.recurrent_scale = recurrent_scale
        self.input_std = input_std
        super().__init__(input_size, hidden_size)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.normal_(self.W_x, 0.0, self.input_std)
            self.W_h.copy_(torch.eye(self.hidden_size) * self.recurrent_scale)
            self.b_x.zero_()
