"""Heads inside the real LightningModule and Trainer: metrics logged, checkpoints generate by condition and source."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from head_helpers import make_spec
from test_heads_one_to_many import SPEC as TUNES_SPEC
from test_heads_one_to_many import TUNES, tunes_batch
from test_heads_seq2seq import SPEC as DIGITS_SPEC
from test_heads_seq2seq import reversal_batch
from torch.utils.data import DataLoader

from seqlab.generate import main
from seqlab.models.builder import make_module
from seqlab.models.module import SequenceLitModule


def fit(spec, head: dict, batches: list[dict], steps: int, tmp_path, **encoder) -> tuple[pl.Trainer, SequenceLitModule]:
    torch.manual_seed(0)
    model_config = {
        "cell": {"name": "lstm"},
        "head": head,
        "encoder": {"hidden_size": 16, **encoder},
        "embedding": "learned",
        "embedding_dim": 8,
    }
    optimizer = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-2}
    module = make_module(spec, model_config, optimizer=optimizer)
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(
        module,
        train_dataloaders=DataLoader(batches, batch_size=None),
        val_dataloaders=DataLoader(batches[:1], batch_size=None),
    )
    return trainer, module


def test_a_trained_one_to_many_checkpoint_plays_the_tune_of_the_class_it_is_given(tmp_path, capsys):
    trainer, _ = fit(TUNES_SPEC, {"name": "one_to_many"}, [tunes_batch()] * 120, 120, tmp_path)
    assert {"val/loss", "val/perplexity", "val/accuracy"} <= set(trainer.callback_metrics)
    checkpoint = tmp_path / "tunes.ckpt"
    trainer.save_checkpoint(checkpoint)
    main([f"ckpt_path={checkpoint}", "condition=reel", "temperature=0", "num_samples=1", "max_length=12"])
    assert capsys.readouterr().out.splitlines()[1] == TUNES_SPEC.decode(TUNES["reel"])
    with pytest.raises(SystemExit):
        main([f"ckpt_path={checkpoint}", "condition=polka"])
    assert "seqlab: error: condition=polka: unknown class" in capsys.readouterr().err


def test_a_seq2seq_run_logs_translation_metrics_and_its_checkpoint_translates_a_source(tmp_path, capsys):
    rng = torch.Generator().manual_seed(0)
    batches = [reversal_batch(rng, 16, 2, 5) for _ in range(4)]
    trainer, _ = fit(DIGITS_SPEC, {"name": "seq2seq", "attention": "luong"}, batches, 4, tmp_path)
    expected = {"val/loss", "val/perplexity", "val/accuracy", "val/bleu", "val/chrf", "val/exact_match"}
    assert expected <= set(trainer.callback_metrics)
    checkpoint = tmp_path / "reverse.ckpt"
    trainer.save_checkpoint(checkpoint)
    main([f"ckpt_path={checkpoint}", "source=1234", "temperature=0", "num_samples=2", "max_length=6"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "--- sample 1 ---" and set(lines[1]) <= set("0123456789") and lines[1] == lines[3]
    with pytest.raises(SystemExit):
        main([f"ckpt_path={checkpoint}"])
    assert "needs source=TEXT to translate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([f"ckpt_path={checkpoint}", "source=12", "condition=jig"])
    assert "condition=: head seq2seq does not take a condition" in capsys.readouterr().err


def test_a_classification_run_logs_macro_metrics(tmp_path):
    spec = make_spec("classification", ["A", "B"], classes=["no", "yes"])
    batch = {
        "inputs": torch.tensor([[4, 5, 0], [5, 4, 4]]),
        "lengths": torch.tensor([2, 3]),
        "targets": torch.tensor([0, 1]),
    }
    trainer, _ = fit(spec, {"name": "many_to_one", "pool": "attention"}, [batch] * 2, 2, tmp_path, bidirectional=True)
    assert {"val/loss", "val/accuracy", "val/macro_f1", "val/macro_recall"} <= set(trainer.callback_metrics)
