"""val/loss and test/loss are seqlab's own: a head's metric loop never reaches them, and a run that monitors a metric
its head does not log stops before training, in one line."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from support.runs import TINY
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.heads import Head
from seqlab.models.builder import make_module
from seqlab.registry import HEADS
from seqlab.spec import DataSpec

TAGS = ["O", "NOUN", "VERB", "ADJ", "DET"]
SPEC = DataSpec("tagging", Vocabulary.build([list("abcdefgh")]), Tokenizer("char"), classes=TAGS)


class NaturalTagger(Head):
    """A tagging head as a plugin author writes it from docs/plugins.md, with the natural metric loop."""

    tasks = ("tagging",)

    def __init__(self, ctx):
        super().__init__()
        self.out = torch.nn.Linear(ctx.encoder_size, len(ctx.spec.classes))

    def predict(self, encoded, batch):
        return {"logits": self.out(encoded)}

    def loss(self, out, batch):
        return F.cross_entropy(out["logits"].flatten(0, 1), batch["targets"].flatten())

    def make_metrics(self):
        return {"accuracy": MulticlassAccuracy(len(TAGS)), "macro_f1": MulticlassF1Score(len(TAGS))}

    def update_metrics(self, metrics, out, batch):
        predictions = out["logits"].argmax(-1)
        for metric in metrics.values():  # every metric it has — seqlab's loss mean must not be one of them
            metric.update(predictions, batch["targets"])


@pytest.fixture
def natural_tagger():
    HEADS.register("natural_tagger", NaturalTagger)
    yield "natural_tagger"
    HEADS._entries.pop("natural_tagger")
    HEADS._owners.pop("natural_tagger")


def tagged_batch(rows: int, seed: int) -> dict[str, torch.Tensor]:
    """Every row 6 real steps (no padding); the tag of a letter is its id modulo 5, so mean tag ids are near 2."""
    inputs = torch.randint(4, SPEC.vocab_size, (rows, 6), generator=torch.Generator().manual_seed(seed))
    return {"inputs": inputs, "targets": inputs % len(TAGS), "lengths": torch.full((rows,), 6)}


def test_a_head_whose_metric_loop_updates_every_metric_logs_the_true_mean_loss(natural_tagger):
    torch.manual_seed(0)
    config = {"cell": {"name": "gru"}, "head": {"name": natural_tagger}, "encoder": {"hidden_size": 8},
              "embedding_dim": 4}
    module = make_module(SPEC, config, optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01})
    assert set(module.val_metrics) == {"accuracy", "macro_f1"} and module.val_loss is not None
    validation = [tagged_batch(3, seed=10), tagged_batch(5, seed=11)]  # two sizes: a mean over rows, not batches
    trainer = pl.Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")
    trainer.fit(module, train_dataloaders=DataLoader([tagged_batch(4, seed=s) for s in range(3)], batch_size=None),
                val_dataloaders=DataLoader(validation, batch_size=None))

    module.eval()
    with torch.no_grad():
        losses = [float(module.model.head.loss(module.model(b), b)) * len(b["inputs"]) for b in validation]
    expected = sum(losses) / sum(len(b["inputs"]) for b in validation)
    assert float(trainer.callback_metrics["val/loss"]) == pytest.approx(expected, rel=1e-5)
    assert 0.0 <= float(trainer.callback_metrics["val/accuracy"]) <= 1.0
    assert "val/macro_f1" in trainer.callback_metrics


def test_a_head_that_makes_its_own_loss_metric_gets_no_second_one():
    torch.manual_seed(0)
    lm = DataSpec("language_model", SPEC.vocab, Tokenizer("char"))
    module = make_module(lm, {"cell": {"name": "gru"}, "head": {"name": "many_to_many"},
                              "encoder": {"hidden_size": 8}, "embedding_dim": 4})
    assert "loss" in module.val_metrics and module.val_loss is None and module.test_loss is None


def test_a_run_monitoring_a_metric_its_head_does_not_log_stops_before_training_in_one_line(run_seqlab, tmp_path):
    result = run_seqlab(*TINY, "callbacks.model_checkpoint.monitor=val/macro_f1")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert errors == [
        "seqlab: error: callbacks.model_checkpoint.monitor=val/macro_f1: head many_to_many logs val/accuracy, "
        "val/bpc, val/loss, val/perplexity; monitor one of them (callbacks.model_checkpoint.monitor=val/loss)"
    ], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.csv"))  # nothing trained
