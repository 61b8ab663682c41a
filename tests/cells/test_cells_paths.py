"""Execution paths, one result: fused, structured, step and scan give the same outputs and gradients.

Tolerances (float32): outputs within 1e-5 absolute, gradients within 1e-5 relative to their largest entry.
"""

from __future__ import annotations

import pytest
import torch
from support.cells import BUILTIN_CELLS, CELL_PATHS, build, random_state, relative_error
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.cells.recurrent import supported_paths

SIZES = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)


def run_with_grads(rnn, x, lengths, state):
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = rnn(x, lengths=lengths, state=state)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    loss = (out * weights).sum() + sum((f * f).sum() for f in final)
    loss.backward()
    grads = {name: p.grad for name, p in rnn.named_parameters()}
    grads["x"] = x.grad
    grads.update({f"state{i}": s.grad for i, s in enumerate(state)})
    return out, final, grads


@pytest.mark.parametrize("masked", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("cell", BUILTIN_CELLS)
def test_every_path_gives_the_same_outputs_and_gradients(cell, masked):
    torch.manual_seed(0)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 4, 1]) if masked else None
    results = {}
    for path in supported_paths(cell):
        rnn = build(cell, path, **SIZES)
        results[path] = run_with_grads(rnn, x, lengths, random_state(rnn, 3))
    reference_path = "step"  # plain autograd through the cell's general step
    ref_out, ref_final, ref_grads = results.pop(reference_path)
    for path, (out, final, grads) in results.items():
        assert (out - ref_out).abs().max() <= 1e-5, f"{cell}[{path}] outputs"
        for f, ref in zip(final, ref_final):
            assert (f - ref).abs().max() <= 1e-5, f"{cell}[{path}] final state"
        for name, g in grads.items():
            assert relative_error(g, ref_grads[name]) <= 1e-5, f"{cell}[{path}] gradient of {name}"


TORCH_NN = {
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
}


def torch_nn_twin(rnn):
    """The torch.nn module of the same mode, loaded with the weights of the ``Recurrent``."""
    twin = TORCH_NN[rnn.cells[0].fused_mode.lower().replace("rnn_", "rnn_")](
        input_size=rnn.input_size,
        hidden_size=rnn.hidden_size,
        num_layers=rnn.num_layers,
        bidirectional=rnn.num_directions == 2,
        batch_first=True,
    )
    with torch.no_grad():
        for index, cell in enumerate(rnn.cells):
            layer, direction = divmod(index, rnn.num_directions)
            suffix = f"l{layer}" + ("_reverse" if direction else "")
            getattr(twin, f"weight_ih_{suffix}").copy_(cell.W_x)
            getattr(twin, f"weight_hh_{suffix}").copy_(cell.W_h)
            getattr(twin, f"bias_ih_{suffix}").copy_(cell.b_x)
            getattr(twin, f"bias_hh_{suffix}").copy_(cell.b_h if cell.b_h is not None else torch.zeros_like(cell.b_x))
    return twin


@pytest.mark.parametrize("masked", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("path", ["fused", "structured"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_fused_cells_equal_torch_nn_with_the_same_weights(cell, path, masked):
    torch.manual_seed(0)
    rnn = build(cell, path, **SIZES)
    twin = torch_nn_twin(rnn)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 4, 1]) if masked else None
    state = random_state(rnn, 3)
    out, final = rnn(x, lengths=lengths, state=state)
    hx = state if cell == "lstm" else state[0]
    if masked:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        twin_out, twin_final = twin(packed, hx)
        twin_out = pad_packed_sequence(twin_out, batch_first=True, total_length=6)[0]
    else:
        twin_out, twin_final = twin(x, hx)
    twin_final = twin_final if cell == "lstm" else (twin_final,)
    assert (out - twin_out).abs().max() <= 1e-5
    for f, t in zip(final, twin_final):
        assert (f - t).abs().max() <= 1e-5
    (out.sum() + final[0].sum()).backward()
    (twin_out.sum() + twin_final[0].sum()).backward()
    for index, cell_module in enumerate(rnn.cells):
        layer, direction = divmod(index, rnn.num_directions)
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        assert relative_error(cell_module.W_x.grad, getattr(twin, f"weight_ih_{suffix}").grad) <= 1e-5
        assert relative_error(cell_module.W_h.grad, getattr(twin, f"weight_hh_{suffix}").grad) <= 1e-5


def gradcheck_recurrent(cell, path, lengths, **options):
    """gradcheck (float64) of outputs and final state w.r.t. input, initial state and every parameter."""
    rnn = build(cell, path, dtype=torch.float64, input_size=2, hidden_size=2, bidirectional=True, **options)
    names = [name for name, _ in rnn.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in rnn.parameters()]
    x = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    state = tuple(s.requires_grad_() for s in random_state(rnn, 2, torch.float64))

    def f(x, *rest):
        weights = dict(zip(names, rest[: len(names)]))
        out, final = torch.func.functional_call(rnn, weights, (x,), {"lengths": lengths, "state": rest[len(names) :]})
        return (out, *final)

    return torch.autograd.gradcheck(f, (x, *params, *state), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(("cell", "path"), CELL_PATHS, ids=[f"{c}[{p}]" for c, p in CELL_PATHS])
def test_gradcheck_float64_bidirectional_with_padding(cell, path):
    torch.manual_seed(0)
    assert gradcheck_recurrent(cell, path, lengths=torch.tensor([3, 2]))


@pytest.mark.parametrize(("cell", "path"), CELL_PATHS, ids=[f"{c}[{p}]" for c, p in CELL_PATHS])
def test_padded_sequence_equals_the_unpadded_one(cell, path):
    torch.manual_seed(0)
    rnn = build(cell, path, **SIZES)
    long, short = torch.randn(1, 6, 3), torch.randn(1, 4, 3)
    garbage = 100 * torch.randn(1, 2, 3)
    batch = torch.cat([long, torch.cat([short, garbage], 1)])
    out, final = rnn(batch, lengths=torch.tensor([6, 4]))
    alone, alone_final = rnn(short)
    assert (out[1:, :4] - alone).abs().max() <= 1e-5
    assert torch.all(out[1, 4:] == 0)
    for f, a in zip(final, alone_final):
        assert (f[:, 1:] - a).abs().max() <= 1e-5
