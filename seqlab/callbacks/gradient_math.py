"""The numbers of the gradient-flow diagnostics: curves aligned at each row's last real step, the vanishing index,
σ_max of the recurrent weights a cell declares, and gradient norms per layer.

The two curves (README, "Gradient flow"): the **step-loss gradient** ``‖∂L/∂h_t‖`` of the training loss, where
gradient mass lands; the **terminal-loss gradient** ``‖∂L_T/∂h_{T−k}‖`` of the loss of each sequence's last real
step only (:meth:`Head.terminal_loss <seqlab.heads.Head.terminal_loss>`), how far back a signal reaches.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch
from torch import Tensor

from seqlab.cells.base import Cell
from seqlab.cells.recurrent import last_step_index

#: what the index reads when the gradient at the far end is exactly 0 (it underflowed; see :func:`aligned_norms`)
VANISHED = "vanished below float precision"


def cell_label(layer: int, direction: int) -> str:
    return f"layer{layer}" + ("_reverse" if direction else "")


def recurrent_norms(cell: Cell) -> dict[str, float]:
    """``{name: σ_max}`` of the recurrent weights a cell declares (:meth:`Cell.recurrent_weights
    <seqlab.cells.Cell.recurrent_weights>`), per gate block of ``W_h`` (the stacked matrix's σ_max overstates each);
    a vector is diagonal, σ_max = max|u| (IndRNN); a cell without recurrent weights (minGRU, minLSTM) gives nothing."""
    weights = {name: weight.detach().float() for name, weight in cell.recurrent_weights().items()}
    return {name: float(w.abs().max() if w.dim() == 1 else torch.linalg.matrix_norm(w, ord=2))
            for name, w in weights.items()}


def aligned_norms(grads: Tensor, last: Tensor) -> list[float]:
    """``grads (T, B, ...)`` (∂L_T/∂h_t per step) → the curve ``G_k`` for ``k = 0 .. max(last)``, aligned at each
    row's own last real step ``last (B,)``:

    .. math:: G_k = \\sqrt{\\tfrac{1}{|R_k|} \\sum_{b \\in R_k} \\lVert \\partial L_T / \\partial h_{T_b - k, b}
              \\rVert_2^2}, \\qquad R_k = \\{b : T_b \\ge k\\}

    — the root mean square over the rows that reach ``k`` steps back, so neither padding nor the number of short
    rows changes a point of the curve."""
    # float64: in float32 an entry below ~1e-23 squares to 0, a false "vanished" (in float64: below ~1e-154)
    per_row = grads.detach().double().flatten(2).norm(dim=2)  # (T, B)
    K = int(last.max()) + 1
    k = torch.arange(K, device=per_row.device)[:, None]
    index = last[None, :] - k  # (K, B): the step k back from each row's end
    valid = index >= 0
    values = per_row.gather(0, index.clamp(min=0)) * valid
    counts = valid.sum(1).clamp(min=1)
    return (values.square().sum(1) / counts).sqrt().tolist()


def vanishing_index(curve: list[float], span: int) -> float:
    """``G_span / G_0`` of a terminal curve: how much of the last step's gradient is left ``span`` steps back
    (≪ 1: vanishing, ≫ 1: exploding). ``span`` is the shortest row's length − 1, so every row counts at both ends.
    Never NaN: 0 when ``G_span`` or ``G_0`` is 0, inf on an overflow."""
    near, far = curve[0], curve[span]
    if not math.isfinite(near) or not math.isfinite(far):
        return math.inf
    return far / near if near > 0 else 0.0


def last_step_only(lengths: Tensor | None, directions: int) -> Any:
    """A forward hook for the recurrent encoder of a head whose loss reads every step (:meth:`Head.pools_over_steps
    <seqlab.heads.Head.pools_over_steps>`): outputs detached at every step but each row's last real step
    (the backward half at step 0), so the head's loss reaches the encoder through the last step alone."""

    def hook(module: Any, args: Any, result: tuple[Tensor, Any]) -> tuple[Tensor, Any]:
        encoded, state = result
        B, T, size = encoded.shape
        last = last_step_index(lengths, B, T, encoded.device)
        keep = torch.zeros(B, T, size, dtype=torch.bool, device=encoded.device)
        keep[torch.arange(B, device=encoded.device), last, : size // directions] = True
        if directions == 2:
            keep[:, 0, size // 2 :] = True
        return torch.where(keep, encoded, encoded.detach()), state

    return hook


def stacked(grads: tuple[Tensor | None, ...], start: int, width: int, states: list[Any], i: int) -> Tensor:
    """The gradients of state ``i`` at every tapped step as one ``(T, B, H)`` tensor (zeros where unused)."""
    picked = [grads[start + t * width] for t in range(len(states))]
    return torch.stack([g if g is not None else torch.zeros_like(s[i]) for g, s in zip(picked, states)])


def group_norms(norms: dict[str, float]) -> dict[str, float]:
    """Parameter norms summed (in squares) per layer: ``model.encoder.cells.1.W_h`` → ``encoder.cell1``."""
    groups: dict[str, float] = defaultdict(float)
    for name, norm in norms.items():
        parts = name.removeprefix("model.").split(".")
        if "cells" in parts:
            i = parts.index("cells")
            key = ".".join(parts[:i] + [f"cell{parts[i + 1]}"])
        else:
            key = ".".join(parts[:-1]) or parts[0]
        groups[key] += norm * norm
    return {k: math.sqrt(v) for k, v in groups.items()}
