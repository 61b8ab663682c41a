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
    """``metrics.csv`` with exactly one row per step, steps increasing, on disk after every logging call.

    Lightning writes a row per ``log_metrics`` call (training metrics, a validation and the gradient-flow probe at one
    step: three rows). Here a step's metrics share one row: the last row is rewritten in place while its step goes on,
    and the whole file (atomically) only when a new column appears. A resumed run keeps the rows of steps before its
    checkpoint (:meth:`resume_at`), so rows a killed run logged after it do not appear twice.
    """

    def __init__(self, log_dir: str) -> None:
        self.last: dict[str, object] | None = None  # the newest row (on disk from offset ``last_offset`` when saved)
        self.last_offset: int | None = None
        self.dirty = False
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes an existing ``metrics.csv`` here; a resumed run keeps it (and its columns)."""
        if rows := self._read():
            self.metrics_keys = sorted(set(self.metrics_keys) | set(rows[0]))
            self._rewrite(rows)  # puts the last row where :meth:`save` can rewrite it

    def _read(self) -> list[dict[str, object]]:
        if not self._fs.isfile(self.metrics_file_path):
            return []
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            return [r for r in csv.DictReader(file) if r.get("step") not in (None, "")]

    def _line(self, row: dict[str, object]) -> str:
        text = io.StringIO()
        csv.DictWriter(text, fieldnames=self.metrics_keys, lineterminator="\n").writerow(row)
        return text.getvalue()

    def _rewrite(self, rows: list[dict[str, object]]) -> None:
        header = self._line(dict(zip(self.metrics_keys, self.metrics_keys)))  # what DictWriter.writeheader writes
        body = [self._line(r) for r in rows]
        write_atomic(self.metrics_file_path, header + "".join(body))
        self.last = dict(rows[-1]) if rows else None
        self.last_offset = len((header + "".join(body[:-1])).encode()) if rows else None
        self.dirty = False

    def resume_at(self, step: int) -> None:
        """Keep only the rows of steps before ``step`` (the resumed checkpoint's step)."""
        self._rewrite([r for r in self._read() if int(r["step"]) < step])

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics_dict.items()}
        last_step = int(self.last["step"]) if self.last is not None else -1
        step = int(step if step is not None else last_step + 1)
        if step == last_step:
            self.last.update(values)
        else:  # a later step: no logger call goes back (Lightning's and seqlab's own log at the current step)
            self.save()
            self.last, self.last_offset = {**values, "step": step}, None
        self.dirty = True

    def save(self) -> None:
        """Put the newest row on disk (Lightning calls this after every logging call)."""
        if not self.dirty or self.last is None:
            return
        if set(self.last) - set(self.metrics_keys) or not self._fs.isfile(self.metrics_file_path):
            rows = self._read()
            if self.last_offset is not None:
                rows = rows[:-1]
            self.metrics_keys = sorted(set(self.metrics_keys) | set(self.last))
            self._rewrite([*rows, self.last])
            return
        with open(self.metrics_file_path, "r+b") as file:
            if self.last_offset is None:
                self.last_offset = file.seek(0, io.SEEK_END)
            file.seek(self.last_offset)
            file.truncate()
            file.write(self._line(self.last).encode())
        self.dirty = False


class CSVLogger(csv_logs.CSVLogger):
    """Lightning's CSV logger with :class:`StepWriter`; a run resumed in its folder continues its ``metrics.csv``."""

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


class WandbLogger(wandb_logs.WandbLogger):
    """Lightning's wandb logger without the ``anonymous`` setting, which wandb 0.2x deprecated (warns every run)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
