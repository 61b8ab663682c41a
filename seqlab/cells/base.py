"""The Cell contract: the math of one recurrent time step, and nothing more.

:class:`~seqlab.cells.recurrent.Recurrent` owns the time loop, stacking, direction, masking,
dropout between layers, compilation and the gradient-flow diagnostics. A cell states how one step turns the
projected input and the projected previous output into a new state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]


class Cell(nn.Module):
    """Base class of every recurrent cell (the public plugin API).

    A cell owns four parameters that ``Recurrent`` multiplies itself, so it can batch the products over time:

    - ``W_x`` ``(gates*H, I)`` and ``b_x`` ``(gates*H,)``: the input projection, applied to all steps at once;
    - ``W_h`` ``(gates*H, H)`` and optional ``b_h``: the recurrent projection of ``h_{t-1}``, one product per step
      (``b_h`` stays separate only where the math needs it, as in GRU's ``r * (W_hn h + b_hn)``).

    and implements the pointwise rest in :meth:`update`. ``state[0]`` is always the output ``h_t``.

    Cells whose recurrence is not ``W_h h_{t-1}`` (e.g. a gate applied to ``h`` before the product) override
    :meth:`step` instead and set ``structured = False``; ``Recurrent`` then calls ``step`` in its loop.
    Cells whose recurrence is linear in the state can override :meth:`scan` to run all steps in parallel.

    Example — an Elman cell in a few lines, trained with stacking, masks and diagnostics for free::

        >>> import torch
        >>> from seqlab.cells import Cell, Recurrent
        >>> class Elman(Cell):
        ...     '''h_t = tanh(W_x x_t + b_x + W_h h_{t-1})'''
        ...     state_names = ("h",)
        ...     gates = 1
        ...     def update(self, xp_t, hp_t, state):
        ...         return (torch.tanh(xp_t + hp_t),)
        >>> rnn = Recurrent(Elman, input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
        >>> out, final = rnn(torch.randn(4, 7, 3), lengths=torch.tensor([7, 5, 3, 1]))
        >>> tuple(out.shape), len(final), tuple(final[0].shape)  # final: one (layers*directions, B, H) per state
        ((4, 7, 10), 1, (4, 4, 5))

    Shapes: ``update(xp_t (B, gates*H), hp_t (B, gates*H), state (tuple of (B, H)))`` returns the new state tuple.

    ``structured``, ``recurrent_bias`` and ``fused_mode`` are class attributes; a cell whose options change them
    (GRU's ``reset_after=False`` has neither the structured nor the fused form) sets them on the instance in its
    ``__init__``, before :meth:`Cell.__init__` allocates the parameters.

    Cells without a recurrent matrix (``recurrent_weight = False``: IndRNN's elementwise ``u * h``, minGRU/minLSTM's
    gates that read only ``x_t``) have ``W_h = None`` and get ``hp_t = None`` in :meth:`update`. The diagnostics
    read two declarations, never the cell's internals: ``gate_names`` and :meth:`recurrent_weights`.
    """

    state_names: ClassVar[tuple[str, ...]] = ("h",)
    gates: ClassVar[int] = 1
    #: whether the cell fits ``update`` (the fast structured path); ``False`` means ``Recurrent`` calls ``step``
    structured: ClassVar[bool] = True
    #: whether the recurrent projection has its own bias ``b_h`` (kept apart from ``b_x``)
    recurrent_bias: ClassVar[bool] = False
    #: True when :meth:`update` reads ``xp_t`` and ``hp_t`` only through their sum (use :meth:`preactivation`):
    #: the structured path then forms ``xp_t + W_h h_{t-1}`` with one fused multiply-add and passes ``hp_t=None``,
    #: and takes the recurrent weight gradient from the input projections' gradient (they are equal)
    sums_projections: ClassVar[bool] = False
    #: whether the cell has the recurrent matrix ``W_h`` (False: ``W_h`` is None and ``update`` gets ``hp_t=None``)
    recurrent_weight: ClassVar[bool] = True
    #: name of the equivalent fused ``torch.nn.RNNBase`` mode ("LSTM", "GRU", "RNN_TANH", "RNN_RELU") or None
    fused_mode: ClassVar[str | None] = None
    #: the gate blocks stacked in ``W_x``/``W_h`` (rows ``g*H : (g+1)*H``), named as in the equations (LSTM
    #: ``("i", "f", "c", "o")``); empty: unnamed, one block per gate (numbered; a one-gate cell's block has no name)
    gate_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        if self.gate_names and len(self.gate_names) != self.gates:
            raise ValueError(f"{type(self).__name__}.gate_names {self.gate_names} must name its {self.gates} gates")
        self.input_size = input_size
        self.hidden_size = hidden_size
        rows = self.gates * hidden_size
        self.W_x = nn.Parameter(torch.empty(rows, input_size))
        self.b_x = nn.Parameter(torch.empty(rows))
        self.W_h = nn.Parameter(torch.empty(rows, hidden_size)) if self.recurrent_weight else None
        self.b_h = nn.Parameter(torch.empty(rows)) if self.recurrent_bias and self.recurrent_weight else None
        self.create_parameters()
        self.reset_parameters()

    def create_parameters(self) -> None:
        """Hook: create the cell's own parameters beyond ``W_x, b_x, W_h, b_h`` (peepholes, IndRNN's ``u``, a layer
        norm's gain), e.g. ``self.p = nn.Parameter(torch.empty(H))``. Called by :meth:`Cell.__init__` after the
        four and before :meth:`reset_parameters`, so one initialisation covers them all and no cell needs a guard
        or a second call. Their values are set in :meth:`reset_extra_parameters`. Default: none."""

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for ``W_x, b_x, W_h, b_h``, as ``torch.nn.RNN`` does, then
        :meth:`reset_extra_parameters`. Cells refine this (e.g. LSTM's forget-gate bias) after ``super()``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.W_x, self.b_x, self.W_h, self.b_h):
            if p is not None:
                nn.init.uniform_(p, -bound, bound)
        self.reset_extra_parameters()

    def reset_extra_parameters(self) -> None:
        """Initial values of the parameters made in :meth:`create_parameters`. Default: the same uniform bound as
        the others; override to start them elsewhere (peepholes at zero)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        standard = {id(p) for p in (self.W_x, self.b_x, self.W_h, self.b_h) if p is not None}
        for p in self.parameters(recurse=False):
            if id(p) not in standard:
                nn.init.uniform_(p, -bound, bound)

    def update(self, xp_t: Tensor, hp_t: Tensor | None, state: State) -> State:
        """Pointwise update: ``xp_t = W_x x_t + b_x``, ``hp_t = W_h h_{t-1} (+ b_h)`` → new state.

        Must be free of Python control flow on tensor values and of ``.item()``: ``Recurrent`` compiles it as one graph
        (``Recurrent(compile=True)``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update() or step()")

    @staticmethod
    def preactivation(xp_t: Tensor, hp_t: Tensor | None) -> Tensor:
        """``xp_t + hp_t``, or ``xp_t`` alone when ``Recurrent`` has already added ``hp_t`` into it."""
        return xp_t if hp_t is None else xp_t + hp_t

    def step(self, x_t: Tensor, state: State) -> State:
        """General form of one step, ``(x_t (B, I), state) → state``. Default: project, then :meth:`update`."""
        xp_t = nn.functional.linear(x_t, self.W_x, self.b_x)
        if self.W_h is None:
            return self.update(xp_t, None, state)
        if self.sums_projections and self.b_h is None:
            return self.update(torch.addmm(xp_t, state[0], self.W_h.t()), None, state)
        return self.update(xp_t, nn.functional.linear(state[0], self.W_h, self.b_h), state)

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        """Zeros for every named state, each ``(batch, H)``."""
        return tuple(torch.zeros(batch, self.hidden_size, device=device, dtype=dtype) for _ in self.state_names)

    def constrain_(self) -> None:
        """Project the parameters back onto the set the cell's math requires (in place, without autograd).

        Training calls it for every cell after every optimizer step (:meth:`SequenceLitModule.optimizer_step
        <seqlab.models.module.SequenceLitModule.optimizer_step>`), so no forward pass sees an out-of-bound weight.
        Default: nothing to constrain. Example: IndRNN clamps ``|u|`` to ``recurrent_max``."""

    def recurrent_weights(self) -> dict[str, Tensor]:
        """The recurrent weights the diagnostics measure (σ_max of each, ``sigma_max/<layer>/<name>``), by name.
        Default: ``W_h`` cut into its gate blocks (``W_hi, W_hf, ...`` after :attr:`gate_names`; ``W_h`` for one
        gate), none without ``W_h``. A 1-D tensor stands for a diagonal matrix (IndRNN's ``u``: σ_max = max|u|)."""
        if self.W_h is None:
            return {}
        names = self.gate_names or (("",) if self.gates == 1 else tuple(map(str, range(self.gates))))
        return {f"W_h{name}": block for name, block in zip(names, self.W_h.chunk(self.gates))}

    def describe(self) -> str:
        """The cell's name in error messages; variants whose available paths depend on an option name it here."""
        return type(self).__name__

    #: Cells with a linear recurrence ``h_t = a_t * h_{t-1} + b_t`` may define
    #: ``scan(x (B, T, I), state, mask (B, T) | None) -> (outputs (B, T, H), final state)`` that runs all steps at
    #: once; padded steps (mask False) keep the state. See :mod:`seqlab.cells.minimal`.
    scan: ClassVar[Callable[..., tuple[Tensor, State]] | None] = None

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"
