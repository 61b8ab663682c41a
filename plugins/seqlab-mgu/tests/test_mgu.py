"""The MGU plugin cell: its equations, masking through seqlab's Recurrent, gradients, and one compiled graph."""

import torch
from seqlab_mgu import MGUCell

from seqlab.cells import Recurrent
from seqlab.registry import CELLS


def paper_mgu(x, W_f, U_f, b_f, W_h, U_h, b_h):
    """Zhou et al. (2016), eq. 6, written out step by step: x (B, T, I) → h of every step (B, T, H)."""
    h = torch.zeros(x.shape[0], U_f.shape[0], dtype=x.dtype)
    outputs = []
    for t in range(x.shape[1]):
        f = torch.sigmoid(x[:, t] @ W_f.T + h @ U_f.T + b_f)
        h_tilde = torch.tanh(x[:, t] @ W_h.T + (f * h) @ U_h.T + b_h)
        h = (1 - f) * h + f * h_tilde
        outputs.append(h)
    return torch.stack(outputs, 1)


def test_mgu_is_registered_under_its_option_name():
    assert CELLS.get("mgu") is MGUCell


def test_recurrent_output_follows_the_paper_equations():
    torch.manual_seed(0)
    rnn = Recurrent("mgu", input_size=3, hidden_size=4, forget_bias=-1.0)
    cell = rnn.cells[0]
    assert torch.all(cell.b_x[:4] == -1.0)
    x = torch.randn(2, 6, 3)
    out, (h,) = rnn(x)
    W_f, W_h = cell.W_x.chunk(2)
    U_f, U_h = cell.W_h.chunk(2)
    b_f, b_h = cell.b_x.chunk(2)
    expected = paper_mgu(x, W_f, U_f, b_f, W_h, U_h, b_h)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(h[0], expected[:, -1])


def test_padded_sequence_ends_at_its_length_in_both_directions():
    torch.manual_seed(0)
    rnn = Recurrent("mgu", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x = torch.randn(2, 7, 3)
    out, (h,) = rnn(x, lengths=torch.tensor([7, 4]))
    alone, (h_alone,) = rnn(x[1:, :4])
    torch.testing.assert_close(out[1, :4], alone[0])
    assert torch.all(out[1, 4:] == 0)
    torch.testing.assert_close(h[:, 1], h_alone[:, 0])


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    rnn = Recurrent("mgu", input_size=2, hidden_size=3).double()
    x = torch.randn(2, 4, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: rnn(inp)[0], (x,))


def test_step_compiles_as_one_graph():
    cell = MGUCell(3, 4)
    compiled = torch.compile(cell.step, fullgraph=True, backend="eager")
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    torch.testing.assert_close(compiled(x, (h,))[0], cell.step(x, (h,))[0])
