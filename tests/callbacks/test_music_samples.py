"""The music callback's samples of a conditional model: one per tune type, each generated from its own type."""

from __future__ import annotations

import json

import torch

from seqlab.callbacks.music import MusicSamplesCallback
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.models.builder import build_model
from seqlab.models.module import SequenceLitModule
from seqlab.spec import DataSpec


def test_each_conditional_sample_is_generated_from_the_type_it_is_labelled_with(tmp_path):
    """Greedy decoding (top_k=1) makes a sample a function of its condition alone, so the callback's sample for a type
    must equal the head's own greedy sample for that type. (The callback once passed the whole list of types with
    num_samples=N, which asks for N samples of *each* type: 9 samples were generated for 3, and all three shown were
    of the first type, labelled as the three types.)"""
    torch.manual_seed(0)
    classes = ["jig", "reel", "air"]
    spec = DataSpec("conditional_generation", Vocabulary.build([list("abcdefg|")]), Tokenizer(), classes=classes)
    model = build_model(spec, {"name": "lstm"}, {"name": "one_to_many", "condition_input": True},
                        {"hidden_size": 16}, embedding_dim=8)
    callback = MusicSamplesCallback(str(tmp_path), num_samples=3, max_length=12, top_k=1, seed=0)
    samples = callback.sample(SequenceLitModule(model))
    assert [kind for kind, _ in samples] == classes
    greedy = {c: spec.decode(model.head.generate(model, condition=c, max_length=12, top_k=1)[0]) for c in classes}
    assert len(set(greedy.values())) > 1  # the types lead to different tunes, so a mix-up would show
    assert [text for _, text in samples] == [greedy[c] for c in classes]


def batches(spec: DataSpec, text: str, n: int) -> list[dict[str, torch.Tensor]]:
    """``n`` language-model batches of one row each: ``<bos> text`` → ``text <eos>``."""
    ids = spec.vocab.encode(list(text))
    inputs = torch.tensor([[spec.vocab.bos_id, *ids]])
    targets = torch.tensor([[*ids, spec.vocab.eos_id]])
    return [{"inputs": inputs, "targets": targets, "lengths": torch.tensor([len(ids) + 1])}] * n


def test_weights_best_samples_from_the_best_validation_and_puts_the_final_weights_back(tmp_path):
    """A real Trainer.fit, validating every 2 steps; the ModelCheckpoint keeps the *highest* val/loss (mode=max), which
    on a loss that falls is the first validation's — so the best weights are not the final ones. Greedy samples
    (top_k=1) must be those of best.ckpt's weights, and training's final weights must be back afterwards."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from seqlab.models.module import load_checkpoint

    torch.manual_seed(0)
    spec = DataSpec("language_model", Vocabulary.build([list("abcdefg|")]), Tokenizer())
    model = build_model(spec, {"name": "lstm"}, {"name": "many_to_many"}, {"hidden_size": 16}, embedding_dim=8)
    module = SequenceLitModule(model, optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.05})
    best = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", filename="best", monitor="val/loss", mode="max", save_on_train_epoch_end=False
    )
    music = MusicSamplesCallback(str(tmp_path / "tunes"), num_samples=2, max_length=12, top_k=1, weights="best")
    trainer = pl.Trainer(max_steps=8, val_check_interval=2, callbacks=[best, music], logger=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    data = batches(spec, "abc|abc|abc|gfe|", 8)
    loader = torch.utils.data.DataLoader  # batch_size=None: the items are batches already
    trainer.fit(
        module, train_dataloaders=loader(data, batch_size=None),
        val_dataloaders=loader(data[:1], batch_size=None)
    )
    checkpoint = load_checkpoint(best.best_model_path)
    assert music.step == checkpoint["global_step"] < trainer.global_step == 8
    final = {k: v.clone() for k, v in module.state_dict().items()}
    greedy_final = model.head.generate(model, num_samples=1, max_length=12, top_k=1)[0]
    module.load_state_dict(checkpoint["state_dict"])
    greedy_best = model.head.generate(model, num_samples=1, max_length=12, top_k=1)[0]
    assert greedy_best != greedy_final  # so sampling from the wrong weights would show
    written = json.loads((tmp_path / "tunes" / "tunes.json").read_text())
    assert written["weights"] == "best" and written["weights_step"] == music.step
    assert [t["abc"] for t in written["tunes"]] == [spec.decode(greedy_best)] * 2
    module.load_state_dict(final)
    music.sample_from_best(trainer, module)
    assert all(torch.equal(v, final[k]) for k, v in module.state_dict().items())


def test_weights_best_without_a_monitored_checkpoint_is_one_clear_error(tmp_path):
    import pytest
    import pytorch_lightning as pl

    from seqlab.errors import ConfigError
    from seqlab.run.preflight import check_composes

    assert check_composes(["callbacks=music", "callbacks.music.weights=last"]).endswith(
        "callbacks.music.weights='last': expected final or best")  # the schema's check, before anything runs
    music = MusicSamplesCallback(str(tmp_path), weights="best")
    trainer = pl.Trainer(callbacks=[music], enable_checkpointing=False, logger=False)
    with pytest.raises(ConfigError, match="callbacks.music.weights=best needs a ModelCheckpoint that monitors"):
        music.on_fit_start(trainer, None)


def test_weights_best_with_no_saved_validation_samples_the_final_weights_and_says_so(tmp_path):
    """No validation ran (limit_val_batches=0), so no best.ckpt exists: the final weights are sampled, and tunes.json
    says ``final`` rather than claiming the best validation's."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    torch.manual_seed(0)
    spec = DataSpec("language_model", Vocabulary.build([list("abcdefg|")]), Tokenizer())
    model = build_model(spec, {"name": "lstm"}, {"name": "many_to_many"}, {"hidden_size": 16}, embedding_dim=8)
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="best", monitor="val/loss")
    music = MusicSamplesCallback(str(tmp_path / "tunes"), num_samples=1, max_length=8, top_k=1, weights="best")
    trainer = pl.Trainer(max_steps=2, limit_val_batches=0, callbacks=[best, music], logger=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    data = torch.utils.data.DataLoader(batches(spec, "abc|gfe|", 2), batch_size=None)
    trainer.fit(SequenceLitModule(model), train_dataloaders=data)
    written = json.loads((tmp_path / "tunes" / "tunes.json").read_text())
    assert written["weights"] == "final" and written["weights_step"] == 2
