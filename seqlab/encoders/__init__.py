"""Encoders other than the recurrent runner (``encoder=NAME``): baselines and a Transformer. Built-ins register here.

``encoder=recurrent`` (the default) is :class:`seqlab.cells.Recurrent` running ``model.cell``; the others share its
contract (:class:`Encoder`), so every head works with any of them.
"""

from typing import Any

from seqlab.encoders.base import LEFT_TO_RIGHT_TASKS, Encoder, EncoderState
from seqlab.encoders.baselines import BagOfWordsEncoder, FixedWindowEncoder
from seqlab.encoders.transformer import TransformerEncoder
from seqlab.registry import ENCODERS, ConfigError

ENCODERS.register("fixed_window", FixedWindowEncoder)
ENCODERS.register("bag_of_words", BagOfWordsEncoder)
ENCODERS.register("transformer", TransformerEncoder)


def build_encoder(name: str, input_size: int, task: str, num_states: int, options: dict[str, Any]) -> Encoder:
    """``model.encoder`` options (without ``name``) → the registered encoder. ``causal: auto`` (or absent) follows
    the task: left to right for :data:`LEFT_TO_RIGHT_TASKS`; ``causal: false`` there is refused."""
    options = dict(options)
    causal = options.pop("causal", "auto")
    left_to_right = task in LEFT_TO_RIGHT_TASKS
    if causal == "auto":
        causal = left_to_right
    elif not isinstance(causal, bool):
        raise ConfigError(f"model.encoder.causal must be auto, true or false, got '{causal}'")
    elif left_to_right and not causal:
        raise ConfigError(f"model.encoder.causal=false: a {task} encoder must not see later steps; use auto or true")
    cls = ENCODERS.get(name)
    try:
        return cls(input_size, causal=causal, num_states=num_states, **options)
    except TypeError as err:
        raise ConfigError(f"model.encoder: encoder '{name}' does not accept these options ({err})") from None


__all__ = [
    "BagOfWordsEncoder",
    "Encoder",
    "EncoderState",
    "FixedWindowEncoder",
    "TransformerEncoder",
    "build_encoder",
]
