"""The fused path of :class:`~seqlab.cells.Recurrent`: ``torch.nn``'s RNN/LSTM/GRU kernels (oneDNN on the CPU,
cuDNN on CUDA) for cells that name a ``fused_mode``, over padded batches cut at each distinct length instead of
packed (packing's CPU backward grows with the square of the length)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import _VF, Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.cells.base import Cell, State

if TYPE_CHECKING:
    from seqlab.cells.recurrent import Recurrent

#: what one kernel call of the fused path's length segments costs, in floats of the zero-fill that packing's backward
#: does instead (measured on this project's 2-core CPU, LSTM 256: ~1 ns per float, ~0.4 ms per segment, forward and
#: backward); see :func:`packing_is_cheaper`
SEGMENT_COST_IN_FLOATS = 400_000


def flat_weights(cells: Iterable[Cell]) -> list[Tensor]:
    """``W_x, W_h, b_x, b_h`` of each cell in turn, the weights ``torch._VF``'s kernels take (a zero ``b_h`` where the
    cell has none)."""
    return [w for c in cells for w in (c.W_x, c.W_h, c.b_x, c.b_h if c.b_h is not None else torch.zeros_like(c.b_x))]


def forward_fused(rnn: Recurrent, x: Tensor, lengths: Tensor | None, state: State) -> tuple[Tensor, State]:
    """``rnn`` over ``x (B, T, I)`` with ``torch.nn``'s kernel for its cells' ``fused_mode``: in one call without
    lengths; padded rows by :func:`forward_fused_segments` on the CPU, packed where that is cheaper or on CUDA."""
    mode = rnn.cells[0].fused_mode
    fn = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}[mode]
    hx: Any = tuple(s.contiguous() for s in state) if mode == "LSTM" else state[0].contiguous()
    args = (flat_weights(rnn.cells), True, rnn.num_layers, rnn.dropout, rnn.training, rnn.num_directions == 2)
    if lengths is None:
        result = fn(x, hx, *args, True)
        return result[0], tuple(result[1:])
    if x.device.type == "cpu" and not packing_is_cheaper(rnn, lengths):
        return forward_fused_segments(rnn, fn, x, lengths, state)
    # cuDNN runs packed sequences natively (one kernel, no per-step slices); on the CPU, short batches of many
    # lengths, where packing's backward costs less than one kernel call per length
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    hx = tuple(h.index_select(1, order) for h in hx) if mode == "LSTM" else hx.index_select(1, order)
    result = fn(packed.data, packed.batch_sizes, hx, *args)
    out = type(packed)(result[0], packed.batch_sizes, order, unorder)
    output, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return output, tuple(s.index_select(1, unorder) for s in result[1:])


def packing_is_cheaper(rnn: Recurrent, lengths: Tensor) -> bool:
    """Whether packing a padded batch costs less than one kernel call per distinct length, on the CPU: packing's
    backward zero-fills about ``steps × tokens × gates·H`` floats, a segment costs about
    :data:`SEGMENT_COST_IN_FLOATS`. Short batches of many lengths pack (tagging without bucketing: 20 steps, 15
    lengths); long ones never do."""
    lengths = lengths.detach().cpu()
    if bool((lengths == 0).any()):  # packing refuses empty rows
        return False
    segments = len(set(lengths.tolist()))
    packed_floats = int(lengths.max()) * int(lengths.sum()) * rnn.cells[0].W_x.shape[0]
    return packed_floats < segments * SEGMENT_COST_IN_FLOATS


def forward_fused_segments(rnn: Recurrent, fn: Callable[..., Any], x: Tensor, lengths: Tensor, state: State):
    """The fused kernels over padded rows of different lengths, without packing (CPU; CUDA packs).

    ``pack_padded_sequence`` would give the same numbers, but the CPU kernel then takes every step's rows as a
    slice of the packed input, and autograd backs each slice with a zero tensor of the whole input: backward
    grows with the square of the length (a 300-step batch of tunes spent 87 % of its step in ``fill_``;
    benchmarks/README.md). Here the rows are sorted longest first and time is cut at each distinct length:
    segment ``k`` runs steps ``[L_{k-1}, L_k)`` of the rows still running (a prefix of the sorted rows) in one
    unpacked kernel call (oneDNN on CPU), starting from the state the previous segment ended in. A row's final
    state is the state of the segment that ends at its length, and its outputs past that are zero — what
    packing gives, with one kernel call per distinct length instead of one slice per step. Directions and layers
    run one cell at a time (dropout between layers as on the per-step paths); a reversed direction reads
    each row reversed within its own length."""
    T = x.shape[1]
    lengths_cpu = lengths.detach().to("cpu", torch.long)
    order = torch.argsort(lengths_cpu, descending=True, stable=True)
    unorder = torch.argsort(order)  # the inverse permutation
    sorted_lengths = lengths_cpu[order]
    ends = sorted(set(sorted_lengths.tolist()) - {0})
    rows = [int((sorted_lengths >= end).sum()) for end in ends]  # rows running in each segment
    order_d, unorder_d = order.to(x.device), unorder.to(x.device)
    lengths_d = sorted_lengths.to(x.device)
    layer_input = x.index_select(0, order_d).transpose(0, 1)  # (T, B, I), time-major, longest row first
    if ends and ends[-1] < T:
        layer_input = layer_input[: ends[-1]]
    state = tuple(s.index_select(1, order_d) for s in state)

    def run_cell(index: int, inp: Tensor) -> tuple[Tensor, State]:
        s0 = tuple(s[index : index + 1] for s in state)
        return fused_cell_segments(fn, rnn.cells[index], inp, s0, ends, rows, rnn.training)

    reverse = partial(reverse_padded, lengths=lengths_d, time_dim=0)
    layer_input, finals = rnn.stack_layers(layer_input, run_cell, reverse)
    if layer_input.shape[0] < T:
        layer_input = F.pad(layer_input, (0, 0, 0, 0, 0, T - layer_input.shape[0]))
    output = layer_input.transpose(0, 1).index_select(0, unorder_d)
    final_state = tuple(torch.cat([f[i] for f in finals]).index_select(1, unorder_d) for i in range(len(state)))
    return output, final_state


def fused_cell_segments(
    fn: Callable[..., Any], cell: Cell, x: Tensor, state: State, ends: list[int], rows: list[int], training: bool
) -> tuple[Tensor, State]:
    """One cell over time-major ``x (T, B, I)`` (rows sorted longest first), one kernel call per segment (see
    :func:`forward_fused_segments`); ``state``: ``(1, B, H)`` tensors → ``outputs (T, B, H)``, final state."""
    B = x.shape[1]
    weights = flat_weights([cell])
    lstm = cell.fused_mode == "LSTM"
    starts = [0, *ends[:-1]]
    pieces = x.split([end - start for start, end in zip(starts, ends)]) if ends else []
    outs: list[Tensor] = []
    done: list[State] = []  # final states of the rows that end at each segment, last rows first
    running = B
    for piece, n in zip(pieces, rows):
        if n < running:  # rows n..running end before this segment: their final state is the current one
            done.append(tuple(s[:, n:running] for s in state))
            state = tuple(s[:, :n] for s in state)
            running = n
        hx = state if lstm else state[0]
        result = fn(piece[:, :n], hx, weights, True, 1, 0.0, training, False, False)
        out = result[0]
        outs.append(F.pad(out, (0, 0, 0, B - n)) if n < B else out)
        state = tuple(result[1:])
    done.append(state)
    final = tuple(torch.cat([d[i] for d in reversed(done)], dim=1) for i in range(len(state)))
    output = torch.cat(outs) if outs else x.new_zeros(0, B, cell.hidden_size)
    return output, final


def reverse_padded(x: Tensor, lengths: Tensor | None, time_dim: int = 1) -> Tensor:
    """Reverse each sequence of ``x (B, T, ...)`` (time-major ``(T, B, ...)`` with ``time_dim=0``) within its own
    length; padding stays where it is."""
    if lengths is None:
        return x.flip(time_dim)
    t = torch.arange(x.shape[time_dim], device=x.device)[None, :]
    L = lengths.to(x.device)[:, None]
    index = torch.where(t < L, L - 1 - t, t)  # (B, T)
    index = index if time_dim == 1 else index.t()
    return x.gather(time_dim, index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))
