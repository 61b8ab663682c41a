"""Training on CUDA: a bf16-mixed step of every head is finite and its loss close to float32's; a checkpoint trained
on CUDA generates on the CPU; the gradient-flow callback records on CUDA what it records on the CPU."""

from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch
from gpu_helpers import needs_device, to_device
from head_helpers import make_model
from test_heads_many_to_many import LANGUAGE, TAGGING, repeat_batch
from test_heads_many_to_one import SPEC as ORDER_SPEC
from test_heads_many_to_one import order_batch
from test_heads_one_to_many import SPEC as TUNES_SPEC
from test_heads_one_to_many import TUNES, tunes_batch
from test_heads_seq2seq import SPEC as DIGITS_SPEC
from test_heads_seq2seq import reversal_batch
from torch.utils.data import DataLoader

from seqlab.callbacks.gradient_flow import GradientFlowCallback
from seqlab.data.base import DataSpec
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
from seqlab.generate import main as generate
from seqlab.models.builder import build_model, make_module
from seqlab.models.sequence_model import SequenceModel

pytestmark = needs_device


def language_batch(rng: torch.Generator, size: int) -> dict[str, torch.Tensor]:
    ids = 4 + torch.randint(0, 4, (size, 13), generator=rng)
    return {"inputs": ids[:, :-1], "targets": ids[:, 1:]}


def regression_case(rng: torch.Generator, encoder: dict) -> tuple[SequenceModel, dict[str, torch.Tensor]]:
    """The adding problem's layout: (value, marker) pairs → one real number."""
    spec = DataSpec("regression", Vocabulary(SPECIALS), Tokenizer(), input_features=2)
    torch.manual_seed(0)
    model = build_model(spec, {"name": "lstm"}, {"name": "auto"}, {"hidden_size": 16, **encoder}, embedding="identity")
    inputs = torch.rand(16, 10, 2, generator=rng)
    return model, {"inputs": inputs, "lengths": torch.full((16,), 10), "targets": inputs[..., 0].sum(1)}


#: one case per head (and each seq2seq attention): (spec, head config, batch builder)
HEADS = {
    "many_to_one": (ORDER_SPEC, {"name": "many_to_one"}, lambda rng: order_batch(rng, 16)),
    "many_to_many_tagging": (TAGGING, {"name": "many_to_many"}, lambda rng: repeat_batch(rng, 32)),
    "many_to_many_lm": (LANGUAGE, {"name": "many_to_many", "tie_weights": True}, lambda rng: language_batch(rng, 8)),
    "one_to_many": (TUNES_SPEC, {"name": "one_to_many", "condition_input": True}, lambda rng: tunes_batch()),
    **{
        f"seq2seq_{attention}": (
            DIGITS_SPEC,
            {"name": "seq2seq", "attention": attention},
            lambda rng: reversal_batch(rng, 16, 2, 7),
        )
        for attention in ("none", "luong", "bahdanau")
    },
    "regression": None,
}


@pytest.mark.parametrize("path", ["fused", "structured"])  # cuDNN's kernel, and Recurrent's own loop
@pytest.mark.parametrize("head", list(HEADS))
def test_a_bf16_mixed_training_step_of_every_head_is_finite_and_close_to_float32(head, path, device):
    rng = torch.Generator().manual_seed(0)
    encoder = {"path": path, "bidirectional": head == "many_to_one", "num_layers": 2}
    if HEADS[head] is None:
        model, batch = regression_case(rng, encoder)
    else:
        spec, head_config, make_batch = HEADS[head]
        model, batch = make_model(spec, head_config, cell="lstm", **encoder), make_batch(rng)
    model, batch = model.to(device).train(), to_device(batch, device)
    with torch.no_grad():
        loss_fp32 = float(model.head.loss(model(batch), batch))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.autocast(device.type, dtype=torch.bfloat16):  # what Lightning's precision="bf16-mixed" does
        loss = model.head.loss(model(batch), batch)
    loss.backward()
    optimizer.step()
    loss_bf16 = float(loss.detach())
    assert torch.isfinite(loss), f"{head}: bf16-mixed loss {loss_bf16}"
    # bf16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.2 %): a loss summed from many such terms lands
    # within a few per cent of float32's
    assert loss_bf16 == pytest.approx(loss_fp32, rel=0.03, abs=0.01), f"{head}: bf16 {loss_bf16} vs fp32 {loss_fp32}"
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(g.dtype == torch.float32 and bool(torch.isfinite(g).all()) for g in grads), f"{head}: gradients"
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters()), f"{head}: parameters after the step"


def lightning_trainer(device: torch.device, steps: int, **options) -> pl.Trainer:
    return pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )


def test_a_checkpoint_trained_on_the_device_generates_on_the_cpu(device, tmp_path, capsys):
    torch.manual_seed(0)
    model_config = {
        "cell": {"name": "lstm"},
        "head": {"name": "one_to_many"},
        "encoder": {"hidden_size": 16},
        "embedding": "learned",
        "embedding_dim": 8,
    }
    module = make_module(
        TUNES_SPEC, model_config, optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-2}
    )
    trainer = lightning_trainer(device, 120, limit_val_batches=0, default_root_dir=str(tmp_path))
    trainer.fit(module, train_dataloaders=DataLoader([tunes_batch()] * 120, batch_size=None))
    assert next(module.parameters()).device.type == device.type  # trained where we said
    checkpoint = tmp_path / "tunes.ckpt"
    trainer.save_checkpoint(checkpoint)
    stored = torch.load(checkpoint, map_location="meta", weights_only=True)["state_dict"]
    assert stored, "the checkpoint holds the weights"
    generate([f"ckpt_path={checkpoint}", "condition=reel", "temperature=0", "num_samples=1", "max_length=12"])
    assert capsys.readouterr().out.splitlines()[1] == TUNES_SPEC.decode(TUNES["reel"])


def test_the_gradient_flow_callback_records_on_the_device_what_it_records_on_the_cpu(device, tmp_path):
    torch.manual_seed(0)
    model_config = {
        "cell": {"name": "lstm"},
        "head": {"name": "many_to_many"},
        "embedding": "learned",
        "embedding_dim": 5,
        "encoder": {"hidden_size": 6, "num_layers": 2},
    }
    module = make_module(
        LANGUAGE, model_config, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}
    )
    ids = torch.randint(4, 8, (3, 9), generator=torch.Generator().manual_seed(0))
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:], "lengths": torch.full((3,), 8)}
    records = {}
    for where in ("cpu", device.type):
        callback = GradientFlowCallback(dirpath=str(tmp_path / where), every_n_steps=1)
        trainer = lightning_trainer(torch.device(where), 2, limit_val_batches=0, callbacks=[callback])
        trainer.fit(copy.deepcopy(module), train_dataloaders=DataLoader([batch, batch], batch_size=None))
        records[where] = callback.records
        assert sorted(p.name for p in (tmp_path / where).glob("*.png")), "plots written"
    cpu, dev = records["cpu"], records[device.type]
    assert len(dev) == len(cpu) == 2 and all(set(d) == set(c) for d, c in zip(dev, cpu))
    for d, c in zip(dev, cpu):
        for key, value in c.items():
            assert d[key] == pytest.approx(value, rel=1e-3, abs=1e-6), key
