"""minGRU and minLSTM — Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs all we needed?", 2024.

Their gates read only ``x_t``, so the recurrence is linear in the state, :math:`h_t = a_t \\odot h_{t-1} + b_t`,
and all steps can run at once as a parallel scan. In log space (the paper's formulation, numerically safe):

.. math::
    A_t = \\sum_{s \\le t} \\log a_s, \\qquad
    h_t = e^{A_t} \\odot h_0 + \\exp\\Big(A_t + \\operatorname{logcumsumexp}_{s \\le t}(\\log b_s - A_s)\\Big)

which needs :math:`b_t > 0`: hence the paper's :math:`g(x) = x + \\tfrac12` for :math:`x \\ge 0`, :math:`\\sigma(x)`
otherwise, applied to the candidate state. ``h_0`` may have any sign (it is not taken to the log). A padded step
(mask False) has :math:`a_t = 1, b_t = 0` (:math:`\\log b_t = -\\infty`), so it keeps the state.

The same cells also implement the sequential :meth:`update`, so the structured and step paths give the same
numbers (up to the rounding of the log-space sums, which grows with the sequence length in float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells.base import Cell, State


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` of the paper's positive activation for candidate states, ``g(x) = x + 0.5`` for ``x >= 0``,
    ``sigmoid(x)`` below, computed without taking the log of a small number."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def linear_scan_log(log_a: Tensor, log_b: Tensor, h_0: Tensor, mask: Tensor | None) -> Tensor:
    """All states of :math:`h_t = a_t h_{t-1} + b_t` at once, from ``log_a, log_b (B, T, H)`` and ``h_0 (B, H)``.

    ``mask (B, T)``: False steps keep the state (``a = 1``, ``b = 0``). Returns ``h (B, T, H)``.
    """
    if mask is not None:
        m = mask[..., None]
        log_a = torch.where(m, log_a, 0.0)
        log_b = torch.where(m, log_b, float("-inf"))
    A = log_a.cumsum(dim=1)
    return torch.exp(A) * h_0[:, None] + torch.exp(A + torch.logcumsumexp(log_b - A, dim=1))


class _LinearRecurrenceCell(Cell):
    """Shared machinery: a subclass gives ``log a_t, log b_t`` from the projected input; the rest follows."""

    recurrent_weight = False

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """``xp = W_x x + b_x`` (any leading shape) → ``(log a, log b)``, each with last dimension ``H``."""
        raise NotImplementedError

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        log_a, log_b = self.log_coefficients(xp_t)
        return (torch.exp(log_a) * state[0] + torch.exp(log_b),)

    def scan(self, x: Tensor, state: State, mask: Tensor | None) -> tuple[Tensor, State]:
        """Parallel over time: ``x (B, T, I)``, ``state`` = ``(h_0 (B, H),)`` → ``(h (B, T, H), (h_T,))``."""
        log_a, log_b = self.log_coefficients(F.linear(x, self.W_x, self.b_x))
        h = linear_scan_log(log_a, log_b, state[0], mask)
        return h, (h[:, -1],)


class MinGRUCell(_LinearRecurrenceCell):
    """minGRU — Feng et al., "Were RNNs all we needed?", 2024 (log-space version).

    .. math::
        z_t &= \\sigma(W_{xz} x_t + b_z) \\\\
        \\tilde h_t &= g(W_{xh} x_t + b_h) \\\\
        h_t &= (1 - z_t) \\odot h_{t-1} + z_t \\odot \\tilde h_t

    so :math:`\\log a_t = -\\operatorname{softplus}(k_t)`, :math:`\\log b_t = -\\operatorname{softplus}(-k_t) +
    \\log g(\\cdot)` with :math:`k_t` the gate's pre-activation. Rows of ``W_x`` are stacked ``z, h_tilde``.
    No recurrent matrix: runs as a parallel scan (``path=scan``) or step by step (``structured``/``step``).
    """

    gates = 2

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        k, h_tilde = xp.chunk(2, dim=-1)
        log_z = -F.softplus(-k)
        log_one_minus_z = -F.softplus(k)
        return log_one_minus_z, log_z + log_g(h_tilde)


class MinLSTMCell(_LinearRecurrenceCell):
    """minLSTM — Feng et al., "Were RNNs all we needed?", 2024 (log-space version, normalised gates).

    .. math::
        f_t &= \\sigma(W_{xf} x_t + b_f), \\quad i_t = \\sigma(W_{xi} x_t + b_i) \\\\
        f'_t &= \\frac{f_t}{f_t + i_t}, \\quad i'_t = \\frac{i_t}{f_t + i_t} \\\\
        \\tilde h_t &= g(W_{xh} x_t + b_h) \\\\
        h_t &= f'_t \\odot h_{t-1} + i'_t \\odot \\tilde h_t

    With :math:`d_t = \\log f_t - \\log i_t`: :math:`\\log f'_t = -\\operatorname{softplus}(-d_t)`,
    :math:`\\log i'_t = -\\operatorname{softplus}(d_t)`. Rows of ``W_x`` are stacked ``f, i, h_tilde``.
    """

    gates = 3

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, h_tilde = xp.chunk(3, dim=-1)
        d = F.softplus(-k_i) - F.softplus(-k_f)  # log f - log i
        log_f_prime = -F.softplus(-d)
        log_i_prime = -F.softplus(d)
        return log_f_prime, log_i_prime + log_g(h_tilde)
