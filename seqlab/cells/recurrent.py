"""The time-loop runner: stacks, directions, masks and execution paths for any :class:`~seqlab.cells.Cell`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.cells.base import Cell, State
from seqlab.cells.compiled import compile_step_function
from seqlab.registry import CELLS, ConfigError
from seqlab.schema import model as schema

PATHS = ("auto", "fused", "structured", "step", "scan")


class _StepGrads:
    """What the structured loop keeps to form the recurrent weight gradient as one product after the loop:
    the states ``h_0`` and ``h_1..h_T`` (time-major, set after the loop) and ``∂L/∂hp_t`` of steps ``1..T-1``,
    copied by backward hooks into one buffer (so each step's gradient tensor is freed, and its memory reused, at
    once)."""

    def __init__(self, steps: int, h_0: Tensor):
        self.steps = steps
        self.h_0 = h_0.detach()
        self.h_seq: Tensor | None = None
        self.d_hp: Tensor | None = None  # (T - 1, B, rows), allocated by the first hook that fires
        self.recorded = [False] * steps

    def record(self, t: int, d_hp: Tensor | None) -> None:
        if d_hp is None:  # no gradient reaches this step (autograd.grad of an output that does not depend on it)
            return
        if self.d_hp is None:
            self.d_hp = d_hp.new_empty(self.steps - 1, *d_hp.shape)
        self.d_hp[t - 1].copy_(d_hp)
        self.recorded[t] = True


class _RecurrentWeightGrad(torch.autograd.Function):
    """Identity on ``hp_0``, attached to ``W_h``. Its backward runs after every later step's (it depends on all of
    them), so it can form ``∂L/∂W_h = Σ_t ∂L/∂hp_tᵀ h_{t-1}`` as one matrix product over all steps."""

    @staticmethod
    def forward(ctx, hp: Tensor, W_h: Tensor, grads: _StepGrads) -> Tensor:
        ctx.grads, ctx.weight_dtype = grads, W_h.dtype
        return hp.view_as(hp)

    @staticmethod
    def backward(ctx, d_hp: Tensor):
        grads = ctx.grads
        # under autocast (bf16-mixed) hp_t is bf16 while the states may be float32: multiply in hp_t's dtype, as
        # autograd does for the bf16 copy of W_h that autocast makes, and return the weight's own dtype
        d_W_h = d_hp.t().mm(grads.h_0.to(d_hp.dtype))  # step 0: h_{-1} is the initial state
        if grads.d_hp is not None:
            for t, recorded in enumerate(grads.recorded[1:]):
                if not recorded:  # a step the loss does not reach
                    grads.d_hp[t].zero_()
            d_W_h.addmm_(grads.d_hp.flatten(0, 1).t(), grads.h_seq[:-1].flatten(0, 1).to(d_hp.dtype))
        grads.d_hp, grads.recorded = None, [False] * grads.steps  # a later backward (retained graph) starts afresh
        return d_hp, d_W_h.to(ctx.weight_dtype), None


class _RecurrentWeightGradFromInputs(torch.autograd.Function):
    """Identity on the input projections ``xp (T, B, rows)``, attached to ``W_h``, for cells that read only
    ``xp_t + hp_t`` (then ``∂L/∂hp_t = ∂L/∂xp_t``). Its backward runs after every step's, and forms
    ``∂L/∂W_h = Σ_t ∂L/∂xp_tᵀ h_{t-1}`` as one product, with no per-step bookkeeping."""

    @staticmethod
    def forward(ctx, xp: Tensor, W_h: Tensor, h_0: Tensor, h_seq: list[Tensor]) -> Tensor:
        ctx.h_0, ctx.h_seq, ctx.weight_dtype = h_0.detach(), h_seq, W_h.dtype
        return xp.view_as(xp)

    @staticmethod
    def backward(ctx, d_xp: Tensor):
        # dtypes as in _RecurrentWeightGrad: under autocast d_xp is bf16, the states may be float32
        d_W_h = d_xp[0].t().mm(ctx.h_0.to(d_xp.dtype))  # step 0: h_{-1} is the initial state
        if d_xp.shape[0] > 1:
            d_W_h.addmm_(d_xp[1:].flatten(0, 1).t(), ctx.h_seq[0][:-1].flatten(0, 1).to(d_xp.dtype))
        return d_xp, d_W_h.to(ctx.weight_dtype), None, None


class _PackedRecurrentWeight:
    """``W_h`` reordered once per forward into oneDNN's blocked layout, so each step's recurrent product is one oneDNN
    matmul on a prepacked weight (the way oneDNN's own RNN kernels work) instead of a BLAS call that repacks the
    weight every step. The transpose, for the backward products ``∂L/∂h_{t-1} = ∂L/∂hp_t W_h``, is packed at the
    first backward step. Measured on one CPU thread at batch 32: 1.5× faster per-step products at hidden 1024
    (docs/cells.md)."""

    def __init__(self, W_h: Tensor, batch: int):
        self.W_h, self.batch = W_h.detach(), batch
        self.forward_weight = torch.ops.mkldnn._reorder_linear_weight(self.W_h, batch)
        self._backward_weight: Tensor | None = None

    def backward_weight(self) -> Tensor:
        if self._backward_weight is None:
            self._backward_weight = torch.ops.mkldnn._reorder_linear_weight(self.W_h.t().contiguous(), self.batch)
        return self._backward_weight

    @staticmethod
    def usable(W_h: Tensor, steps: int) -> bool:
        """Float32 on the CPU, oneDNN built in and enabled, no autocast, and enough steps to repay the packing."""
        return (
            W_h.device.type == "cpu"
            and W_h.dtype == torch.float32
            and W_h.shape[1] >= PACKED_MIN_HIDDEN
            and steps >= PACKED_MIN_STEPS
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and not torch.is_autocast_enabled("cpu")
        )


#: what one kernel call of the fused path's length segments costs, in floats of the zero-fill that packing's backward
#: does instead (measured on this project's 2-core CPU, LSTM 256: ~1 ns per float, ~0.4 ms per segment, forward and
#: backward); see :meth:`Recurrent._packing_is_cheaper`
SEGMENT_COST_IN_FLOATS = 400_000

#: the prepacked recurrent product is used from this hidden size and this many steps up (below, packing costs more
#: than it saves: measured in docs/cells.md)
PACKED_MIN_HIDDEN = 512
PACKED_MIN_STEPS = 8


class _PackedRecurrentProduct(torch.autograd.Function):
    """``base + h W_hᵀ`` with a :class:`_PackedRecurrentWeight`: ``base`` is a step's input projection
    ``xp_t (B, rows)`` (cells that sum the two), ``b_h (rows,)``, or None. The weight's gradient is not formed here
    (the runner forms it after the loop from what it keeps); the gradients of ``h`` and ``base`` are."""

    @staticmethod
    def forward(ctx, h: Tensor, base: Tensor | None, packed: _PackedRecurrentWeight) -> Tensor:
        ctx.packed = packed
        ctx.base_dim = None if base is None else base.dim()
        h = h.contiguous()
        if base is not None and base.dim() == 2:
            return torch.ops.mkldnn._linear_pointwise.binary(h, base.contiguous(), packed.forward_weight, None, "add")
        return torch.ops.mkldnn._linear_pointwise(h, packed.forward_weight, base, "none", [], "")

    @staticmethod
    @once_differentiable  # the oneDNN products have no derivative of their own: a double backward is an error
    def backward(ctx, d: Tensor):
        d_h = d_base = None
        if ctx.needs_input_grad[0]:
            d_h = torch.ops.mkldnn._linear_pointwise(d.contiguous(), ctx.packed.backward_weight(), None, "none", [], "")
        if ctx.needs_input_grad[1]:
            d_base = d if ctx.base_dim == 2 else d.sum(0)
        return d_h, d_base, None


def supported_paths(cell: str | type[Cell] | Cell) -> list[str]:
    """The execution paths a cell can run, in the order ``fused, structured, step, scan`` (``step`` always).

    Given an instance, its own attributes count (options such as GRU's ``reset_after=False`` remove paths)."""
    cls = CELLS.get(cell) if isinstance(cell, str) else cell
    paths = ["fused"] if cls.fused_mode is not None else []
    if cls.structured:
        paths.append("structured")
    paths.append("step")
    if cls.scan is not None:
        paths.append("scan")
    return paths


def checked(cell: Cell, method: str) -> Callable[..., State]:
    """``cell.update`` or ``cell.step``, checking what it returns (the runner calls it at each forward's first step
    only): anything but one tensor per state name, shaped as the state it replaces, is one line naming the cell and
    what it returned, not a failure steps later wherever the state is read."""
    fn = getattr(cell, method)

    def call(*args: Any) -> State:
        new, old = fn(*args), args[-1]
        items = new if isinstance(new, (tuple, list)) else None
        if items is not None and len(items) == len(old):
            if all(isinstance(n, Tensor) and n.shape == o.shape for n, o in zip(items, old)):
                return new
        bare = f"a bare tensor {tuple(new.shape)}" if isinstance(new, Tensor) else type(new).__name__
        shapes = ", ".join(str(tuple(n.shape)) if isinstance(n, Tensor) else type(n).__name__ for n in items or ())
        got = bare if items is None else f"a {type(new).__name__} of {len(items)} ({shapes})"
        raise ConfigError(f"cell {type(cell).__name__}: {method}() returned {got}; it must return the state tuple "
                          f"{cell.state_names}, one {tuple(old[0].shape)} tensor each (`return (h,)` for one state)")

    return call


def length_mask(lengths: Tensor | None, steps: int, device: torch.device) -> Tensor | None:
    """``(B, T)`` boolean mask, True on real steps; None when there are no lengths."""
    if lengths is None:
        return None
    return torch.arange(steps, device=device)[None, :] < lengths.to(device)[:, None]


def last_step_index(lengths: Tensor | None, batch: int, steps: int, device: torch.device) -> Tensor:
    """Each row's last real step ``(B,)``: ``lengths - 1`` (clamped to the steps there are), or ``steps - 1``."""
    if lengths is None:
        return torch.full((batch,), steps - 1, dtype=torch.long, device=device)
    return lengths.to(device=device, dtype=torch.long).clamp(min=1, max=steps) - 1


def _reverse_time_major(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row of time-major ``x (T, B, ...)`` within its own length; padding stays where it is."""
    T, B = x.shape[:2]
    t = torch.arange(T, device=x.device)[:, None]
    L = lengths[None, :]
    index = torch.where(t < L, L - 1 - t, t)
    return x.gather(0, index.view(T, B, *([1] * (x.dim() - 2))).expand_as(x))


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x (B, T, ...)`` within its own length; padding stays where it is."""
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device)[None, :]
    L = lengths.to(x.device)[:, None]
    index = torch.where(t < L, L - 1 - t, t)
    return x.gather(1, index.view(B, T, *([1] * (x.dim() - 2))).expand_as(x))


class Recurrent(nn.Module):
    """Runs a cell over sequences: stacked layers, both directions, padding masks, and four execution paths.

    Input ``x (B, T, I)`` with optional ``lengths (B,)`` and ``state`` (a tuple, one tensor per state name, each
    ``(num_layers * D, B, H)`` as in ``torch.nn.LSTM``); returns ``output (B, T, D*H)`` (zero past each length) and
    the final state in the same layout (taken at each sequence's last real step). ``D`` is 2 when bidirectional.

    Paths (``path=``): ``fused`` — ``torch.nn``'s RNN/LSTM/GRU kernels (oneDNN/cuDNN) for cells that name a
    ``fused_mode``; ``structured`` — input projection of all steps in one product, one recurrent product per step,
    the cell's pointwise ``update``, and the recurrent weight gradient as one product after the loop; ``step`` — the
    cell's general ``step``; ``scan`` — the cell's parallel ``scan``. ``auto`` picks the fastest the cell allows.
    With ``tap_states`` set (the gradient-flow probe), a forward keeps every step's state tensors in ``tapped`` so
    that ``torch.autograd.grad`` can be asked for ∂L/∂h_t and ∂L/∂c_t; it then runs the per-step path
    (``structured``, or ``step`` for cells without ``update``) whatever ``path`` says, because the fused kernels
    and the scan hide the states from autograd (all paths give the same numbers, tested).

    >>> rnn = Recurrent("lstm", input_size=8, hidden_size=16, num_layers=2)
    >>> out, (h, c) = rnn(torch.randn(3, 5, 8))
    >>> tuple(out.shape), tuple(h.shape)
    ((3, 5, 16), (2, 3, 16))
    """

    def __init__(
        self,
        cell: str | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = schema.Recurrent.num_layers,
        bidirectional: bool = schema.Recurrent.bidirectional,
        dropout: float = schema.Recurrent.dropout,
        path: str = schema.Recurrent.path,
        compile: bool = schema.Recurrent.compile,
        **cell_options: Any,
    ):
        super().__init__()
        cell_cls = CELLS.get(cell) if isinstance(cell, str) else cell
        if num_layers < 1:
            raise ConfigError(f"model.encoder.num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.encoder.dropout must be in [0, 1), got {dropout}")
        if path not in PATHS:
            raise ConfigError(f"model.encoder.path must be one of {', '.join(PATHS)}, got '{path}'")
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size = hidden_size
        self.input_size = input_size
        self.dropout = dropout
        self.output_size = hidden_size * self.num_directions
        try:
            self.cells = nn.ModuleList(
                cell_cls(input_size if layer == 0 else self.output_size, hidden_size, **cell_options)
                for layer in range(num_layers)
                for _ in range(self.num_directions)
            )
        except TypeError as err:
            raise ConfigError(f"model.cell: {cell_cls.__name__} does not accept these options ({err})") from None
        first = self.cells[0]
        self.state_names = first.state_names
        self.path = path
        self._check_path(path)
        self.compile = compile
        self._compiled_fns: dict[tuple[int, str], Callable[..., State]] = {}
        #: set to True (the gradient-flow probe) to keep every step's state in :attr:`tapped`
        self.tap_states = False
        #: while tapping: {(layer, direction): [state_t per step]}, each state a tuple of ``(B, H)`` tensors (one per
        #: state name) in the order the cell ran — for direction 1, run step j of row b is its real step
        #: ``L_b - 1 - j``. Forwards append, so a decoder called once per step builds its whole sequence.
        self.tapped: dict[tuple[int, int], list[State]] = {}

    def _check_path(self, path: str) -> None:
        cell = self.cells[0]
        name, paths = cell.describe(), f"(its paths: auto, {', '.join(supported_paths(cell))})"
        if path == "fused" and cell.fused_mode is None:
            raise ConfigError(f"model.encoder.path=fused: {name} has no fused torch.nn equivalent {paths}")
        if path == "structured" and not cell.structured:
            raise ConfigError(f"model.encoder.path=structured: {name} does not implement update() {paths}")
        if path == "scan" and cell.scan is None:
            raise ConfigError(f"model.encoder.path=scan: {name} has no parallel scan {paths}")

    def resolve_path(self) -> str:
        """The path the next forward will take."""
        cell = self.cells[0]
        per_step = "structured" if cell.structured else "step"
        if self.tap_states:  # only the per-step paths show autograd each state
            return self.path if self.path in ("structured", "step") else per_step
        if self.path != "auto":
            return self.path
        if cell.fused_mode is not None:
            return "fused"
        if cell.scan is not None:
            return "scan"
        return per_step

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        per_cell = [c.initial_state(batch, device, dtype) for c in self.cells]
        return tuple(torch.stack([s[i] for s in per_cell]) for i in range(len(self.state_names)))

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        if lengths is not None and bool((lengths == x.shape[1]).all()):
            lengths = None  # nothing is padded: skip masking work
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        path = self.resolve_path()
        if path == "fused":
            return self._forward_fused(x, lengths, state)
        return self._forward_layers(x, lengths, state, path)

    # -- fused path ---------------------------------------------------------------------------------------------
    def _flat_weights(self) -> list[Tensor]:
        weights = []
        for cell in self.cells:
            b_h = cell.b_h if cell.b_h is not None else torch.zeros_like(cell.b_x)
            weights += [cell.W_x, cell.W_h, cell.b_x, b_h]
        return weights

    def _forward_fused(self, x: Tensor, lengths: Tensor | None, state: State) -> tuple[Tensor, State]:
        mode = self.cells[0].fused_mode
        fn = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}[mode]
        hx: Any = tuple(s.contiguous() for s in state) if mode == "LSTM" else state[0].contiguous()
        args = (
            self._flat_weights(),
            True,
            self.num_layers,
            self.dropout,
            self.training,
            self.num_directions == 2,
        )
        if lengths is None:
            result = fn(x, hx, *args, True)
            return result[0], tuple(result[1:])
        if x.device.type == "cpu" and not self._packing_is_cheaper(lengths):
            return self._forward_fused_segments(fn, x, lengths, state)
        # cuDNN runs packed sequences natively (one kernel, no per-step slices); on the CPU, short batches of many
        # lengths, where packing's backward costs less than one kernel call per length
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = tuple(h.index_select(1, order) for h in hx) if mode == "LSTM" else hx.index_select(1, order)
        result = fn(packed.data, packed.batch_sizes, hx, *args)
        out = type(packed)(result[0], packed.batch_sizes, order, unorder)
        output, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return output, tuple(s.index_select(1, unorder) for s in result[1:])

    def _packing_is_cheaper(self, lengths: Tensor) -> bool:
        """Whether packing a padded batch costs less than one kernel call per distinct length, on the CPU: packing's
        backward zero-fills about ``steps × tokens × gates·H`` floats, a segment costs about
        :data:`SEGMENT_COST_IN_FLOATS`. Short batches of many lengths pack (tagging without bucketing: 20 steps, 15
        lengths); long ones never do."""
        lengths = lengths.detach().cpu()
        if bool((lengths == 0).any()):  # packing refuses empty rows
            return False
        segments = len(set(lengths.tolist()))
        packed_floats = int(lengths.max()) * int(lengths.sum()) * self.cells[0].W_x.shape[0]
        return packed_floats < segments * SEGMENT_COST_IN_FLOATS

    def _forward_fused_segments(self, fn: Callable[..., Any], x: Tensor, lengths: Tensor, state: State):
        """The fused kernels over padded rows of different lengths, without packing (CPU; CUDA packs).

        ``pack_padded_sequence`` would give the same numbers, but the CPU kernel then takes every step's rows as a
        slice of the packed input, and autograd backs each slice with a zero tensor of the whole input: backward
        grows with the square of the length (a 300-step batch of tunes spent 87 % of its step in ``fill_``;
        benchmarks/README.md). Here the rows are sorted longest first and time is cut at each distinct length:
        segment ``k`` runs steps ``[L_{k-1}, L_k)`` of the rows still running (a prefix of the sorted rows) in one
        unpacked kernel call (oneDNN on CPU), starting from the state the previous segment ended in. A row's final
        state is the state of the segment that ends at its length, and its outputs past that are zero — what
        packing gives, with one kernel call per distinct length instead of one slice per step. Directions and layers
        run one cell at a time (dropout between layers as on the runner's own paths); a reversed direction reads
        each row reversed within its own length."""
        B, T = x.shape[:2]
        lengths_cpu = lengths.detach().to("cpu", torch.long)
        order = torch.argsort(lengths_cpu, descending=True, stable=True)
        unorder = torch.empty_like(order)
        unorder[order] = torch.arange(B)
        sorted_lengths = lengths_cpu[order]
        ends = sorted(set(sorted_lengths.tolist()) - {0})
        rows = [int((sorted_lengths >= end).sum()) for end in ends]  # rows running in each segment
        order_d, unorder_d = order.to(x.device), unorder.to(x.device)
        lengths_d = sorted_lengths.to(x.device)
        layer_input = x.index_select(0, order_d).transpose(0, 1)  # (T, B, I), time-major, longest row first
        if ends and ends[-1] < T:
            layer_input = layer_input[: ends[-1]]
        state = tuple(s.index_select(1, order_d) for s in state)
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                inp = _reverse_time_major(layer_input, lengths_d) if direction else layer_input
                s0 = tuple(s[index : index + 1] for s in state)
                out, final = self._fused_cell_segments(fn, self.cells[index], inp, s0, ends, rows)
                outputs.append(_reverse_time_major(out, lengths_d) if direction else out)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        if layer_input.shape[0] < T:
            layer_input = F.pad(layer_input, (0, 0, 0, 0, 0, T - layer_input.shape[0]))
        output = layer_input.transpose(0, 1).index_select(0, unorder_d)
        final_state = tuple(torch.cat([f[i] for f in finals]).index_select(1, unorder_d) for i in range(len(state)))
        return output, final_state

    def _fused_cell_segments(
        self, fn: Callable[..., Any], cell: Cell, x: Tensor, state: State, ends: list[int], rows: list[int]
    ) -> tuple[Tensor, State]:
        """One cell over time-major ``x (T, B, I)`` (rows sorted longest first), one kernel call per segment (see
        :meth:`_forward_fused_segments`); ``state``: ``(1, B, H)`` tensors → ``outputs (T, B, H)``, final state."""
        B = x.shape[1]
        b_h = cell.b_h if cell.b_h is not None else torch.zeros_like(cell.b_x)
        weights = [cell.W_x, cell.W_h, cell.b_x, b_h]
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
            result = fn(piece[:, :n], hx, weights, True, 1, 0.0, self.training, False, False)
            out = result[0]
            outs.append(F.pad(out, (0, 0, 0, B - n)) if n < B else out)
            state = tuple(result[1:])
        done.append(state)
        final = tuple(torch.cat([d[i] for d in reversed(done)], dim=1) for i in range(len(state)))
        output = torch.cat(outs) if outs else x.new_zeros(0, B, cell.hidden_size)
        return output, final

    # -- the runner's own paths ---------------------------------------------------------------------------------
    def _compiled(self, cell: Cell, method: str) -> Callable[..., State]:
        """``cell.update`` or ``cell.step``; with ``compile=True``, compiled once per cell (see :mod:`.compiled`)."""
        fn = getattr(cell, method)
        if not self.compile:
            return fn
        key = (id(cell), method)
        if key not in self._compiled_fns:
            self._compiled_fns[key] = compile_step_function(fn, f"{type(cell).__name__}.{method}")
        return self._compiled_fns[key]

    def _forward_layers(self, x: Tensor, lengths: Tensor | None, state: State, path: str) -> tuple[Tensor, State]:
        mask = length_mask(lengths, x.shape[1], x.device)
        finals: list[State] = []
        layer_input = x
        tap = self.tap_states and torch.is_grad_enabled()
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                cell = self.cells[index]
                s0 = tuple(s[index] for s in state)
                inp = reverse_padded(layer_input, lengths) if direction else layer_input
                taps = self.tapped.setdefault((layer, direction), []) if tap else None
                if path == "scan":
                    out, final = cell.scan(inp, s0, mask)
                else:
                    out, final = self._loop(cell, inp, mask, s0, path, taps)
                if direction:
                    out = reverse_padded(out, lengths)
                outputs.append(out)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        if mask is not None:
            layer_input = layer_input * mask[..., None].to(layer_input.dtype)
        final_state = tuple(torch.stack([f[i] for f in finals]) for i in range(len(self.state_names)))
        return layer_input, final_state

    def _loop(
        self, cell: Cell, x: Tensor, mask: Tensor | None, state: State, path: str, taps: list[State] | None
    ) -> tuple[Tensor, State]:
        """Run one cell over ``x (B, T, I)``. Steps are taken with ``unbind`` (one autograd node for all steps,
        not one full-size gradient per step as indexing ``x[:, t]`` would give), outputs gathered with one stack.
        ``taps``, when given, receives every step's state."""
        steps = x.shape[1]
        masks = mask.t()[..., None].unbind(0) if mask is not None else (None,) * steps
        outs: list[Tensor] = []  # h_t of every step, stacked once at the end
        # With compile=True the first step runs eagerly: its state (fresh zeros, no gradient) would otherwise be a
        # second specialisation of the compiled function, costing a second compilation for one step.
        if path == "step":
            step, first = self._compiled(cell, "step"), checked(cell, "step")
            for t, x_t in enumerate(x.transpose(0, 1).unbind(0)):
                state = self._finish_step((step if t else first)(x_t, state), state, masks[t], taps)
                outs.append(state[0])
            return torch.stack(outs, 0).transpose(0, 1), state
        update, first = self._compiled(cell, "update"), checked(cell, "update")
        xp = F.linear(x.transpose(0, 1), cell.W_x, cell.b_x)  # all steps' input projections: one product
        W_h, b_h = cell.W_h, cell.b_h
        if W_h is None:  # no recurrent matrix: the update is all there is
            for t, xp_t in enumerate(xp.unbind(0)):
                state = self._finish_step((update if t else first)(xp_t, None, state), state, masks[t], taps)
                outs.append(state[0])
            return torch.stack(outs, 0).transpose(0, 1), state
        # The recurrent weight gradient is formed after the loop as one product, not per step: W_h enters the loop
        # detached, and a custom function attached to W_h adds its gradient from what the loop keeps. A tapped
        # forward (the probe) asks autograd for state gradients only: no weight gradient to form.
        track = W_h.requires_grad and torch.is_grad_enabled() and taps is None
        summed = cell.sums_projections and b_h is None
        h_seq: list[Tensor] = []  # filled after the loop: (T, B, H) states h_1..h_T, time-major
        grads = None
        if track:
            W_h = W_h.detach()
            if summed:
                xp = _RecurrentWeightGradFromInputs.apply(xp, cell.W_h, state[0], h_seq)
            else:
                grads = _StepGrads(steps, state[0])
        # a tapped forward (the probe) keeps autograd's own products; otherwise, where it pays, W_h is prepacked
        packed = (
            _PackedRecurrentWeight(W_h, x.shape[0])
            if taps is None and _PackedRecurrentWeight.usable(W_h, steps)
            else None
        )
        for t, xp_t in enumerate(xp.unbind(0)):
            if summed:  # pre-activation xp_t + h_{t-1} W_hᵀ in one fused multiply-add
                if packed is not None:
                    xp_t, hp = _PackedRecurrentProduct.apply(state[0], xp_t, packed), None
                else:
                    xp_t, hp = torch.addmm(xp_t, state[0], W_h.t()), None
            else:
                if packed is not None:
                    hp = _PackedRecurrentProduct.apply(state[0], b_h, packed)
                else:
                    hp = F.linear(state[0], W_h, b_h)
                if grads is not None:
                    if t == 0:
                        hp = _RecurrentWeightGrad.apply(hp, cell.W_h, grads)
                    else:
                        hp.register_hook(partial(grads.record, t))
            state = self._finish_step((update if t else first)(xp_t, hp, state), state, masks[t], taps)
            outs.append(state[0])
        out = torch.stack(outs, 0)
        if track:
            h_seq.append(out.detach())
            if grads is not None:
                grads.h_seq = h_seq[0]
        return out.transpose(0, 1), state

    @staticmethod
    def _finish_step(new: State, old: State, m_t: Tensor | None, taps: list[State] | None) -> State:
        """Padded steps (``m_t (B, 1)`` False) keep the old state; a tapped forward keeps the new state.

        The tap is taken before the mask: the cell computed ``h_t`` from that very ``c_t``, so ∂L/∂c_t includes the
        path through ``h_t`` (after ``where`` it would not); on real steps the two tensors are equal."""
        if taps is not None:
            taps.append(new)
        if m_t is not None:
            new = tuple(torch.where(m_t, n, o) for n, o in zip(new, old))
        return new

    def extra_repr(self) -> str:
        return (
            f"layers={self.num_layers}, directions={self.num_directions}, hidden_size={self.hidden_size}, "
            f"dropout={self.dropout}, path={self.path}"
        )
