"""Long short-term memory and two of its variants: peephole connections and coupled input/forget gates."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import Cell, State


class LSTMCell(Cell):
    """LSTM — Hochreiter & Schmidhuber 1997, with the forget gate of Gers, Schmidhuber & Cummins 2000.

    .. math::
        i_t &= \\sigma(W_{xi} x_t + b_i + W_{hi} h_{t-1}) \\\\
        f_t &= \\sigma(W_{xf} x_t + b_f + W_{hf} h_{t-1}) \\\\
        \\tilde c_t &= \\tanh(W_{xc} x_t + b_c + W_{hc} h_{t-1}) \\\\
        o_t &= \\sigma(W_{xo} x_t + b_o + W_{ho} h_{t-1}) \\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot \\tilde c_t \\\\
        h_t &= o_t \\odot \\tanh(c_t)

    Gate rows are stacked ``i, f, c_tilde, o`` as in ``torch.nn.LSTM`` (its fused equivalent).
    ``forget_bias`` initialises ``b_f`` (1.0 is the usual advice of Jozefowicz et al. 2015; 0 keeps PyTorch's init).
    State: ``(h, c)``, each ``(B, H)``.
    """

    state_names = ("h", "c")
    gates = 4
    fused_mode = "LSTM"
    sums_projections = True

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        self.forget_bias = forget_bias
        super().__init__(input_size, hidden_size)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.forget_bias:
            H = self.hidden_size
            with torch.no_grad():
                self.b_x[H : 2 * H].fill_(self.forget_bias)

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        i, f, c_tilde, o = self.preactivation(xp_t, hp_t).chunk(4, dim=-1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(c_tilde)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class PeepholeLSTMCell(LSTMCell):
    """Peephole LSTM — Gers & Schmidhuber, "Recurrent nets that time and count", 2000.

    The gates also look at the cell state through diagonal weights ``p_i, p_f, p_o``:

    .. math::
        i_t &= \\sigma(W_{xi} x_t + b_i + W_{hi} h_{t-1} + p_i \\odot c_{t-1}) \\\\
        f_t &= \\sigma(W_{xf} x_t + b_f + W_{hf} h_{t-1} + p_f \\odot c_{t-1}) \\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot \\tanh(W_{xc} x_t + b_c + W_{hc} h_{t-1}) \\\\
        o_t &= \\sigma(W_{xo} x_t + b_o + W_{ho} h_{t-1} + p_o \\odot c_t) \\\\
        h_t &= o_t \\odot \\tanh(c_t)
    """

    fused_mode = None

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__(input_size, hidden_size, forget_bias)
        self.peephole = nn.Parameter(torch.zeros(3, hidden_size))  # rows: p_i, p_f, p_o

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        c_prev = state[1]
        p_i, p_f, p_o = self.peephole
        i, f, c_tilde, o = self.preactivation(xp_t, hp_t).chunk(4, dim=-1)
        c = torch.sigmoid(f + p_f * c_prev) * c_prev + torch.sigmoid(i + p_i * c_prev) * torch.tanh(c_tilde)
        h = torch.sigmoid(o + p_o * c) * torch.tanh(c)
        return h, c


class CoupledLSTMCell(Cell):
    """Coupled input–forget gate LSTM (CIFG) — Greff et al., "LSTM: A search space odyssey", 2017.

    One gate decides both what to forget and what to write: :math:`f_t = 1 - i_t`.

    .. math::
        i_t &= \\sigma(W_{xi} x_t + b_i + W_{hi} h_{t-1}) \\\\
        c_t &= (1 - i_t) \\odot c_{t-1} + i_t \\odot \\tanh(W_{xc} x_t + b_c + W_{hc} h_{t-1}) \\\\
        o_t &= \\sigma(W_{xo} x_t + b_o + W_{ho} h_{t-1}) \\\\
        h_t &= o_t \\odot \\tanh(c_t)

    Gate rows are stacked ``i, c_tilde, o``. State: ``(h, c)``.
    """

    state_names = ("h", "c")
    gates = 3
    sums_projections = True

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        i, c_tilde, o = self.preactivation(xp_t, hp_t).chunk(3, dim=-1)
        i = torch.sigmoid(i)
        c = (1 - i) * state[1] + i * torch.tanh(c_tilde)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c
