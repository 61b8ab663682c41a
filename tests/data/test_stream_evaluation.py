"""Stream language models are evaluated as in Zaremba et al. 2014 / pytorch/examples: the val/test stream
batchified into ``eval_batch_size`` rows, the state carried across consecutive windows, reset per evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from support.data import prepared

from seqlab.data.text import WordTextDataModule
from seqlab.models.builder import make_module
from seqlab.models.module import SequenceLitModule

MODEL = {
    "cell": {"name": "lstm"},
    "head": {"name": "auto"},
    "encoder": {"hidden_size": 24, "num_layers": 2},
    "embedding": "learned",
    "embedding_dim": 16,
}


def hand_written_loss(module: SequenceLitModule, ids: np.ndarray, batch: int, bptt: int, carry: bool = True) -> float:
    """The published evaluation, written out: cut the split's stream into ``batch`` rows (the remainder dropped),
    run windows of ``bptt`` consecutive steps left to right, start each window from the previous one's final
    state, and average the cross-entropy over every predicted token."""
    length = len(ids) // batch
    rows = torch.as_tensor(ids[: batch * length].astype(np.int64)).view(batch, length)
    state, total, tokens = None, 0.0, 0
    module.eval()
    with torch.no_grad():
        for start in range(0, length - 1, bptt):
            width = min(bptt, length - 1 - start)
            inputs, targets = rows[:, start : start + width], rows[:, start + 1 : start + 1 + width]
            out = module.model({"inputs": inputs}, state if carry else None)
            state = out["state"]
            total += F.cross_entropy(
                out["logits"].reshape(-1, out["logits"].shape[-1]), targets.reshape(-1), reduction="sum"
            ).item()
            tokens += targets.numel()
    return total / tokens


@pytest.fixture(scope="module")
def stream_lm(cache_dir):
    """The built-in WikiText-style corpus as streams (train batch 20, eval batch 10) and a small random LSTM."""
    torch.manual_seed(0)
    datamodule = prepared(WordTextDataModule, cache_dir, batch_size=20, bptt=35)
    module = make_module(datamodule.spec, MODEL)
    return datamodule, module


def trainer(**options) -> pl.Trainer:
    return pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        **options,
    )


def test_validation_loss_equals_a_hand_written_loop_that_carries_the_state_with_batch_10(stream_lm):
    datamodule, module = stream_lm
    assert datamodule.eval_batch_size == 10
    seqlab_loss = trainer().validate(module, datamodule=datamodule, verbose=False)[0]["val/loss"]
    ids = datamodule.streams["validation"]
    expected = hand_written_loss(module, ids, batch=10, bptt=35)
    assert seqlab_loss == pytest.approx(expected, abs=1e-5)
    # the protocol matters at this precision: windows from zeros give another figure
    assert abs(hand_written_loss(module, ids, batch=10, bptt=35, carry=False) - expected) > 1e-4
    # the state is reset at the start of each evaluation: a second validation gives the same figure
    again = trainer().validate(module, datamodule=datamodule, verbose=False)[0]["val/loss"]
    assert again == pytest.approx(seqlab_loss, abs=1e-6)


def test_test_loss_carries_the_state_too_and_eval_batch_size_sets_the_rows(stream_lm, cache_dir):
    datamodule, module = stream_lm
    seqlab_loss = trainer().test(module, datamodule=datamodule, verbose=False)[0]["test/loss"]
    assert seqlab_loss == pytest.approx(hand_written_loss(module, datamodule.streams["test"], 10, 35), abs=1e-5)

    five = prepared(WordTextDataModule, cache_dir, batch_size=20, bptt=35, eval_batch_size=5)
    batch = next(iter(five.val_dataloader()))
    assert batch["inputs"].shape == (5, 35)
    assert next(iter(five.train_dataloader()))["inputs"].shape == (20, 35)  # training batches are unchanged
    loss = trainer().validate(module, datamodule=five, verbose=False)[0]["val/loss"]
    assert loss == pytest.approx(hand_written_loss(module, five.streams["validation"], 5, 35), abs=1e-5)


class CarryWatch(pl.Callback):
    """Records the training carry just before and just after each validation inside a training epoch."""

    def __init__(self) -> None:
        self.pairs: list[tuple[tuple, tuple]] = []
        self.eval_rows: list[int] = []

    def on_validation_start(self, trainer, module) -> None:
        self.before = tuple(s.clone() for s in module._carry) if module._carry is not None else None

    def on_validation_end(self, trainer, module) -> None:
        self.eval_rows.append(module._eval_carry[0].shape[1])
        if self.before is not None:
            self.pairs.append((self.before, module._carry))


def test_a_validation_in_the_middle_of_an_epoch_leaves_the_training_carry_alone(stream_lm):
    datamodule, _ = stream_lm
    module = make_module(datamodule.spec, MODEL)  # fresh: the others were evaluated in inference mode
    watch = CarryWatch()
    fit = trainer(
        max_steps=4,
        val_check_interval=2,
        limit_val_batches=3,
        num_sanity_val_steps=0,
        callbacks=[watch],
    )
    fit.fit(module, datamodule=datamodule)
    assert len(watch.pairs) == 2 and set(watch.eval_rows) == {10}
    for before, after in watch.pairs:
        assert before[0].shape[1] == 20 and all(torch.equal(a, b) for a, b in zip(before, after))
