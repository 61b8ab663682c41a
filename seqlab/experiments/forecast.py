"""Forecast figures in the series' own units, beside the naive and seasonal-naive forecasts, and a plot of them.

For ``data=timeseries``: the error in ppm or sunspots (``val/loss`` is on normalised targets), next to the forecasts
anyone can make without a model (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., §5.2):

- naive: the last observed value, ŷ_{t+h} = y_t;
- seasonal naive: the same season's last observed value, ŷ_{t+h} = y_{t+h−m·ceil(h/m)} (season m);
- seasonal change: the last value plus the same season's change a season before, ŷ_{t+h} = y_t + y_{t+h−m·k} − y_{t−m·k}
  (k = ceil(h/m)) — ARIMA(0,1,0)(0,1,0)_m without parameters: a stronger bar for a trending seasonal series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from seqlab.callbacks.samples import eval_mode
from seqlab.experiments.callbacks import publish

SPLIT_NAMES = {"validation": "val", "test": "test"}
#: the forecasts made without a model: metric name → the split's column holding them
BASELINES = {"naive": "last", "seasonal_naive": "seasonal", "seasonal_change": "seasonal_change"}


def errors(forecast: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``{"mae": …, "rmse": …}`` over the examples with a forecast (NaN ones — no seasonal value — left out).

    >>> errors(np.array([1.0, 2.0, np.nan]), np.array([2.0, 4.0, 5.0]))
    {'mae': 1.5, 'rmse': 1.5811388300841898}
    """
    known = ~np.isnan(forecast)
    if not known.any():
        return {"mae": float("nan"), "rmse": float("nan")}
    diff = forecast[known] - truth[known]
    return {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean()))}


def baseline_errors(columns: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """:func:`errors` of each forecast made without a model (:data:`BASELINES`) on a split's columns."""
    return {label: errors(columns[key], columns["truth"]) for label, key in BASELINES.items()}


def split_columns(datamodule: Any, split: str) -> dict[str, np.ndarray]:
    """The split's examples as arrays (``inputs (N, W, F)``, ``last``, ``truth``, ``seasonal``, ``time``)."""
    data = datamodule.splits[split]
    return {k: np.asarray(data[k][:]) for k in ("inputs", "last", "truth", "seasonal", "seasonal_change", "time")}


@torch.no_grad()
def model_forecasts(pl_module: pl.LightningModule, datamodule: Any, inputs: np.ndarray) -> np.ndarray:
    """The model's forecasts in original units for ``inputs (N, W, F)`` (many-to-many heads: the last step's)."""
    model = pl_module.model
    out = []
    with eval_mode(model):
        for start in range(0, len(inputs), 256):
            x = torch.as_tensor(inputs[start : start + 256], dtype=torch.float32, device=pl_module.device)
            batch = {"inputs": x, "lengths": torch.full((len(x),), x.shape[1], dtype=torch.long, device=x.device)}
            logits = model(batch)["logits"].float()
            out.append((logits[:, -1] if logits.dim() == 2 else logits).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def plot_forecasts(path: Path, title: str, columns: dict[str, np.ndarray], forecast: np.ndarray) -> None:
    """Truth, the model's forecast and both naive forecasts against the target's time, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time = columns["time"]
    x = time.astype("datetime64[ns]") if np.abs(time).max(initial=0) > 10**12 else time
    figure, axis = plt.subplots(figsize=(10, 4))
    axis.plot(x, columns["truth"], color="black", lw=1.5, label="truth")
    axis.plot(x, forecast, color="tab:blue", lw=1.2, label="model")
    axis.plot(x, columns["last"], color="gray", lw=1, ls="--", label="naive (last value)")
    if not np.isnan(columns["seasonal"]).all():
        axis.plot(x, columns["seasonal"], color="tab:orange", lw=1, ls=":", label="seasonal naive")
        axis.plot(x, columns["seasonal_change"], color="tab:green", lw=1, ls="-.", label="seasonal change")
    axis.set_title(title)
    axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


class ForecastCallback(pl.Callback):
    """Forecast errors in original units beside the naive and seasonal-naive ones, and forecast-vs-truth plots.

    At the end of fit (final weights): ``val/forecast_mae|rmse`` and, for validation and test,
    ``baseline/<naive|seasonal_naive|seasonal_change>_<split>_mae|rmse``; at the end of testing (the test's weights):
    ``test/forecast_mae|rmse``. Published and printed, and plotted in ``<dirpath>/forecast_<split>.png``.
    """

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    @staticmethod
    def applies(trainer: pl.Trainer) -> bool:
        return hasattr(trainer.datamodule, "forecast") and hasattr(trainer.datamodule, "stats")  # None has neither

    def report(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str, baselines: bool) -> None:
        datamodule = trainer.datamodule
        columns = split_columns(datamodule, split)
        forecast = datamodule.forecast(model_forecasts(pl_module, datamodule, columns["inputs"]), columns["last"])
        name = SPLIT_NAMES[split]
        model = errors(forecast, columns["truth"])
        results = {f"{name}/forecast_{k}": v for k, v in model.items()}
        own = baseline_errors(columns)
        for other in (s for s in SPLIT_NAMES if baselines and s in datamodule.splits):
            found = own if other == split else baseline_errors(split_columns(datamodule, other))
            for label, metrics in found.items():
                results |= {f"baseline/{label}_{SPLIT_NAMES[other]}_{m}": value for m, value in metrics.items()}
        publish(trainer, results)
        others = ", ".join(f"{label.replace('_', ' ')} {e['mae']:.4g} / {e['rmse']:.4g}" for label, e in own.items())
        print(
            f"seqlab: {name} forecast MAE / RMSE {model['mae']:.4g} / {model['rmse']:.4g} ({others}; "
            f"{len(forecast)} forecasts, original units)",
            flush=True,
        )
        target = datamodule.stats.get("target", "target")
        horizon = getattr(datamodule, "horizon", 1)
        title = (
            f"{target}: {name} forecasts {horizon} step(s) ahead (MAE model {model['mae']:.3g}, "
            f"naive {own['naive']['mae']:.3g})"
        )
        plot_forecasts(self.dirpath / f"forecast_{name}.png", title, columns, forecast)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.applies(trainer):
            self.report(trainer, pl_module, "validation", baselines=True)

    @rank_zero_only
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.applies(trainer) and "test" in trainer.datamodule.splits:
            self.report(trainer, pl_module, "test", baselines=False)
