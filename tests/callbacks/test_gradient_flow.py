"""The gradient-flow callback's numbers equal a hand computation with autograd on the same graph."""

from __future__ import annotations

import copy

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from seqlab.callbacks.gradient_flow import GradientFlowCallback
from seqlab.data.base import DataSpec
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.models.module import SequenceModule


def tiny_module(cell: str = "rnn_tanh", layers: int = 2) -> SequenceModule:
    torch.manual_seed(0)
    vocab = Vocabulary.build([list("abcdefgh")])
    spec = DataSpec(task="language_model", vocab=vocab, tokenizer=Tokenizer("char"))
    config = {
        "embedding": "learned", "embedding_dim": 5, "cell": {"name": cell}, "head": {"name": "many_to_many"},
        "encoder": {"hidden_size": 6, "num_layers": layers, "bidirectional": False, "dropout": 0.0},
    }
    return SequenceModule(spec, config, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})


def hand_computed_norms(module: SequenceModule, batch: dict) -> tuple[list[list[float]], list[float], float]:
    """Run each layer's cell step by step in plain Python, keep every h_t, and ask autograd for ∂L/∂h_t."""
    model = module.model
    x = model.embedding(batch["inputs"])
    x.retain_grad()
    layer_input, hs_per_layer = x, []
    for cell in model.encoder.cells:
        state = cell.initial_state(x.shape[0], x.device, x.dtype)
        hs = []
        for t in range(x.shape[1]):
            state = cell.step(layer_input[:, t], state)
            state[0].retain_grad()
            hs.append(state[0])
        hs_per_layer.append(hs)
        layer_input = torch.stack(hs, 1)
    logits = model.head.logits(model, layer_input)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["targets"].reshape(-1))
    loss.backward()
    per_layer = [[float(h.grad.norm()) for h in hs] for hs in hs_per_layer]
    inputs = x.grad.norm(dim=(0, 2)).tolist()
    total = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters()])))
    return per_layer, inputs, total


def test_per_step_gradient_norms_match_autograd_on_the_same_graph(tmp_path):
    module = tiny_module()
    ids = torch.randint(4, 12, (3, 9))
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:], "lengths": torch.full((3,), 8)}
    expected_layers, expected_inputs, expected_total = hand_computed_norms(copy.deepcopy(module), batch)

    callback = GradientFlowCallback(dirpath=str(tmp_path), every_n_steps=1)
    trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, callbacks=[callback],
                         gradient_clip_val=1e-3)
    trainer.fit(module, train_dataloaders=DataLoader([batch, batch], batch_size=None))

    first = callback.records[0]  # the first step saw the initial weights, as the hand computation did
    for layer, expected in enumerate(expected_layers):
        step, recorded = callback.history[f"encoder.layer{layer}"][0]
        assert step == 0
        torch.testing.assert_close(torch.tensor(recorded), torch.tensor(expected), rtol=1e-5, atol=1e-7)
        assert abs(first[f"grad_flow/encoder.layer{layer}/vanishing_index"]
                   - expected[0] / expected[-1]) < 1e-5 * expected[0] / expected[-1]
    _, inputs = callback.history["inputs"][0]
    torch.testing.assert_close(torch.tensor(inputs), torch.tensor(expected_inputs), rtol=1e-5, atol=1e-7)
    assert abs(first["grad_norm/total"] - expected_total) < 1e-5 * expected_total
    assert abs(float(module.grad_norm_before_clip) - callback.records[1]["grad_norm/total"]) < 1e-6
    # the step before the second record was clipped (1e-3 is below any real gradient norm)
    assert callback.records[1]["grad_norm/clipped_fraction"] == 1.0


def test_sigma_max_is_the_largest_singular_value_of_W_h(tmp_path):
    module = tiny_module(layers=1)
    ids = torch.randint(4, 12, (2, 6))
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:]}
    W_h = module.model.encoder.cells[0].W_h.detach().clone()
    callback = GradientFlowCallback(dirpath=str(tmp_path), every_n_steps=1)
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, callbacks=[callback])
    trainer.fit(module, train_dataloaders=DataLoader([batch], batch_size=None))
    expected = float(torch.linalg.svdvals(W_h)[0])
    assert abs(callback.last["sigma_max/encoder.layer0"] - expected) < 1e-5


def test_fused_path_is_restored_after_a_recorded_step(tmp_path):
    module = tiny_module(cell="lstm")
    encoder = module.model.encoder
    assert encoder.resolve_path() == "fused"
    ids = torch.randint(4, 12, (2, 6))
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:]}
    callback = GradientFlowCallback(dirpath=str(tmp_path / "gf"), every_n_steps=2)
    trainer = pl.Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, callbacks=[callback])
    trainer.fit(module, train_dataloaders=DataLoader([batch] * 4, batch_size=None))
    assert [step for step, _ in callback.history["encoder.layer0"]] == [0, 1, 3]
    assert encoder.resolve_path() == "fused"
    assert sorted(p.name for p in (tmp_path / "gf").glob("*.png")) == ["encoder.layer0.png", "encoder.layer1.png",
                                                                      "inputs.png"]
