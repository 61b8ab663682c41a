"""Shared builders for the cell tests: tiny sizes, every built-in cell and the paths it supports."""

from __future__ import annotations

import torch
from torch import Tensor

from seqlab.cells import Recurrent
from seqlab.cells.recurrent import supported_paths
from seqlab.registry import CELLS

BUILTIN_CELLS = [
    "rnn_tanh",
    "rnn_relu",
    "irnn",
    "lstm",
    "peephole_lstm",
    "coupled_lstm",
    "gru",
    "indrnn",
    "mingru",
    "minlstm",
]
CELL_PATHS = [(cell, path) for cell in BUILTIN_CELLS for path in supported_paths(cell)]


def build(cell: str, path: str, seed: int = 0, dtype: torch.dtype = torch.float32, **kwargs) -> Recurrent:
    """A ``Recurrent`` whose weights depend only on ``seed`` (not on the path), with non-trivial extra parameters."""
    torch.manual_seed(seed)
    rnn = Recurrent(cell, path=path, **kwargs).to(dtype)
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.endswith(("peephole", "u")):  # zero / [0, 1] at init: make them matter
                p.uniform_(-0.5, 0.5)
    return rnn


def random_state(rnn: Recurrent, batch: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, ...]:
    layers = rnn.num_layers * rnn.num_directions
    return tuple(torch.randn(layers, batch, rnn.hidden_size, dtype=dtype) for _ in rnn.state_names)


def relative_error(a: Tensor, b: Tensor) -> float:
    """max |a - b| / max |b| (absolute when ``b`` is all zeros)."""
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


assert sorted(BUILTIN_CELLS) == sorted(n for n in CELLS.names() if CELLS.owner(n) == "seqlab")
