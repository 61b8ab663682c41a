"""Every cell and path on CUDA equals its CPU result and, for cells with a cuDNN twin, ``torch.nn``'s RNN/LSTM/GRU on
CUDA: outputs, final states and every gradient, padded and bidirectional, in float32 (TF32 off)."""

from __future__ import annotations

import copy

import pytest
import torch
from gpu_helpers import BATCH, FLOAT32_TOLERANCE, SIZES, STEPS, lengths_for, needs_device
from support.cells import BUILTIN_CELLS, CELL_PATHS, build, random_state, relative_error
from test_cells_paths import torch_nn_twin
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.cells import Recurrent
from seqlab.registry import CELLS

pytestmark = needs_device

FUSED_CELLS = [c for c in BUILTIN_CELLS if CELLS.get(c).fused_mode is not None]


def forward_backward(rnn, x, lengths, state, device):
    """Outputs, final state and the gradients of a loss touching every output and final state, all on the CPU.
    Lengths go to the device too, as Lightning moves a whole batch."""
    x = x.to(device).requires_grad_()
    state = tuple(s.to(device).requires_grad_() for s in state)
    lengths = lengths.to(device) if lengths is not None else None
    out, final = rnn(x, lengths=lengths, state=state)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(device)
    loss = (out * weights).sum() + sum((f * f).sum() for f in final)
    loss.backward()
    grads = {name: p.grad for name, p in rnn.named_parameters()}
    grads.update(x=x.grad, **{f"state{i}": s.grad for i, s in enumerate(state)})
    cpu = lambda t: t.detach().cpu()  # noqa: E731
    return cpu(out), tuple(map(cpu, final)), {k: cpu(g) for k, g in grads.items()}


def assert_same(got, expected, what: str) -> None:
    out, final, grads = got
    ref_out, ref_final, ref_grads = expected
    assert relative_error(out, ref_out) <= FLOAT32_TOLERANCE, f"{what}: outputs"
    for f, ref in zip(final, ref_final):
        assert relative_error(f, ref) <= FLOAT32_TOLERANCE, f"{what}: final state"
    for name, g in grads.items():
        assert relative_error(g, ref_grads[name]) <= FLOAT32_TOLERANCE, f"{what}: gradient of {name}"


@pytest.mark.parametrize("masked", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize(("cell", "path"), CELL_PATHS, ids=[f"{c}[{p}]" for c, p in CELL_PATHS])
def test_every_cell_and_path_on_the_device_equals_its_cpu_result(cell, path, masked, device):
    torch.manual_seed(0)
    rnn = build(cell, path, **SIZES)
    x, state = torch.randn(BATCH, STEPS, SIZES["input_size"]), random_state(rnn, BATCH)
    lengths = lengths_for(BATCH, STEPS) if masked else None
    on_cpu = forward_backward(copy.deepcopy(rnn), x, lengths, state, torch.device("cpu"))
    on_device = forward_backward(rnn.to(device), x, lengths, state, device)
    assert_same(on_device, on_cpu, f"{cell}[{path}] on {device} vs cpu")


@pytest.mark.parametrize("masked", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("path", ["fused", "structured", "step"])
@pytest.mark.parametrize("cell", FUSED_CELLS)
def test_cells_with_a_cudnn_twin_equal_torch_nn_on_the_device(cell, path, masked, device):
    torch.manual_seed(0)
    rnn = build(cell, path, **SIZES)
    twin = torch_nn_twin(rnn).to(device)
    rnn = rnn.to(device)
    x, state = torch.randn(BATCH, STEPS, SIZES["input_size"]), random_state(rnn, BATCH)
    lengths = lengths_for(BATCH, STEPS) if masked else None
    mine = forward_backward(rnn, x, lengths, state, device)

    class Twin(torch.nn.Module):  # torch.nn's calling convention → Recurrent's (packed when padded)
        def __init__(self):
            super().__init__()
            self.twin = twin

        def forward(self, x, lengths, state):
            hx = state if twin.mode == "LSTM" else state[0]
            if lengths is None:
                out, final = self.twin(x, hx)
            else:
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                out, final = self.twin(packed, hx)
                out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
            return out, final if twin.mode == "LSTM" else (final,)

    theirs = forward_backward(Twin(), x, lengths, state, device)
    renamed = {}  # the twin's parameter names → Recurrent's
    for index, cell_module in enumerate(rnn.cells):
        layer, direction = divmod(index, rnn.num_directions)
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        for mine_name, twin_name in (("W_x", "weight_ih"), ("W_h", "weight_hh"), ("b_x", "bias_ih")):
            renamed[f"cells.{index}.{mine_name}"] = theirs[2][f"twin.{twin_name}_{suffix}"]
        if cell_module.b_h is not None:
            renamed[f"cells.{index}.b_h"] = theirs[2][f"twin.bias_hh_{suffix}"]
    theirs[2].update(renamed)
    assert_same(mine, theirs, f"{cell}[{path}] vs torch.nn.{twin.mode} on {device}")


@pytest.mark.parametrize(("cell", "path"), [("lstm", "structured"), ("gru", "step")])
def test_the_compiled_step_on_the_device_equals_the_eager_one(cell, path, device):
    torch.manual_seed(0)
    eager = build(cell, path, **SIZES).to(device)
    compiled = Recurrent(cell, path=path, compile=True, **SIZES).to(device)
    compiled.load_state_dict(eager.state_dict())
    x, state = torch.randn(BATCH, STEPS, SIZES["input_size"]), random_state(eager, BATCH)
    lengths = lengths_for(BATCH, STEPS)
    assert_same(
        forward_backward(compiled, x, lengths, state, device),
        forward_backward(eager, x, lengths, state, device),
        f"{cell}[{path}+compile] on {device}",
    )
