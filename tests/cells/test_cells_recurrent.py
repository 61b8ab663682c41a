"""``Recurrent``: truncated BPTT by carrying state, stacking with dropout, initial state, lengths, diagnostics."""

from __future__ import annotations

import pytest
import torch
from support.cells import BUILTIN_CELLS, CELL_PATHS, build, random_state

from seqlab.cells import Recurrent


@pytest.mark.parametrize(("cell", "path"), CELL_PATHS, ids=[f"{c}[{p}]" for c, p in CELL_PATHS])
def test_carrying_the_detached_state_across_two_halves_equals_the_whole_sequence(cell, path):
    torch.manual_seed(0)
    rnn = build(cell, path, input_size=3, hidden_size=4, num_layers=2)
    x = torch.randn(2, 8, 3)
    whole, whole_final = rnn(x)
    first, state = rnn(x[:, :4])
    second, final = rnn(x[:, 4:], state=tuple(s.detach() for s in state))
    assert (torch.cat([first, second], 1) - whole).abs().max() <= 1e-5
    for f, w in zip(final, whole_final):
        assert (f - w).abs().max() <= 1e-5


def test_truncated_bptt_stops_gradients_at_the_carried_state():
    rnn = Recurrent("lstm", 3, 4, path="structured")
    x = torch.randn(2, 8, 3, requires_grad=True)
    _, state = rnn(x[:, :4])
    second, _ = rnn(x[:, 4:], state=tuple(s.detach() for s in state))
    second.sum().backward()
    assert torch.all(x.grad[:, :4] == 0) and torch.any(x.grad[:, 4:] != 0)


@pytest.mark.parametrize("path", ["fused", "structured", "step"])
def test_dropout_acts_between_stacked_layers_only_in_training(path):
    torch.manual_seed(0)
    x = torch.randn(4, 5, 3)
    one_layer = build("gru", path, input_size=3, hidden_size=8, dropout=0.5)
    assert torch.equal(one_layer.train()(x)[0], one_layer.eval()(x)[0])  # nothing between layers to drop
    two_layers = build("gru", path, input_size=3, hidden_size=8, num_layers=2, dropout=0.5)
    eval_out = two_layers.eval()(x)[0]
    assert torch.equal(eval_out, two_layers(x)[0])
    assert not torch.allclose(two_layers.train()(x)[0], eval_out)


@pytest.mark.parametrize("cell", BUILTIN_CELLS)
def test_caller_supplied_initial_state_is_used_and_returned_per_layer_and_direction(cell):
    torch.manual_seed(0)
    rnn = build(cell, "auto", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x = torch.randn(2, 5, 3)
    state = random_state(rnn, 2)
    out, final = rnn(x, state=state)
    assert not torch.allclose(out, rnn(x)[0])
    assert [tuple(f.shape) for f in final] == [(4, 2, 4)] * len(rnn.state_names)
    # each (layer, direction) slot of the state belongs to its own cell: perturbing the reverse cell of the
    # last layer leaves the forward half of the output alone
    state[0][3] += 1.0
    out2, _ = rnn(x, state=state)
    assert torch.equal(out2[..., :4], out[..., :4]) and not torch.equal(out2[..., 4:], out[..., 4:])


def test_final_state_is_taken_at_each_sequence_last_real_step():
    torch.manual_seed(0)
    rnn = build("lstm", "structured", input_size=3, hidden_size=4)
    x = torch.randn(2, 6, 3)
    out, (h, c) = rnn(x, lengths=torch.tensor([6, 3]))
    assert torch.equal(h[0, 1], out[1, 2]) and torch.equal(h[0, 0], out[0, 5])


def test_structured_weight_gradient_after_the_loop_equals_per_step_autograd():
    torch.manual_seed(0)
    x = torch.randn(3, 7, 3)
    grads = []
    for path in ("structured", "step"):
        rnn = build("peephole_lstm", path, input_size=3, hidden_size=5)
        rnn(x)[0].pow(2).sum().backward()
        grads.append(rnn.cells[0].W_h.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_backward_twice_through_a_retained_graph_gives_the_same_weight_gradient():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)
    rnn = build("gru", "structured", input_size=3, hidden_size=4)
    out, _ = rnn(x)
    out.sum().backward(retain_graph=True)
    first = rnn.cells[0].W_h.grad.clone()
    out[:, :2].sum().backward()  # only the first two steps this time: later steps' records must not linger
    reference = build("gru", "step", input_size=3, hidden_size=4)
    reference(x)[0][:, :2].sum().backward()
    torch.testing.assert_close(rnn.cells[0].W_h.grad - first, reference.cells[0].W_h.grad, rtol=1e-5, atol=1e-6)


def test_tapped_states_cover_every_step_layer_and_direction_and_answer_autograd():
    rnn = Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True)
    rnn.tap_states = True
    out, _ = rnn(torch.randn(2, 5, 3), lengths=torch.tensor([5, 3]))
    assert set(rnn.tapped) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    states = rnn.tapped[(1, 0)]
    assert len(states) == 5 and [s.shape for s in states[0]] == [(2, 4), (2, 4)]  # (h_t, c_t) per step
    h_last, c_first = states[4][0], states[0][1]
    d_h, d_c = torch.autograd.grad(out[0, 4, :4].sum(), [h_last, c_first])
    assert torch.equal(d_h[0], torch.ones(4)) and torch.all(d_c[0] != 0)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_log_space_scan_stays_finite_and_matches_the_loop_over_long_sequences(cell):
    torch.manual_seed(0)
    x = 3 * torch.randn(2, 500, 3)  # large pre-activations: gates near 0 and 1
    lengths = torch.tensor([500, 137])
    scan, _ = build(cell, "scan", input_size=3, hidden_size=4)(x, lengths=lengths)
    loop, _ = build(cell, "structured", input_size=3, hidden_size=4)(x, lengths=lengths)
    assert torch.isfinite(scan).all()
    torch.testing.assert_close(scan, loop, rtol=1e-4, atol=1e-4)
