"""A fault on purpose: send this process a real signal at a chosen point of a run, to test what a run leaves behind
(recovery drills, tests/test_chaos.py). Add it to any run:

    python -m seqlab +callbacks.fault._target_=seqlab.callbacks.faults.FaultInjector \\
        +callbacks.fault.phase=validation +callbacks.fault.step=20 +callbacks.fault.signal=SIGTERM

``phase``: ``train`` (after the training batch that reaches ``step``), ``validation`` (during the first validation
at or after ``step``), ``test``, ``fit_end`` (among the end-of-fit callbacks). ``signal``: ``SIGINT``, ``SIGTERM``,
``SIGKILL``, or ``pause`` — sleep, so another process can act while this run holds its folder. ``marker``: a file
(holding the PID) written when the fault fires; while it exists the fault does not fire again: a rerun resumes.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

PHASES = ("train", "validation", "test", "fit_end")


class FaultInjector(pl.Callback):
    """Send ``signal`` to this process once, at ``phase`` (see the module's docstring)."""

    def __init__(self, phase: str = "train", step: int = 0, signal: str = "SIGTERM", marker: str | None = None,
                 pause_seconds: float = 600.0):
        from seqlab.errors import ConfigError

        if phase not in PHASES:
            raise ConfigError(f"callbacks.fault.phase={phase!r}: expected one of {', '.join(PHASES)}")
        if signal not in ("SIGINT", "SIGTERM", "SIGKILL", "pause"):
            raise ConfigError(f"callbacks.fault.signal={signal!r}: expected SIGINT, SIGTERM, SIGKILL or pause")
        self.phase, self.step, self.signal, self.marker = phase, step, signal, marker
        self.pause_seconds = pause_seconds
        self.fired = False

    def fire(self) -> None:
        if self.fired or (self.marker and Path(self.marker).exists()):  # once per marker: a rerun goes through
            return
        self.fired = True
        if self.marker:
            Path(self.marker).write_text(str(os.getpid()))
        if self.signal == "pause":
            time.sleep(self.pause_seconds)
            return
        os.kill(os.getpid(), getattr(signal, self.signal))
        time.sleep(0.1)  # the handler runs at the next bytecode boundary of the main thread

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.phase == "train" and trainer.global_step >= self.step:
            self.fire()

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.phase == "validation" and not trainer.sanity_checking and trainer.global_step >= self.step:
            self.fire()

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.phase == "test":
            self.fire()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.phase == "fit_end":
            self.fire()
