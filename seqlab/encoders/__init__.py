"""Encoders (``encoder=NAME``): ``Recurrent`` (the default), baselines and a Transformer, registered here and built
through their ``build``; all share the contract of :class:`Encoder`, so every head works with any of them."""

from seqlab.encoders.base import LEFT_TO_RIGHT_TASKS, Encoder, EncoderState
from seqlab.encoders.baselines import BagOfWordsEncoder, FixedWindowEncoder
from seqlab.encoders.recurrent import RecurrentEncoder
from seqlab.encoders.transformer import TransformerEncoder
from seqlab.registry import ENCODERS

ENCODERS.register("recurrent", RecurrentEncoder)
ENCODERS.register("fixed_window", FixedWindowEncoder)
ENCODERS.register("bag_of_words", BagOfWordsEncoder)
ENCODERS.register("transformer", TransformerEncoder)

__all__ = [
    "LEFT_TO_RIGHT_TASKS",
    "BagOfWordsEncoder",
    "Encoder",
    "EncoderState",
    "FixedWindowEncoder",
    "RecurrentEncoder",
    "TransformerEncoder",
]
