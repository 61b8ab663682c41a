"""Recurrent cells (the math of one step) and ``Recurrent``, the loop that runs them. Built-ins register here."""

from seqlab.cells.base import Cell, State
from seqlab.cells.elman import IRNNCell, ReLURNNCell, TanhRNNCell
from seqlab.cells.gru import GRUCell
from seqlab.cells.indrnn import IndRNNCell
from seqlab.cells.lstm import CoupledLSTMCell, LSTMCell, PeepholeLSTMCell
from seqlab.cells.minimal import MinGRUCell, MinLSTMCell
from seqlab.cells.recurrent import Recurrent
from seqlab.registry import CELLS

for _name, _cls in {
    "rnn_tanh": TanhRNNCell,
    "rnn_relu": ReLURNNCell,
    "irnn": IRNNCell,
    "lstm": LSTMCell,
    "peephole_lstm": PeepholeLSTMCell,
    "coupled_lstm": CoupledLSTMCell,
    "gru": GRUCell,
    "indrnn": IndRNNCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}.items():
    CELLS.register(_name, _cls)

__all__ = [
    "Cell",
    "State",
    "Recurrent",
    "TanhRNNCell",
    "ReLURNNCell",
    "IRNNCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "CoupledLSTMCell",
    "GRUCell",
    "IndRNNCell",
    "MinGRUCell",
    "MinLSTMCell",
]
