"""Padded batches on the fused path: one kernel call per distinct length gives what packing gave.

The fused path used to pack padded batches (``pack_padded_sequence``), whose CPU backward grows with the square of
the length. It now cuts time at each distinct length (``seqlab.cells.fused.forward_fused_segments``). These tests
hold it to the packed implementation it replaced, kept here as the reference: outputs, final states and every
gradient within 1e-6, and the training loss of a fixed batch of tunes through the real datamodule, model and head
within 1e-6.
Short batches of many lengths still pack where that is cheaper (``seqlab.cells.fused.packing_is_cheaper``).
"""

from __future__ import annotations

import pytest
import torch
from support.cells import build, random_state, relative_error
from torch import _VF
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqlab.cells.fused as fused
from seqlab.cells.recurrent import Recurrent

FUSED = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}


@pytest.fixture(autouse=True)
def segments_always(monkeypatch):
    """Tiny batches would pack (cheaper than a kernel call per length): make every padded batch take the segments."""
    monkeypatch.setattr(fused, "SEGMENT_COST_IN_FLOATS", 0)


def packed_reference(rnn: Recurrent, x, lengths, state):
    """The fused path as it was before the segments (commit 7abd430): packed sequences through ``torch._VF``."""
    mode = rnn.cells[0].fused_mode
    fn = FUSED[mode]
    hx = tuple(s.contiguous() for s in state) if mode == "LSTM" else state[0].contiguous()
    args = (fused.flat_weights(rnn.cells), True, rnn.num_layers, rnn.dropout, rnn.training, rnn.num_directions == 2)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    hx = tuple(h.index_select(1, order) for h in hx) if mode == "LSTM" else hx.index_select(1, order)
    result = fn(packed.data, packed.batch_sizes, hx, *args)
    out = type(packed)(result[0], packed.batch_sizes, order, unorder)
    output, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return output, tuple(s.index_select(1, unorder) for s in result[1:])


def outputs_and_grads(forward, rnn, x, lengths, state):
    rnn.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out, final = forward(x, lengths, state)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    ((out * weights).sum() + sum((f * f).sum() for f in final)).backward()
    grads = {name: p.grad.clone() for name, p in rnn.named_parameters()}
    grads["x"] = x.grad
    grads.update({f"state{i}": s.grad for i, s in enumerate(state)})
    return out, final, grads


@pytest.mark.parametrize(
    "lengths", [[7, 7, 3, 5, 1], [2, 6, 6, 4, 3], [5, 5, 5, 5, 4]], ids=["mixed", "ties", "one_short"]
)
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)], ids=["1", "2", "2bi"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_padded_fused_batches_match_the_packed_implementation(cell, layers, bidirectional, lengths):
    rnn = build(cell, "fused", input_size=3, hidden_size=5, num_layers=layers, bidirectional=bidirectional)
    torch.manual_seed(2)
    x = torch.randn(5, 8, 3)  # total length 8 > every length: trailing padding everywhere
    lengths = torch.tensor(lengths)
    state = random_state(rnn, 5)
    new = outputs_and_grads(lambda x, l, s: rnn(x, lengths=l, state=s), rnn, x, lengths, state)
    old = outputs_and_grads(lambda x, l, s: packed_reference(rnn, x, l, s), rnn, x, lengths, state)
    assert (new[0] - old[0]).abs().max() <= 1e-6, "outputs"
    assert new[0][torch.arange(8)[None, :] >= lengths[:, None]].abs().max() == 0, "outputs past each length are zero"
    for f, ref in zip(new[1], old[1]):
        assert (f - ref).abs().max() <= 1e-6, "final state"
    for name, g in new[2].items():
        assert relative_error(g, old[2][name]) <= 1e-6, f"gradient of {name}"


def test_a_row_of_length_zero_keeps_its_initial_state_and_outputs_zeros():
    rnn = build("lstm", "fused", input_size=3, hidden_size=4)
    state = random_state(rnn, 3)
    out, (h, c) = rnn(torch.randn(3, 4, 3), lengths=torch.tensor([4, 0, 2]), state=state)
    assert out[1].abs().max() == 0
    assert torch.equal(h[:, 1], state[0][:, 1]) and torch.equal(c[:, 1], state[1][:, 1])


def test_a_fixed_batch_of_tunes_has_the_loss_of_the_packed_implementation(monkeypatch, tmp_path):
    """The real abc_music datamodule (tunes mode, bucketed), default model and head: the training loss of its first
    batch and the gradients it gives every parameter, with the fused kernels run as segments and as packed."""
    pytest.importorskip("music21")
    from omegaconf import OmegaConf

    from seqlab.models.builder import make_module
    from seqlab.run.compose import compose_config
    from seqlab.run.train import build_datamodule

    cfg = compose_config(
        ["data=abc_music", "data.batch_size=6", "model.encoder.hidden_size=16", "model.embedding_dim=8",
         f"paths.cache_dir={tmp_path}", "paths.output_dir=/unused"]
    )
    dm = build_datamodule(OmegaConf.to_container(cfg.data, resolve=True))
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert len(set(batch["lengths"].tolist())) > 1, "a batch of tunes of different lengths"
    options = OmegaConf.to_container(cfg.model, resolve=True)
    torch.manual_seed(0)
    module = make_module(dm.spec, {k: options[k] for k in ("embedding", "embedding_dim", "encoder", "cell", "head")})
    module.train()

    def loss_and_grads():
        module.zero_grad()
        loss = module.model.head.loss(module.model(batch), batch)
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in module.named_parameters()}

    loss, grads = loss_and_grads()
    monkeypatch.setattr(
        fused, "forward_fused_segments", lambda rnn, fn, x, lengths, s: packed_reference(rnn, x, lengths, s)
    )
    ref_loss, ref_grads = loss_and_grads()
    assert abs(loss - ref_loss) <= 1e-6
    for name, g in grads.items():
        assert relative_error(g, ref_grads[name]) <= 1e-5, name


def test_short_batches_of_many_lengths_pack_and_long_ones_take_the_segments(monkeypatch):
    monkeypatch.setattr(fused, "SEGMENT_COST_IN_FLOATS", 400_000)
    rnn = build("lstm", "fused", input_size=3, hidden_size=256)
    tagging = torch.randint(1, 15, (32,), generator=torch.Generator().manual_seed(0))  # mean ~7, up to 14
    tunes = torch.randint(280, 321, (32,), generator=torch.Generator().manual_seed(0))
    assert fused.packing_is_cheaper(rnn, tagging)
    assert not fused.packing_is_cheaper(rnn, tunes)
    assert not fused.packing_is_cheaper(rnn, torch.tensor([3, 0, 2])), "packing refuses empty rows"
    calls = []
    monkeypatch.setattr(fused, "forward_fused_segments", lambda rnn, *args: calls.append(1) or (None, None))
    rnn(torch.randn(32, 14, 3), lengths=tagging)
    assert calls == []
