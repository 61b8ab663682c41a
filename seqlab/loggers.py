"""Loggers with seqlab's resume behaviour, and a quieter wandb logger."""

from __future__ import annotations

import csv
from typing import Any

from pytorch_lightning.loggers import csv_logs
from pytorch_lightning.loggers import wandb as wandb_logs
from pytorch_lightning.loggers.logger import rank_zero_experiment


class _AppendingWriter(csv_logs.ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Lightning deletes an existing metrics.csv here; a resumed run keeps it, and starts from its header so that
        new columns are merged into it."""
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                header = next(csv.reader(file), [])
            self.metrics_keys = sorted(set(self.metrics_keys) | set(header))


class CSVLogger(csv_logs.CSVLogger):
    """Lightning's CSV logger, except that a run resumed in its own folder (``ckpt_path=last``) continues its
    ``metrics.csv`` instead of replacing it. Each new run has a new folder, so nothing stale is appended to."""

    @property
    @rank_zero_experiment
    def experiment(self) -> csv_logs.ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class WandbLogger(wandb_logs.WandbLogger):
    """Lightning's wandb logger, without the ``anonymous`` setting it always hands to ``wandb.init``: wandb 0.2x
    deprecated that setting and warns about it on every run, even when it is None."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
