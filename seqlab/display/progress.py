"""What a run shows while it trains: one progress bar over the whole run (:class:`RunProgressBar`, a thin subclass
of Lightning's ``RichProgressBar``) and the run's own lines above it (:class:`RunConsole`).

::

    train ━━━━━━━━━━━╺━━━━━━━━━━━━━━ 480/1,500 steps 6.12 steps/s 0:01:22 • ETA 0:02:51 epoch 2
    train/loss 1.912 · val/loss 1.874 · val/perplexity 6.51 · val/bpc 2.703

The bar counts the run's optimizer steps (``trainer.max_steps``, or epochs × batches), not an epoch's batches; the
ETA is for the whole run (the average time per step so far, validation included).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from rich.progress import BarColumn, ProgressColumn, Task, TextColumn
from rich.text import Text

from seqlab.display import console

#: a run longer than this gets a warning
LONG_RUN_SECONDS = 3600


def total_steps(trainer: pl.Trainer) -> float:
    """The optimizer step this run ends at: the first of ``max_steps`` and ``max_epochs`` × steps per epoch, or inf."""
    bounds = []
    if trainer.max_steps is not None and trainer.max_steps > 0:
        bounds.append(trainer.max_steps)
    batches = trainer.num_training_batches
    if trainer.max_epochs is not None and trainer.max_epochs > 0 and math.isfinite(batches):
        accumulate = max(1, int(getattr(trainer, "accumulate_grad_batches", 1) or 1))
        bounds.append(trainer.max_epochs * math.ceil(batches / accumulate))
    return float(min(bounds)) if bounds else math.inf


def duration(seconds: float) -> str:
    """``4 min 12 s``, ``3 h 5 min``, ``12 s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def faster_setting(trainer: pl.Trainer) -> str:
    """The setting that makes this run faster, where seqlab knows one."""
    datamodule = getattr(trainer, "datamodule", None)
    if getattr(datamodule, "name", None) == "abc_music" and getattr(datamodule, "mode", None) == "tunes":
        return ("data.mode=windows is much faster (the MIT music lab's fixed windows instead of one example per "
                "tune)")
    import torch

    if torch.cuda.is_available() and trainer.accelerator.__class__.__name__ == "CPUAccelerator":
        return "this machine has a GPU: add trainer=gpu"
    return "fewer steps (trainer.max_steps=N) or a smaller model (model.encoder.hidden_size=N) make it shorter"


def _is_run(task: Task) -> bool:
    """The run's task (the others are Lightning's validation and test bars, counted in batches)."""
    return "epoch" in task.fields


class _StepsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = f"{int(task.total):,}" if task.total is not None and math.isfinite(task.total) else "?"
        unit = "steps" if _is_run(task) else "batches"
        return Text(f"{int(task.completed):,}/{total} {unit}", style="progress.download")


class _RunColumn(ProgressColumn):
    """A column of the run's task, ``text(task.fields)`` in ``style``; empty on the validation and test bars."""

    def __init__(self, text: Callable[[dict[str, Any]], str], style: str, max_refresh: float | None = None):
        super().__init__()
        self.text, self.style, self.max_refresh = text, style, max_refresh

    def render(self, task: Task) -> Text:
        return Text(self.text(task.fields) if _is_run(task) else "", style=self.style)


def _clock(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=int(seconds)))


class RunConsole(pl.Callback):
    """The run's own lines on the console (rank 0 only; each also goes to ``config.log``): a start line, the
    estimated run length after its first timed steps (warned beyond :data:`LONG_RUN_SECONDS`), one line per validation.

    ``warmup_steps`` are not timed (allocator, kernels, compilation); the estimate follows ``estimate_after_steps``
    timed steps or ``estimate_after_seconds``, whichever is first. A step is timed from the end of the previous one."""

    def __init__(self, warmup_steps: int = 3, estimate_after_steps: int = 10, estimate_after_seconds: float = 20.0):
        self.warmup_steps = warmup_steps
        self.estimate_after_steps = estimate_after_steps
        self.estimate_after_seconds = estimate_after_seconds
        self.reset()

    def reset(self) -> None:
        self.started_at: float | None = None
        self.first_step = 0
        self._mark: float | None = None
        self.timed_steps = 0
        self.timed_seconds = 0.0
        self._estimated = False
        #: the data's tokenizer kind (``char``, ``word``, ``bpe``): names bits per token in the lines
        self.tokenizer: str | None = None

    def times(self, trainer: pl.Trainer) -> dict[str, float | None]:
        """``elapsed`` since the first step, the run's ``eta`` (the pace so far, validation included) and ``rate``."""
        now = time.perf_counter()
        elapsed = now - self.started_at if self.started_at is not None else None
        done = trainer.global_step - self.first_step
        total = total_steps(trainer)
        eta = None
        if elapsed is not None and done > 0 and math.isfinite(total):
            eta = max(0.0, total - trainer.global_step) * elapsed / done
        rate = self.timed_steps / self.timed_seconds if self.timed_seconds > 0 else None  # timed steps only
        return {"elapsed": elapsed, "eta": eta, "rate": rate}

    def say(self, trainer: pl.Trainer, message: str, style: str | None = None) -> None:
        """Print one line (above the bar when there is one) and write it into ``config.log``; rank 0 only."""
        if not trainer.is_global_zero:
            return
        bar = trainer.progress_bar_callback
        if isinstance(bar, RunProgressBar) and bar.live:
            bar.progress.console.print(message, style=style, highlight=False, soft_wrap=True)
        else:
            print(message, flush=True)
        console.shown(message)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.reset()
        self.first_step = trainer.global_step
        spec = getattr(getattr(pl_module, "model", None), "spec", None)
        self.tokenizer = getattr(getattr(spec, "tokenizer", None), "kind", None)
        total = total_steps(trainer)
        steps = f"{int(total):,} steps" if math.isfinite(total) else "no step limit"
        resumed = f", resumed at step {trainer.global_step:,}" if trainer.global_step else ""
        parameters = sum(p.numel() for p in pl_module.parameters())
        self.say(trainer, f"seqlab: {parameters:,} parameters, {steps}{resumed} → "
                          f"{console.shorter(trainer.default_root_dir)}")

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.started_at is None:
            self.started_at = time.perf_counter()
        if self._mark is None:
            self._mark = time.perf_counter()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._mark = None  # validation is not training time

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.perf_counter()
        started, self._mark = self._mark, now
        if started is not None and trainer.global_step - self.first_step > self.warmup_steps:
            self.timed_steps += 1
            self.timed_seconds += now - started
        if not self._estimated and self.timed_steps and (
            self.timed_steps >= self.estimate_after_steps or self.timed_seconds >= self.estimate_after_seconds
        ):
            self._estimated = True
            self.estimate(trainer)

    def estimate(self, trainer: pl.Trainer) -> None:
        """One line: how long the run will take at the pace of its timed steps; a warning beyond an hour."""
        rate = self.timed_steps / self.timed_seconds
        total = total_steps(trainer)
        if not math.isfinite(total):
            self.say(trainer, f"seqlab: {rate:.2f} steps/s (no step limit: set trainer.max_steps for an estimate)")
            return
        seconds = (total - self.first_step) / rate
        self.say(trainer, f"seqlab: estimated run time {duration(seconds)} for {int(total - self.first_step):,} "
                          f"steps ({rate:.2f} steps/s; plus validation)")
        if seconds > LONG_RUN_SECONDS:
            self.say(trainer, f"seqlab: warning: this run will take about {duration(seconds)}; "
                              f"{faster_setting(trainer)}", style="bold yellow")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
        rows = console.results_rows(values, self.tokenizer)
        total = total_steps(trainer)
        of = f"/{int(total):,}" if math.isfinite(total) else ""
        shown = " · ".join(f"{name} {float(value):.4g}" for name, value, _ in rows[:5])
        self.say(trainer, f"step {trainer.global_step:,}{of} · val {shown}")


class RunProgressBar(RichProgressBar):
    """Lightning's Rich bar over the whole run: one task counting the run's steps (elapsed time, ETA and pace from
    the trainer's :class:`RunConsole`), the metrics on a line of their own."""

    @property
    def live(self) -> bool:
        """Whether the bar is on screen now (lines are then printed above it)."""
        return self.progress is not None and not self._progress_stopped and self.is_enabled

    def configure_columns(self, trainer: pl.Trainer) -> list:
        width = self._console.width if self._console is not None else 80
        return [
            TextColumn("[progress.description]{task.description}"),
            BarColumn(bar_width=max(8, min(40, width - 72))),  # the other columns take ~70 characters
            _StepsColumn(),
            _RunColumn(lambda f: f"{f['rate']:.2f} steps/s" if f.get("rate") else "- steps/s", "progress.data.speed"),
            _RunColumn(lambda f: f"{_clock(f.get('elapsed'))} • ETA {_clock(f.get('eta'))}", "progress.remaining",
                       max_refresh=0.5),
            _RunColumn(lambda f: f"epoch {f['epoch']}", "dim"),
        ]

    def _init_progress(self, trainer: pl.Trainer) -> None:
        starting = self.is_enabled and (self.progress is None or self._progress_stopped)
        super()._init_progress(trainer)
        if starting and self.progress is not None:
            # the metrics get a line of their own under the bar instead of Lightning's column inside it
            self.progress.columns = tuple(c for c in self.progress.columns if c is not self._metric_component)
            self.progress.get_renderables = self._renderables

    def _renderables(self):
        assert self.progress is not None
        yield self.progress.make_tasks_table(self.progress.tasks)
        if self.train_progress_bar_id is not None and self.trainer.state.fn == "fit":
            if line := self.metrics_line():
                yield Text(line, style=self.theme.metrics, no_wrap=True, overflow="ellipsis")

    def run_console(self) -> RunConsole | None:
        return next((c for c in self.trainer.callbacks if isinstance(c, RunConsole)), None)

    def metrics_line(self) -> str:
        metrics = dict(self._metric_component._metrics) if self._metric_component is not None else {}
        tokenizer = getattr(self.run_console(), "tokenizer", None)  # the data's, as the run's lines name it
        per_char = console.bits_label(tokenizer) == "bpc"  # else a "/bpc" metric is bits per word or token: left out
        return " · ".join(f"{name} {value:.4g}" for name, value in metrics.items()  # numbers, v_num aside
                          if name != "v_num" and (per_char or not name.endswith("/bpc")))

    # -- the train task: one for the whole run ---------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.is_disabled or self.progress is None:
            return
        if self.train_progress_bar_id is None:
            self.train_progress_bar_id = self.progress.add_task(
                "train", total=total_steps(trainer), completed=trainer.global_step, epoch=trainer.current_epoch
            )
        else:
            self.progress.update(self.train_progress_bar_id, epoch=trainer.current_epoch, visible=True)
        self.refresh()

    def _initialize_train_progress_bar_id(self) -> None:
        self.on_train_epoch_start(self.trainer, self.trainer.lightning_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.train_progress_bar_id is None and not self.is_disabled:
            self._initialize_train_progress_bar_id()
        if self.progress is not None and self.train_progress_bar_id is not None:
            run = self.run_console()
            times = run.times(trainer) if run is not None else {}
            self.progress.update(self.train_progress_bar_id, completed=trainer.global_step, **times)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def _get_train_description(self, current_epoch: int) -> str:
        return "train"
