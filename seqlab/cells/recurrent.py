"""``Recurrent``, the time loop: stacks, directions, masks and execution paths for any :class:`~seqlab.cells.Cell`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.cells import products
from seqlab.cells.base import Cell, State
from seqlab.cells.compiled import CompiledStep
from seqlab.cells.fused import forward_fused, reverse_padded
from seqlab.registry import CELLS, ConfigError
from seqlab.schema import model as schema


def supported_paths(cell: str | type[Cell] | Cell) -> list[str]:
    """The execution paths a cell can run, in the order ``fused, structured, step, scan`` (``step`` always).

    Given an instance, its own attributes count (options such as GRU's ``reset_after=False`` remove paths)."""
    cls = CELLS.get(cell) if isinstance(cell, str) else cell
    available = (cls.fused_mode is not None, cls.structured, True, cls.scan is not None)
    return [path for path, ok in zip(("fused", "structured", "step", "scan"), available) if ok]


def checked(cell: Cell, method: str) -> Callable[..., State]:
    """``cell.update`` or ``cell.step``, checking what it returns (``Recurrent`` calls it at each forward's first step
    only): anything but one tensor per state name, shaped as the state it replaces, is one line naming the cell and
    what it returned, not a failure steps later wherever the state is read."""
    fn = getattr(cell, method)

    def call(*args: Any) -> State:
        new, old = fn(*args), args[-1]
        items = new if isinstance(new, (tuple, list)) else None
        if items is not None and len(items) == len(old) and all(
            isinstance(n, Tensor) and n.shape == o.shape for n, o in zip(items, old)
        ):
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


def at_last_step(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``x (B, T, ...)`` at each row's last real step (``lengths - 1``; without lengths the last) → ``(B, ...)``."""
    if lengths is None:
        return x[:, -1]
    return x[torch.arange(x.shape[0], device=x.device), lengths.to(x.device) - 1]


def mean_over_real_steps(x: Tensor, mask: Tensor | None) -> Tensor:
    """``x (B, T, D)`` averaged over each row's real steps (``mask (B, T)``, True on them; None: all) → ``(B, D)``."""
    if mask is None:
        return x.mean(dim=1)
    return (x * mask[..., None].to(x.dtype)).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1).to(x.dtype)


def last_step_index(lengths: Tensor | None, batch: int, steps: int, device: torch.device) -> Tensor:
    """Each row's last real step ``(B,)``: ``lengths - 1`` (clamped to the steps there are), or ``steps - 1``."""
    if lengths is None:
        return torch.full((batch,), steps - 1, dtype=torch.long, device=device)
    return lengths.to(device=device, dtype=torch.long).clamp(min=1, max=steps) - 1


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
        self.state_names = self.cells[0].state_names
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
            return forward_fused(self, x, lengths, state)
        return self._forward_layers(x, lengths, state, path)

    def stack_layers(
        self, x: Tensor, run_cell: Callable[[int, Tensor], tuple[Tensor, State]], reverse: Callable[[Tensor], Tensor]
    ) -> tuple[Tensor, list[State]]:
        """``x`` through every layer and direction, for the per-step paths and the fused segments alike:
        ``run_cell(index, input)`` runs ``self.cells[index]``; a backward direction reads ``reverse(input)`` and its
        outputs are reversed back; directions are joined, with dropout between layers. Returns the last layer's
        outputs and each cell's final state, in cell order."""
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                out, final = run_cell(layer * self.num_directions + direction, reverse(x) if direction else x)
                outputs.append(reverse(out) if direction else out)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, finals

    # -- the per-step paths and the scan -------------------------------------------------------------------------
    def _compiled(self, cell: Cell, method: str) -> Callable[..., State]:
        """``cell.update`` or ``cell.step``; with ``compile=True``, compiled once per cell (see :mod:`.compiled`)."""
        fn = getattr(cell, method)
        if not self.compile:
            return fn
        key = (id(cell), method)
        if key not in self._compiled_fns:
            self._compiled_fns[key] = CompiledStep(fn, f"{type(cell).__name__}.{method}")
        return self._compiled_fns[key]

    def _forward_layers(self, x: Tensor, lengths: Tensor | None, state: State, path: str) -> tuple[Tensor, State]:
        mask = length_mask(lengths, x.shape[1], x.device)
        tap = self.tap_states and torch.is_grad_enabled()

        def run_cell(index: int, inp: Tensor) -> tuple[Tensor, State]:
            cell, s0 = self.cells[index], tuple(s[index] for s in state)
            if path == "scan":
                return cell.scan(inp, s0, mask)
            taps = self.tapped.setdefault(divmod(index, self.num_directions), []) if tap else None
            return self._loop(cell, inp, mask, s0, path, taps)

        layer_input, finals = self.stack_layers(x, run_cell, partial(reverse_padded, lengths=lengths))
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
                xp = products.RecurrentWeightGradFromInputs.apply(xp, cell.W_h, state[0], h_seq)
            else:
                grads = products.StepGrads(steps, state[0])
        # a tapped forward (the probe) keeps autograd's own products; otherwise, where it pays, W_h is prepacked
        packed = (
            products.PackedRecurrentWeight(W_h, x.shape[0])
            if taps is None and products.PackedRecurrentWeight.usable(W_h, steps)
            else None
        )
        for t, xp_t in enumerate(xp.unbind(0)):
            if summed:  # pre-activation xp_t + h_{t-1} W_hᵀ in one fused multiply-add
                if packed is not None:
                    xp_t, hp = products.PackedRecurrentProduct.apply(state[0], xp_t, packed), None
                else:
                    xp_t, hp = torch.addmm(xp_t, state[0], W_h.t()), None
            else:
                if packed is not None:
                    hp = products.PackedRecurrentProduct.apply(state[0], b_h, packed)
                else:
                    hp = F.linear(state[0], W_h, b_h)
                if grads is not None:
                    if t == 0:
                        hp = products.RecurrentWeightGrad.apply(hp, cell.W_h, grads)
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
