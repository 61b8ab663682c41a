"""Recurrent cells (the math of one step) and ``Recurrent``, the loop that runs them. Built-ins register here."""

from seqlab.cells.base import Cell, State
from seqlab.cells.elman import IRNNCell, ReLURNNCell, TanhRNNCell
from seqlab.cells.gru import GRUCell
from seqlab.cells.indrnn import IndRNNCell
from seqlab.cells.lstm import CoupledLSTMCell, LSTMCell, PeepholeLSTMCell
from seqlab.cells.minimal import MinGRUCell, MinLSTMCell
from seqlab.cells.recurrent import Recurrent
from seqlab.registry import CELLS

CELLS.register("rnn_tanh", TanhRNNCell)
CELLS.register("rnn_relu", ReLURNNCell)
CELLS.register("irnn", IRNNCell)
CELLS.register("lstm", LSTMCell)
CELLS.register("peephole_lstm", PeepholeLSTMCell)
CELLS.register("coupled_lstm", CoupledLSTMCell)
CELLS.register("gru", GRUCell)
CELLS.register("indrnn", IndRNNCell)
CELLS.register("mingru", MinGRUCell)
CELLS.register("minlstm", MinLSTMCell)

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
