"""Loggers with seqlab's run record: one row per step in ``metrics.csv``, continued exactly on resume."""

from __future__ import annotations

import csv
import io
from typing import Any

from pytorch_lightning.loggers import csv_logs
from pytorch_lightning.loggers import wandb as wandb_logs
from pytorch_lightning.loggers.logger import rank_zero_experiment

from seqlab.paths import write_atomic


class StepWriter(csv_logs.ExperimentWriter):
    """``metrics.csv`` with exactly one row per step, steps increasing.

    Lightning writes a row per ``log_metrics`` call, so a step at which training metrics, a validation and the
    gradient-flow probe are all logged got three rows with the same step. Here metrics of the same step are merged
    into one row: the newest row is held until a later step arrives (or the logger saves at the end), rows are
    appended once complete, and the file is rewritten — atomically — only when a new column appears.

    A resumed run (``ckpt_path=…``) keeps the rows of steps before its checkpoint and drops the others
    (:meth:`resume_at`): rows logged after the checkpoint by a run that was then killed would otherwise appear twice.
    """

    def __init__(self, log_dir: str) -> None:
        self.pending: dict[str, float] | None = None
        self.written_step: int | None = None
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes an existing ``metrics.csv`` here; a resumed run keeps it (and its columns)."""
        rows = self._read()
        if rows:
            self.metrics_keys = sorted(set(self.metrics_keys) | set(rows[0]))
            self.written_step = max(int(r["step"]) for r in rows if r.get("step"))

    def _read(self) -> list[dict[str, str]]:
        if not self._fs.isfile(self.metrics_file_path):
            return []
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            return list(csv.DictReader(file))

    def _rewrite(self, rows: list[dict[str, object]]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self.metrics_keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.metrics_file_path, text.getvalue())

    def resume_at(self, step: int) -> None:
        """Keep only the rows of steps before ``step`` (the resumed checkpoint's step)."""
        self.pending = None
        rows = self._read()
        kept = [r for r in rows if r.get("step") and int(r["step"]) < step]
        if len(kept) != len(rows):
            self._rewrite(kept)
        self.written_step = max((int(r["step"]) for r in kept), default=None)

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics_dict.items()}
        step = int(step if step is not None else (self.written_step or 0) + 1)
        if self.pending is not None and self.pending["step"] == step:
            self.pending.update(values)
            return
        if self.written_step is not None and step <= self.written_step:
            # a step already in the file (a metric logged late, e.g. at the end of an epoch): merge it into its row
            self._flush_pending()
            self._merge_written({**values, "step": step})
            return
        self._flush_pending()
        self.pending = {**values, "step": step}

    def _merge_written(self, row: dict[str, object]) -> None:
        rows = self._read()
        self.metrics_keys = sorted(set(self.metrics_keys) | set(row))
        for existing in rows:
            if existing.get("step") and int(existing["step"]) == row["step"]:
                existing.update({k: v for k, v in row.items() if v is not None})
                break
        else:
            rows.append(row)
            rows.sort(key=lambda r: int(r["step"]))
        self._rewrite(rows)

    def _flush_pending(self) -> None:
        if self.pending is None:
            return
        row, self.pending = self.pending, None
        new_keys = set(row) - set(self.metrics_keys)
        if new_keys or not self._fs.isfile(self.metrics_file_path):
            self.metrics_keys = sorted(set(self.metrics_keys) | set(row))
            self._rewrite([*self._read(), row])
        else:
            with self._fs.open(self.metrics_file_path, "a", newline="") as file:
                csv.DictWriter(file, fieldnames=self.metrics_keys, lineterminator="\n").writerow(row)
        self.written_step = int(row["step"])

    def save(self) -> None:
        """Called after every logging call: complete rows are already on disk; the newest is held back until its
        step is over (or the run ends, :meth:`close`)."""

    def close(self) -> None:
        self._flush_pending()


class CSVLogger(csv_logs.CSVLogger):
    """Lightning's CSV logger with :class:`StepWriter`: one row per step, and a run resumed in its own folder
    (``ckpt_path=last``) continues its ``metrics.csv`` from the checkpoint's step instead of replacing it."""

    @property
    @rank_zero_experiment
    def experiment(self) -> csv_logs.ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = StepWriter(log_dir=self.log_dir)
        return self._experiment

    def resume_at(self, step: int) -> None:
        """Drop the rows logged at steps ≥ ``step`` (see :meth:`StepWriter.resume_at`)."""
        self.experiment.resume_at(step)

    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.close()
        super().finalize(status)


class WandbLogger(wandb_logs.WandbLogger):
    """Lightning's wandb logger, without the ``anonymous`` setting it always hands to ``wandb.init``: wandb 0.2x
    deprecated that setting and warns about it on every run, even when it is None."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
