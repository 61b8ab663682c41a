"""Real-valued time series for forecasting: windows of the past → the value ``horizon`` steps ahead.

Built-in series (offline, from statsmodels' bundled data sets):

- ``builtin:co2`` — weekly atmospheric CO2 at Mauna Loa, March 1958 – December 2001 (ppm; Keeling & Whorf, as
  statsmodels ships it), averaged per calendar month (526 months, 7 gaps interpolated in time). Season 12 months.
- ``builtin:sunspots`` — the yearly mean sunspot number, 1700–2008 (309 years). Season 11 years (the solar cycle).

Or a CSV/Parquet file (:func:`read_table`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.base import DataSpec, SeqDataModule
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
from seqlab.errors import DataError
from seqlab.schema import data as schema

#: the built-in series: statsmodels data set, the season (in steps) its seasonal-naive forecast uses
BUILTIN_SERIES = {"builtin:co2": 12, "builtin:sunspots": 11}
#: the file in the cache (and in ``<run>/``) with the training part's statistics
STATS_FILE = "normalisation.json"


def builtin_series(source: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(times, {column: values})`` of a built-in series (statsmodels' bundled data; no download)."""
    import pandas as pd
    from statsmodels import datasets

    if source == "builtin:co2":
        weekly = datasets.co2.load_pandas().data["co2"]
        monthly = weekly.resample("MS").mean().interpolate(method="time")
        return monthly.index.to_numpy(dtype="datetime64[ns]"), {"co2": monthly.to_numpy(dtype=np.float64)}
    if source == "builtin:sunspots":
        frame = datasets.sunspots.load_pandas().data
        times = pd.to_datetime(frame["YEAR"].astype(int).astype(str), format="%Y").to_numpy(dtype="datetime64[ns]")
        return times, {"sunspots": frame["SUNACTIVITY"].to_numpy(dtype=np.float64)}
    raise DataError(f"data.source: unknown built-in series '{source}'; available: {', '.join(BUILTIN_SERIES)}")


def read_table(path: Path, columns: list[str] | None, time_column: str | None) -> tuple[np.ndarray, dict]:
    """A CSV or Parquet file as ``(times, {column: values})``: numeric ``columns`` (default: all numeric ones but
    ``time_column``), sorted by ``time_column`` when given (else times are row numbers)."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"data.source={path}: no such file (a CSV or Parquet file, or {', '.join(BUILTIN_SERIES)})")
    frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    if time_column is not None:
        if time_column not in frame.columns:
            raise DataError(f"data.time_column={time_column}: no such column in {path} ({', '.join(frame.columns)})")
        frame = frame.sort_values(time_column, kind="stable")
        times = frame[time_column].to_numpy()
        if not np.issubdtype(times.dtype, np.number):
            times = pd.to_datetime(frame[time_column]).to_numpy(dtype="datetime64[ns]")
    else:
        times = np.arange(len(frame))
    names = list(columns) if columns else [c for c in frame.columns if c != time_column and
                                           pd.api.types.is_numeric_dtype(frame[c])]
    missing = [c for c in names if c not in frame.columns]
    if missing or not names:
        found = ", ".join(map(str, frame.columns))
        raise DataError(f"data.columns: {missing or 'no numeric column'} in {path} (columns: {found})")
    values = {}
    for name in names:
        column = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(column).any():
            row = int(np.flatnonzero(np.isnan(column))[0])
            raise DataError(f"{path}: column '{name}' has a missing or non-numeric value (row {row + 2})")
        values[name] = column
    return times, values


def seasonal_naive_index(target: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The index of the seasonal-naive forecast of the value at ``target``, made ``horizon`` steps before it: the
    same season's last observed value, ``season · ceil(horizon / season)`` steps back (Hyndman & Athanasopoulos,
    *Forecasting: Principles and Practice*, 3rd ed., §5.2).

    >>> seasonal_naive_index(np.array([30]), horizon=1, season=12).tolist()
    [18]
    >>> seasonal_naive_index(np.array([30]), horizon=13, season=12).tolist()
    [6]
    """
    return target - season * math.ceil(horizon / season)


class TimeSeriesDataModule(SeqDataModule):
    """Forecasting a real-valued series (``data=timeseries``; task ``regression``, head ``regression``).

    An example: ``inputs (W, F)``, the ``window`` normalised observations (``transform=difference``: changes) up to
    time t, and the normalised target column at t + ``horizon`` (``difference``: its change from t). Batches:
    ``inputs (B, W, F)``, ``lengths (B,)`` (all W), ``targets (B,)``, ``step_targets (B, W)`` (the same quantity
    ``horizon`` steps after every step, for ``model.head.pool=none``).

    Splits are cut in time; an example belongs to the split of its target's time (its window may reach back into
    the earlier split: the past, known at forecast time). Normalisation is fitted on the training part only
    (``self.stats``, ``normalisation.json``). For :class:`~seqlab.experiments.forecast.ForecastCallback` each example
    keeps, in original units, ``last`` (the naive forecast), ``truth``, ``seasonal``, ``seasonal_change`` and the
    target's ``time`` (ns or the row number).

    >>> dm = TimeSeriesDataModule(window=24, horizon=1, cache_dir="/tmp/seqlab-doctest")  # doctest: +SKIP
    >>> dm.setup("fit"); tuple(next(iter(dm.train_dataloader()))["inputs"].shape)  # doctest: +SKIP
    (32, 24, 1)
    """

    name = "timeseries"
    unkeyed_options = (*SeqDataModule.unkeyed_options, "seed")  # nothing is drawn: the split is a cut in time

    def __init__(
        self,
        source: str = schema.TimeSeries.source,
        columns: list[str] | None = None,
        target: str | None = None,
        time_column: str | None = None,
        window: int = schema.TimeSeries.window,
        horizon: int = schema.TimeSeries.horizon,
        season: int | None = None,
        transform: str = schema.TimeSeries.transform,
        split: tuple[float, float, float] = schema.TimeSeries.split,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        self.columns = list(columns) if columns else None
        self.target, self.time_column = target, time_column
        self.window, self.horizon, self.transform = window, horizon, transform
        self.season = season if season is not None else BUILTIN_SERIES.get(self.source)
        self.split_fractions = split
        self.stats: dict[str, Any] = {}

    def build(self, out_dir: Path) -> None:
        import datasets

        if self.source.startswith("builtin:"):
            times, columns = builtin_series(self.source)
        else:
            times, columns = read_table(Path(self.source).expanduser(), self.columns, self.time_column)
        names = list(columns)
        target = self.target or names[0]
        if target not in columns:
            raise DataError(f"data.target={target}: not one of the columns ({', '.join(names)})")
        raw = np.stack([columns[n] for n in names], axis=1)  # (N, F), original units
        series = np.diff(raw, axis=0, prepend=np.nan) if self.transform == "difference" else raw
        n = len(raw)
        cut_val = int(round(self.split_fractions[0] * n))
        cut_test = int(round((self.split_fractions[0] + self.split_fractions[1]) * n))
        first = self.window + (1 if self.transform == "difference" else 0)  # the first step a window can end at
        if cut_val - self.horizon < first:
            raise DataError(
                f"data.source={self.source}: {n} observations; the training part ({cut_val}) is too short for "
                f"data.window={self.window} and data.horizon={self.horizon}"
            )
        train_part = series[first - self.window : cut_val]  # what the model reads of train (no NaN of the diff)
        mean, std = train_part.mean(axis=0), train_part.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        t_index = names.index(target)
        self.stats = {
            "columns": names,
            "target": target,
            "transform": self.transform,
            "mean": mean.tolist(),
            "std": std.tolist(),
            "target_mean": float(mean[t_index]),
            "target_std": float(std[t_index]),
            "train_observations": cut_val,
        }
        if self.transform == "difference":  # the target is y[t+h] − y[t]: its own statistics, on train
            deltas = raw[first - 1 + self.horizon : cut_val, t_index] - raw[first - 1 : cut_val - self.horizon, t_index]
            self.stats.update(target_mean=float(deltas.mean()), target_std=float(deltas.std() or 1.0))
        normed = (series - mean) / std
        ends = np.arange(first - 1, n - self.horizon)  # t: the window's last step
        goal = ends + self.horizon
        split_of = np.where(goal < cut_val, "train", np.where(goal < cut_test, "validation", "test"))
        keys = {}
        for split in ("train", "validation", "test"):
            t = ends[split_of == split]
            if not len(t):
                raise DataError(f"data.source={self.source}: no {split} example (change data.split or data.window)")
            steps = t[:, None] - self.window + 1 + np.arange(self.window)[None, :]  # (N, W)
            rows = {
                "inputs": normed[steps].astype(np.float32),
                "targets": self.scaled(raw[t + self.horizon, t_index], raw[t, t_index]).astype(np.float32),
                "step_targets": self.scaled(raw[steps + self.horizon, t_index], raw[steps, t_index]).astype(np.float32),
                "last": raw[t, t_index],
                "truth": raw[t + self.horizon, t_index],
                "seasonal": self.seasonal_naive(raw[:, t_index], t),
                "seasonal_change": self.seasonal_change(raw[:, t_index], t),
                "time": times[t + self.horizon].astype("int64"),
                "input_end_time": times[t].astype("int64"),
            }
            self.write_split(out_dir, split, datasets.Dataset.from_dict({k: list(v) for k, v in rows.items()}))
            keys[split] = rows["time"].tolist()  # an example is its target's time: no two share one
        (out_dir / STATS_FILE).write_text(json.dumps({**self.stats, "season": self.season}, indent=2))
        self.write_split_report(out_dir, keys, ())
        spec = DataSpec(task="regression", vocab=Vocabulary(SPECIALS), tokenizer=Tokenizer(), input_features=len(names))
        self.write_spec(out_dir, spec)

    def seasonal_naive(self, target_column: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The seasonal-naive forecasts (original units) of the targets of windows ending at ``t``; NaN without a
        season, or where the series does not reach back far enough."""
        if not self.season:
            return np.full(len(t), np.nan)
        index = seasonal_naive_index(t + self.horizon, self.horizon, self.season)
        return np.where(index >= 0, target_column[np.maximum(index, 0)], np.nan)

    def seasonal_change(self, target_column: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The last value plus last season's change over the same ``horizon`` steps, y_t + (y_{t+h−m·k} − y_{t−m·k}),
        k = ceil(h/m): the forecast of a seasonal random walk on the changes, ARIMA(0,1,0)(0,1,0)_m with no
        parameter (Box & Jenkins 1970) — what trend and season alone give. NaN as :meth:`seasonal_naive`."""
        if not self.season:
            return np.full(len(t), np.nan)
        back = self.season * math.ceil(self.horizon / self.season)
        then, before = t + self.horizon - back, t - back
        change = target_column[np.maximum(then, 0)] - target_column[np.maximum(before, 0)]
        return np.where(before >= 0, target_column[t] + change, np.nan)

    def scaled(self, future: np.ndarray, now: np.ndarray) -> np.ndarray:
        """The normalised training target: ``future`` (``none``) or its change from ``now`` (``difference``)."""
        value = future if self.transform == "none" else future - now
        return (value - self.stats["target_mean"]) / self.stats["target_std"]

    def forecast(self, predicted: np.ndarray, last: np.ndarray) -> np.ndarray:
        """The model's normalised output → a forecast in original units (the inverse of :meth:`scaled`)."""
        value = predicted * self.stats["target_std"] + self.stats["target_mean"]
        return value if self.transform == "none" else last + value

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if not self.stats:
            self.stats = json.loads((self.cache_path / STATS_FILE).read_text())

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        inputs = torch.from_numpy(np.stack([e["inputs"] for e in examples]).astype(np.float32))
        return {
            "inputs": inputs,
            "lengths": torch.full((len(examples),), inputs.shape[1], dtype=torch.long),
            "targets": torch.tensor(np.array([e["targets"] for e in examples]), dtype=torch.float32),
            "step_targets": torch.from_numpy(np.stack([e["step_targets"] for e in examples]).astype(np.float32)),
        }
