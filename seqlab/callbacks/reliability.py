"""Callbacks that keep a run safe: a checkpoint on SIGINT/SIGTERM, and a guard against non-finite steps."""

from __future__ import annotations

import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from seqlab.callbacks.checkpoints import already_saved
from seqlab.schema import callbacks as options

log = logging.getLogger("seqlab")


class ForcedStop(BaseException):
    """A second Ctrl+C: leave at once without saving. Not a ``KeyboardInterrupt``, whose handling in Lightning
    prints its own message and exits 1; this one passes through ``trainer.fit`` (callbacks see it in
    ``on_exception``) to the command, which prints one line and exits 130."""


class TrainingInterrupted(BaseException):
    """Raised by :class:`GracefulInterrupt` at the batch boundary after it saved ``last.ckpt``, to leave
    ``trainer.fit`` there (``trainer.should_stop`` would run one more validation first, then save past the batch)."""


class GracefulInterrupt(pl.Callback):
    """On SIGINT (Ctrl+C) or SIGTERM, finish the current batch, save ``<dirpath>/last.ckpt`` and stop.

    At a batch boundary model, optimizer, scheduler, step counters, RNG and data position are consistent;
    ``ckpt_path=last`` resumes from it. A second Ctrl+C stops at once, unsaved (:class:`ForcedStop`). Handlers live
    from ``on_train_start`` to ``on_train_end`` (outside, :func:`seqlab.run.train.run`'s handler stops the run at once).
    """

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)
        self.signal_name: str | None = None
        self.checkpoint: Path | None = None
        self._previous: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise ForcedStop  # second Ctrl+C: leave now
        first = self.signal_name is None
        self.signal_name = signal.Signals(signum).name
        launcher = getattr(getattr(self._trainer, "strategy", None), "launcher", None)
        if first and launcher is not None and hasattr(launcher, "kill"):
            launcher.kill(signum)  # DDP ranks this process started stop at their next batch too

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.signal_name, self.checkpoint = None, None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Take SIGINT/SIGTERM over from here: after Lightning installed its own SIGTERM handler, which would cut a
        running validation short (it is then never redone) instead of letting it finish before the save."""
        self._trainer = trainer
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread (e.g. some launchers): the default handling
                self._previous[signum] = signal.signal(signum, self._handle)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.signal_name is None or self.checkpoint is not None:
            return
        self.checkpoint = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(self.checkpoint)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        """Leave at the next batch boundary, once the saved batch's metrics are logged (and a validation due after
        it has run, as in an uninterrupted run)."""
        if self.checkpoint is not None:
            raise TrainingInterrupted(self.signal_name)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # FinalCheckpoint's hook ran first (final weights saved): from here a signal stops the run at once, mid-save too
        self._restore_handlers()
        if self.signal_name is not None and self.checkpoint is None:  # the signal came after the last batch
            self.checkpoint = self.dirpath / "last.ckpt"
            if not already_saved(trainer, self.checkpoint):
                trainer.save_checkpoint(self.checkpoint)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_handlers()


class NonFiniteGuard(pl.Callback):
    """Never train silently on a NaN/inf loss or gradient.

    The module measures the total gradient norm once per step (free while clipping) and calls
    :meth:`nonfinite_step` when it is not finite. ``action="skip"``: the step is dropped (gradients set to None, so
    parameters and optimizer moments stay) and counted in ``train/nonfinite_steps``; ``action="stop"``, or more than
    ``max_skips`` skips: ``<dirpath>/last.ckpt`` (the weights before the bad step) is saved and the run stops.
    """

    def __init__(
        self,
        action: str = options.NonFinite.action,
        dirpath: str = "checkpoints",
        max_skips: int = options.NonFinite.max_skips,
    ):
        self.action = action
        self.dirpath = Path(dirpath)
        self.max_skips = max_skips
        self.skipped = 0
        self.stopped_at: int | None = None
        self.checkpoint: Path | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.nonfinite_guard = self

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.nonfinite_guard = None

    def nonfinite_step(self, trainer: pl.Trainer) -> None:
        """Called by the module (gradients already dropped) when the step's gradient norm is NaN or inf."""
        self.skipped += 1
        trainer.lightning_module.log("train/nonfinite_steps", float(self.skipped), reduce_fx="max")
        if self.action == "stop" or self.skipped > self.max_skips:
            self.stopped_at = trainer.global_step
            self.checkpoint = self.dirpath / "last.ckpt"
            trainer.save_checkpoint(self.checkpoint)
            trainer.should_stop = True
        else:
            log.warning("non-finite loss or gradient at step %d: step skipped (%d so far)",
                        trainer.global_step, self.skipped)
