"""The structured path's prepacked recurrent product (oneDNN, CPU float32) gives the numbers of the plain product.

Above a hidden size (``PACKED_MIN_HIDDEN``) ``Recurrent`` prepacks ``W_h`` once per forward and runs each step's
``h_{t-1} W_hᵀ`` as one oneDNN matmul (``PackedRecurrentProduct``). These tests lower the thresholds so that tiny
cells take it, and hold it to the plain product (``addmm`` / ``linear``): outputs, final states and every gradient
within 1e-6, padded and bidirectional, for cells that sum the projections (LSTM, Elman) and cells that keep ``b_h``
apart (GRU); the probe's tapped forward and autocast keep the plain product.
"""

from __future__ import annotations

import pytest
import torch
from support.cells import build, random_state, relative_error

import seqlab.cells.products as products

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN (CPU build)")


def forward_backward(rnn, x, lengths, state):
    rnn.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = rnn(x, lengths=lengths, state=state)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    ((out * weights).sum() + sum((f * f).sum() for f in final)).backward()
    grads = {name: p.grad.clone() for name, p in rnn.named_parameters()}
    grads["x"] = x.grad
    grads.update({f"state{i}": s.grad for i, s in enumerate(state)})
    return out, final, grads


def packed_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = products.PackedRecurrentWeight.__init__

    def counting(self, W_h, batch):
        calls.append(batch)
        original(self, W_h, batch)

    monkeypatch.setattr(products.PackedRecurrentWeight, "__init__", counting)
    return calls


@pytest.mark.parametrize("masked", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("cell", ["lstm", "peephole_lstm", "coupled_lstm", "gru", "rnn_tanh"])
def test_the_packed_product_gives_the_plain_products_outputs_and_gradients(cell, masked, monkeypatch):
    rnn = build(cell, "structured", input_size=3, hidden_size=6, num_layers=2, bidirectional=True)
    torch.manual_seed(0)
    x = torch.randn(4, 12, 3)
    lengths = torch.tensor([12, 9, 12, 3]) if masked else None
    state = random_state(rnn, 4)
    monkeypatch.setattr(products, "PACKED_MIN_HIDDEN", 10**9)
    plain = forward_backward(rnn, x, lengths, state)
    monkeypatch.setattr(products, "PACKED_MIN_HIDDEN", 1)
    calls = packed_calls(monkeypatch)
    packed = forward_backward(rnn, x, lengths, state)
    assert calls == [4] * 4, "one packed weight per layer and direction"
    assert (packed[0] - plain[0]).abs().max() <= 1e-6, "outputs"
    for f, ref in zip(packed[1], plain[1]):
        assert (f - ref).abs().max() <= 1e-6, "final state"
    for name, g in packed[2].items():
        assert relative_error(g, plain[2][name]) <= 1e-6, f"gradient of {name}"


def test_short_sequences_the_probe_and_autocast_keep_the_plain_product(monkeypatch):
    rnn = build("lstm", "structured", input_size=3, hidden_size=6)
    monkeypatch.setattr(products, "PACKED_MIN_HIDDEN", 1)
    calls = packed_calls(monkeypatch)
    rnn(torch.randn(2, products.PACKED_MIN_STEPS - 1, 3))
    rnn.tap_states = True
    rnn(torch.randn(2, 12, 3))
    rnn.tap_states = False
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rnn(torch.randn(2, 12, 3))
    assert calls == []
    with torch.no_grad():  # evaluation and generation take it too
        rnn(torch.randn(2, 12, 3))
    assert calls == [2]
