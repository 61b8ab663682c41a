"""data=timeseries: chronological splits that never leak the future, normalisation from the training part only,
the naive and seasonal forecasts, file sources, and the many-to-many regression head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.data.timeseries import TimeSeriesDataModule
from seqlab.errors import ConfigError, DataError


def prepared(tmp_path, **options) -> TimeSeriesDataModule:
    dm = TimeSeriesDataModule(cache_dir=str(tmp_path / "cache"), **options)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def column(dm, split: str, name: str) -> np.ndarray:
    return np.asarray(dm.splits[split][name][:])


@pytest.mark.parametrize("source", ["builtin:co2", "builtin:sunspots"])
@pytest.mark.parametrize("transform", ["none", "difference"])
def test_every_validation_and_test_time_is_later_than_every_training_time(tmp_path, source, transform):
    dm = prepared(tmp_path, source=source, transform=transform, window=12, horizon=3)
    train_latest = max(column(dm, "train", "time").max(), column(dm, "train", "input_end_time").max())
    val, test = column(dm, "validation", "time"), column(dm, "test", "time")
    assert val.min() > train_latest  # every target a validation example asks for lies after all of train
    assert test.min() > train_latest and test.min() > val.max()
    for split in ("train", "validation", "test"):  # each target lies `horizon` steps after its window's end
        assert (column(dm, split, "time") > column(dm, split, "input_end_time")).all()


def test_normalisation_statistics_come_from_the_training_part_only(tmp_path):
    """A series whose level jumps from 10 to 1000 after the training part: the statistics are train's."""
    values = np.concatenate([10 + np.sin(np.arange(70)), 1000 + np.sin(np.arange(70, 100))])
    (tmp_path / "s.csv").write_text("t,value\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    dm = prepared(tmp_path, source=str(tmp_path / "s.csv"), time_column="t", window=5, split=(0.7, 0.15, 0.15))
    train_part = values[:70]
    assert dm.stats["train_observations"] == 70
    assert dm.stats["mean"] == pytest.approx([train_part.mean()])
    assert dm.stats["std"] == pytest.approx([train_part.std()])
    first = np.asarray(dm.splits["train"]["inputs"][0])  # the first window, values[0:5], normalised by train's
    assert first[:, 0] == pytest.approx((values[:5] - train_part.mean()) / train_part.std(), abs=1e-5)
    assert np.abs(np.asarray(dm.splits["test"]["inputs"][:])).max() > 100  # test lies far outside train: kept so


def test_naive_and_seasonal_forecasts_on_a_planted_series(tmp_path):
    values = np.arange(60) * 2.0 + np.tile([0.0, 5.0, 1.0, 3.0], 15)  # trend 2 per step, season 4
    (tmp_path / "s.csv").write_text("value\n" + "".join(f"{v}\n" for v in values))
    dm = prepared(tmp_path, source=str(tmp_path / "s.csv"), window=6, horizon=2, season=4)
    time, truth = column(dm, "test", "time"), column(dm, "test", "truth")
    assert truth.tolist() == values[time].tolist()  # file sources: times are row numbers
    assert column(dm, "test", "last").tolist() == values[time - 2].tolist()  # naive: the value at t = target − h
    assert column(dm, "test", "seasonal").tolist() == values[time - 4].tolist()  # the same season, a season back
    change = values[time - 2] + values[time - 4] - values[time - 6]  # last value + last season's change over h
    assert column(dm, "test", "seasonal_change").tolist() == change.tolist()
    assert column(dm, "test", "seasonal_change") == pytest.approx(truth)  # trend + season: exact on this series


def test_difference_targets_invert_to_the_truth_and_per_step_targets_line_up(tmp_path):
    dm = prepared(tmp_path, transform="difference", window=8, horizon=1)
    targets = column(dm, "validation", "targets").astype(np.float64)
    forecast = dm.forecast(targets, column(dm, "validation", "last"))
    assert forecast == pytest.approx(column(dm, "validation", "truth"), abs=1e-3)
    batch = next(iter(dm.val_dataloader()))
    assert batch["inputs"].shape[1:] == (8, 1) and batch["step_targets"].shape[1] == 8
    assert torch.allclose(batch["step_targets"][:, -1], batch["targets"])  # the last step's target is the forecast


def test_a_parquet_file_with_several_columns_and_a_shuffled_time_column(tmp_path):
    import pandas as pd

    n = 80
    frame = pd.DataFrame({"when": pd.date_range("2000-01-01", periods=n, freq="D"), "a": np.arange(n) * 1.0,
                          "b": np.cos(np.arange(n))}).sample(frac=1, random_state=0)
    frame.to_parquet(tmp_path / "s.parquet")
    dm = prepared(tmp_path, source=str(tmp_path / "s.parquet"), time_column="when", target="a", window=4)
    assert dm.spec.input_features == 2 and dm.stats["columns"] == ["a", "b"]
    times = column(dm, "train", "time")
    assert (np.diff(times) > 0).all()  # rows sorted by time
    assert column(dm, "train", "truth").tolist() == sorted(column(dm, "train", "truth").tolist())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source": "builtin:nope"}, "unknown built-in series"),
        ({"window": 400}, "too short for data.window=400"),
    ],
)
def test_bad_options_are_one_line_errors_naming_the_option(tmp_path, options, message):
    with pytest.raises(DataError, match=message):
        prepared(tmp_path, **options)


def test_many_to_many_regression_head_scores_every_step_and_refuses_a_bidirectional_encoder():
    from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
    from seqlab.models.builder import build_model
    from seqlab.spec import DataSpec

    spec = DataSpec("regression", Vocabulary(SPECIALS), Tokenizer(), input_features=1)
    model = build_model(spec, {"name": "lstm"}, {"name": "regression", "pool": "none"}, {"hidden_size": 8},
                        embedding="identity")
    batch = {"inputs": torch.rand(3, 5, 1), "lengths": torch.tensor([5, 5, 5]), "targets": torch.rand(3),
             "step_targets": torch.rand(3, 5)}
    out = model(batch)
    assert out["logits"].shape == (3, 5)
    expected = torch.nn.functional.mse_loss(out["logits"], batch["step_targets"])
    assert torch.allclose(model.head.loss(out, batch), expected)
    with pytest.raises(ConfigError, match="no per-step targets"):
        model.head.loss(out, {k: v for k, v in batch.items() if k != "step_targets"})
    with pytest.raises(ConfigError, match="left-to-right encoder"):
        build_model(spec, {"name": "lstm"}, {"name": "regression", "pool": "none"},
                    {"hidden_size": 8, "bidirectional": True}, embedding="identity")
