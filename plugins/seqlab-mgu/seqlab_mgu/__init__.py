"""seqlab plugin: the minimal gated unit (MGU), selectable with ``python -m seqlab cell=mgu``.

Installing this package is all it takes: its entry point (group ``seqlab.plugins``) makes seqlab import this
module, which registers the cell, and ``seqlab_mgu/conf/cell/mgu.yaml`` becomes the ``cell=mgu`` option.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.cells import Cell, State
from seqlab.registry import CELLS

__version__ = "0.1.0"


class MGUCell(Cell):
    """Minimal gated unit — Zhou, Wu, Zhang & Zhou, "Minimal gated unit for recurrent neural networks", 2016.

    One gate ``f`` both selects the part of the past the candidate sees and mixes old and new state:

    .. math::

        f_t &= \\sigma(W_f x_t + U_f h_{t-1} + b_f) \\\\
        \\tilde h_t &= \\tanh(W_h x_t + U_h (f_t \\odot h_{t-1}) + b_h) \\\\
        h_t &= (1 - f_t) \\odot h_{t-1} + f_t \\odot \\tilde h_t

    Parameters (``Recurrent``'s layout, rows stacked ``[f; h]``): ``W_x = [W_f; W_h]`` ``(2H, I)``,
    ``b_x = [b_f; b_h]`` ``(2H,)``, ``W_h = [U_f; U_h]`` ``(2H, H)``. Because ``f_t`` multiplies ``h_{t-1}``
    *before* the product with ``U_h``, the step is not "pointwise after ``W_h h_{t-1}``": the cell implements
    :meth:`step` (``structured = False``), and ``Recurrent`` still provides stacking, both directions, masking,
    compilation and the gradient-flow diagnostics.

    ``forget_bias`` initialises ``b_f``: a negative value starts with ``f`` below one half, keeping more of
    ``h_{t-1}`` (longer memory at the start of training).

    >>> import torch
    >>> from seqlab.cells import Recurrent
    >>> rnn = Recurrent(MGUCell, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    >>> out, (h,) = rnn(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
    >>> tuple(out.shape), tuple(h.shape)
    ((2, 5, 8), (4, 2, 4))
    """

    state_names = ("h",)
    gates = 2
    structured = False

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        self.forget_bias = forget_bias
        super().__init__(input_size, hidden_size)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.b_x[: self.hidden_size].fill_(self.forget_bias)

    def step(self, x_t: Tensor, state: State) -> State:
        h = state[0]
        x_f, x_h = F.linear(x_t, self.W_x, self.b_x).chunk(2, dim=-1)
        U_f, U_h = self.W_h.chunk(2, dim=0)
        f = torch.sigmoid(x_f + F.linear(h, U_f))
        h_tilde = torch.tanh(x_h + F.linear(f * h, U_h))
        return ((1 - f) * h + f * h_tilde,)


CELLS.register("mgu", MGUCell)
