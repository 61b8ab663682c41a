"""The encoder contract for non-recurrent encoders, and what they share: masks, final states, continuation."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqlab.cells.recurrent import at_last_step, length_mask, mean_over_real_steps
from seqlab.registry import CELLS, ConfigError

#: tasks whose encoder must read left to right (a step may not see later inputs)
LEFT_TO_RIGHT_TASKS = ("language_model", "conditional_generation")


class EncoderState(tuple):
    """A non-recurrent encoder's final state.

    As a tuple: ``num_states`` tensors ``(1, B, H)`` shaped like a one-layer recurrent state of the configured cell
    (``h`` = :meth:`Encoder.summary` of the outputs, the others zero), so a seq2seq decoder can start from it.
    ``context``: what a continuation needs (each encoder says what); passed back as ``state``, the encoder continues
    where it stopped (step-by-step generation). A plain tuple starts a new sequence.
    """

    context: Any

    def __new__(cls, states: tuple[Tensor, ...], context: Any) -> EncoderState:
        out = super().__new__(cls, states)
        out.context = context
        return out


class Encoder(nn.Module):
    """Base class of non-recurrent encoders (``encoder=NAME``; public plugin API). The contract is the
    :class:`~seqlab.cells.Recurrent`'s, so every head works with any encoder:

    ``forward(x (B, T, I), lengths (B,) | None, state) → (outputs (B, T, output_size), final_state)``.

    ``final_state`` is an :class:`EncoderState`. ``state`` is None (start), an :class:`EncoderState` (continue), or
    a recurrent-shaped tuple ``(layers, B, output_size)`` (e.g. one_to_many's condition), whose top layer's ``h``
    is added to every output. Steps at or past a length are padding: outputs there are unspecified and never read
    by real steps. Subclasses set ``output_size`` and implement :meth:`encode`.

    ``causal`` (see :meth:`build`) means output ``t`` depends only on inputs ``≤ t``; ``num_states`` is the cell's
    state count (2 for an LSTM). A subclass's own keyword options are the config's (``model.encoder.hidden_size``).

    >>> import torch
    >>> class RunningMean(Encoder):  # step t: a linear map of the mean of the inputs up to t (causal)
    ...     def __init__(self, input_size, causal, num_states=1, hidden_size=8):
    ...         super().__init__(causal, num_states)
    ...         self.output_size = hidden_size
    ...         self.proj = torch.nn.Linear(input_size, hidden_size)
    ...     def encode(self, x, mask, lengths, context):
    ...         steps = torch.arange(1, x.shape[1] + 1)[None, :, None]
    ...         return torch.tanh(self.proj(x.cumsum(1) / steps)), None
    >>> encoder = RunningMean.build(3, task="language_model", cell={"name": "lstm"}, hidden_size=4)
    >>> outputs, (h, c) = encoder(torch.randn(2, 5, 3))
    >>> tuple(outputs.shape), tuple(h.shape), encoder.causal
    ((2, 5, 4), (1, 2, 4), True)
    """

    output_size: int

    def __init__(self, causal: bool, num_states: int = 1):
        super().__init__()
        self.causal = causal
        self.num_states = num_states

    @classmethod
    def build(cls, input_size: int, *, task: str, cell: dict[str, Any], **options: Any) -> Encoder:
        """How the model builder makes every registered encoder: ``model.encoder`` options (without ``name``), the
        data's task and ``model.cell`` → the encoder. ``causal: auto`` (or absent) follows the task: left to right
        for :data:`LEFT_TO_RIGHT_TASKS`, where ``causal: false`` is refused. Subclasses keep this."""
        causal = options.pop("causal", "auto")
        left_to_right = task in LEFT_TO_RIGHT_TASKS
        if causal == "auto":
            causal = left_to_right
        elif not isinstance(causal, bool):
            raise ConfigError(f"model.encoder.causal must be auto, true or false, got '{causal}'")
        elif left_to_right and not causal:
            raise ConfigError(
                f"model.encoder.causal=false: a {task} encoder must not see later steps; use auto or true"
            )
        return cls(input_size, causal=causal, num_states=len(CELLS.get(cell["name"]).state_names), **options)

    def head_options(self) -> dict[str, Any]:
        """What :class:`~seqlab.heads.HeadContext` calls ``encoder``: one left-to-right layer of the output size."""
        return {"hidden_size": self.output_size, "num_layers": 1}

    def encode(self, x: Tensor, mask: Tensor | None, lengths: Tensor | None, context: Any) -> tuple[Tensor, Any]:
        """``x (B, T, I)``, ``mask (B, T)`` (True on real steps, or None), ``context`` (None at the start) →
        ``outputs (B, T, output_size)`` and the context a continuation needs."""
        raise NotImplementedError

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: Any = None) -> tuple[Tensor, EncoderState]:
        if lengths is not None and bool((lengths == x.shape[1]).all()):
            lengths = None
        mask = length_mask(lengths, x.shape[1], x.device)
        context = state.context if isinstance(state, EncoderState) else None
        outputs, context = self.encode(x, mask, lengths, context)
        if state is not None and not isinstance(state, EncoderState):
            outputs = outputs + state[0][-1][:, None].to(outputs.dtype)
        return outputs, EncoderState(self.summary(outputs, mask, lengths), context)

    def summary(self, outputs: Tensor, mask: Tensor | None, lengths: Tensor | None) -> tuple[Tensor, ...]:
        """The recurrent-shaped final state: ``h`` is the output at the last real step (causal encoders, where it
        has read everything) or the mean over real steps; the other states are zero."""
        h = (at_last_step(outputs, lengths) if self.causal else mean_over_real_steps(outputs, mask))[None]
        return (h, *(torch.zeros_like(h) for _ in range(self.num_states - 1)))

    def resolve_path(self) -> str:
        """What runs the encoder (``Recurrent`` names its compute path here): the encoder's class."""
        return type(self).__name__


def mlp(input_size: int, hidden_size: int, num_layers: int, dropout: float) -> nn.Sequential:
    """``num_layers`` of ``Linear → tanh`` (dropout between them): ``(…, input_size)`` → ``(…, hidden_size)``."""
    layers: list[nn.Module] = []
    for i in range(num_layers):
        if i:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(input_size if i == 0 else hidden_size, hidden_size), nn.Tanh()]
    return nn.Sequential(*layers)
