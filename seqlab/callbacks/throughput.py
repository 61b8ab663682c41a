"""Training throughput: tokens and steps per second, logged and written to ``<dirpath>/throughput.json``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only

from seqlab.paths import write_json
from seqlab.schema import callbacks as options


class ThroughputMonitor(pl.Callback):
    """Count input tokens (real steps, from ``lengths``) per second of training, validation excluded.

    A step is timed from the end of the previous step to its own end, so fetching the batch and every hook, logger
    and callback count: what a user waits for, not just the model. ``warmup_steps`` are not timed. Logs
    ``train/tokens_per_s``; at the end of fit writes ``throughput.json`` (this process's share under DDP).
    """

    def __init__(self, dirpath: str, warmup_steps: int = options.Throughput.warmup_steps):
        self.dirpath = Path(dirpath)
        self.warmup_steps = warmup_steps
        self.tokens = 0
        self.steps = 0
        self.seconds = 0.0
        self._mark: float | None = None  # when the step being timed began (the previous step's end)
        #: wall-clock time (Unix seconds) at which the first training step began — start-up benchmarks use it
        self.first_step_at: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        if self.first_step_at is None:
            self.first_step_at = time.time()
        if self._mark is None:
            self._mark = time.perf_counter()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._mark = None  # validation (and the checkpointing after it) is not training time

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           idx: int) -> None:
        now = time.perf_counter()
        started, self._mark = self._mark, now
        if started is None or trainer.global_step <= self.warmup_steps:
            return
        self.seconds += now - started
        lengths = batch.get("lengths") if isinstance(batch, dict) else None
        self.tokens += int(lengths.sum()) if lengths is not None else int(batch["inputs"].numel())
        self.steps += 1
        if trainer.global_step % trainer.log_every_n_steps == 0:
            pl_module.log("train/tokens_per_s", self.tokens / self.seconds, on_step=True, on_epoch=False)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.steps:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        figures = {"tokens_per_s": self.tokens / self.seconds, "steps_per_s": self.steps / self.seconds,
                   "steps": self.steps, "seconds": self.seconds, "first_step_at": self.first_step_at}
        write_json(self.dirpath / "throughput.json", figures, indent=2)
