"""Long short-term memory and two of its variants: peephole connections and coupled input/forget gates."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.cells.base import Cell, State
from seqlab.schema import model as schema


def set_forget_bias(b_x: nn.Parameter, hidden_size: int, gate: int, forget_bias: float, sign: float = 1.0) -> None:
    """Fill the rows ``gate*H : (gate+1)*H`` of ``b_x`` with ``sign * forget_bias`` (0 leaves the default init).

    ``sign=-1`` serves the coupled LSTM, whose forget gate ``1 - i = σ(-a_i)`` gets its bias through ``b_i``."""
    if forget_bias:
        with torch.no_grad():
            b_x[gate * hidden_size : (gate + 1) * hidden_size].fill_(sign * forget_bias)


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
    ``forget_bias`` (default 1.0) initialises ``b_f``, the forget-gate rows of ``b_x``, so that ``f`` starts near
    σ(1) ≈ 0.73 and the cell remembers from the first step: Gers, Schmidhuber & Cummins 2000; Jozefowicz, Zaremba &
    Sutskever 2015; Keras' ``unit_forget_bias=True``. ``forget_bias=0`` keeps PyTorch's uniform init of ``b_f``.
    The LSTM has no separate ``b_h``: the fused path passes ``b_x`` and a zero ``b_hh`` to the kernel, so every path
    sees the same forget bias. State: ``(h, c)``, each ``(B, H)``.
    """

    state_names = ("h", "c")
    gates = 4
    gate_names = ("i", "f", "c", "o")  # c: the candidate c̃
    fused_mode = "LSTM"
    sums_projections = True

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = schema.LSTM.forget_bias):
        self.forget_bias = forget_bias
        super().__init__(input_size, hidden_size)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        set_forget_bias(self.b_x, self.hidden_size, gate=1, forget_bias=self.forget_bias)

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

    ``forget_bias`` initialises ``b_f`` as in :class:`LSTMCell` (default 1.0); the peepholes start at zero.
    """

    fused_mode = None

    def create_parameters(self) -> None:
        self.peephole = nn.Parameter(torch.empty(3, self.hidden_size))  # rows: p_i, p_f, p_o

    def reset_extra_parameters(self) -> None:
        nn.init.zeros_(self.peephole)

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        c_prev = state[1]
        p_i, p_f, p_o = self.peephole
        i, f, c_tilde, o = self.preactivation(xp_t, hp_t).chunk(4, dim=-1)
        # addcmul(a, p, c) = a + p ⊙ c: one kernel and one autograd node per step (docs/cells.md, Speed)
        f, i = torch.sigmoid(torch.addcmul(f, p_f, c_prev)), torch.sigmoid(torch.addcmul(i, p_i, c_prev))
        c = f * c_prev + i * torch.tanh(c_tilde)
        h = torch.sigmoid(torch.addcmul(o, p_o, c)) * torch.tanh(c)
        return h, c


class CoupledLSTMCell(Cell):
    """Coupled input–forget gate LSTM (CIFG) — Greff et al., "LSTM: A search space odyssey", 2017.

    One gate decides both what to forget and what to write: :math:`f_t = 1 - i_t`.

    .. math::
        i_t &= \\sigma(W_{xi} x_t + b_i + W_{hi} h_{t-1} \\,[+\\, p_i \\odot c_{t-1}]) \\\\
        c_t &= (1 - i_t) \\odot c_{t-1} + i_t \\odot \\tanh(W_{xc} x_t + b_c + W_{hc} h_{t-1}) \\\\
        o_t &= \\sigma(W_{xo} x_t + b_o + W_{ho} h_{t-1} \\,[+\\, p_o \\odot c_t]) \\\\
        h_t &= o_t \\odot \\tanh(c_t)

    ``peepholes=True`` adds the bracketed terms: Greff et al.'s CIFG is their vanilla LSTM (which has peephole
    connections, Gers & Schmidhuber 2000) with the forget gate coupled to the input gate, so the peepholes are
    ``p_i`` (from ``c_{t-1}``) and ``p_o`` (from ``c_t``), diagonal and zero at init; ``peepholes=False`` (default)
    is the variant without them.
    ``forget_bias`` (default 1.0, as for ``lstm``): since ``f_t = 1 - i_t = σ(-a_i)``, a forget bias of ``b`` starts
    the input-gate rows ``b_i`` at ``-b`` (``f`` ≈ 0.73 and ``i`` ≈ 0.27 at init for ``b = 1``).
    Gate rows are stacked ``i, c_tilde, o``. State: ``(h, c)``.
    """

    state_names = ("h", "c")
    gates = 3
    gate_names = ("i", "c", "o")
    sums_projections = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        forget_bias: float = schema.CoupledLSTM.forget_bias,
        peepholes: bool = schema.CoupledLSTM.peepholes,
    ):
        self.forget_bias = forget_bias
        self.peepholes = bool(peepholes)
        super().__init__(input_size, hidden_size)

    def create_parameters(self) -> None:
        # rows: p_i, p_o; None without peepholes (no parameter, so checkpoints of both variants stay distinct)
        self.peephole = nn.Parameter(torch.empty(2, self.hidden_size)) if self.peepholes else None

    def reset_extra_parameters(self) -> None:
        if self.peephole is not None:
            nn.init.zeros_(self.peephole)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        set_forget_bias(self.b_x, self.hidden_size, gate=0, forget_bias=self.forget_bias, sign=-1.0)

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        c_prev = state[1]
        i, c_tilde, o = self.preactivation(xp_t, hp_t).chunk(3, dim=-1)
        if self.peephole is not None:  # a Python attribute, not a tensor value: fixed per cell, fine to compile
            p_i, p_o = self.peephole
            i = torch.sigmoid(torch.addcmul(i, p_i, c_prev))  # as in PeepholeLSTMCell.update
            c = (1 - i) * c_prev + i * torch.tanh(c_tilde)
            o = torch.addcmul(o, p_o, c)
        else:
            i = torch.sigmoid(i)
            c = (1 - i) * c_prev + i * torch.tanh(c_tilde)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, forget_bias={self.forget_bias}, peepholes={self.peepholes}"
