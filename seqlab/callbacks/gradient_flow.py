"""Gradient-flow diagnostics, the callback: when to record, the probe, what is logged. The numbers are defined in
:mod:`seqlab.callbacks.gradient_math`, the pictures in :mod:`seqlab.callbacks.gradient_plots`.

The curves come from a *probe* (README, "Gradient flow") that leaves the training step alone and reads only what cells
and heads declare: ``Head.terminal_loss``, ``Head.pools_over_steps``, ``Cell.recurrent_weights`` (``gate_names``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor

from seqlab.callbacks.gradient_math import VANISHED as VANISHED  # the phrase the sweep summaries print
from seqlab.callbacks.gradient_math import (
    aligned_norms,
    cell_label,
    group_norms,
    last_step_only,
    recurrent_norms,
    stacked,
    vanishing_index,
)
from seqlab.callbacks.gradient_plots import write_plots
from seqlab.cells.recurrent import Recurrent, last_step_index
from seqlab.models.module import SequenceLitModule
from seqlab.schema import callbacks as options


class GradientFlowCallback(pl.Callback):
    """Record gradient flow every ``every_n_steps`` training steps (``log_every_n_steps × interval`` by default) and
    at the first step. Logged (``<rnn>``: ``encoder``, ``head.decoder``, ...; ``<layer>``: ``layer0``,
    ``layer0_reverse``, ...; what each means: README, "Gradient flow"):

    - ``grad_flow/<rnn>.<layer>/vanishing_index`` (:func:`vanishing_index` of ``h``; ``_c``: of ``c``, LSTM family),
      ``/terminal_near`` (``G_0``), ``/terminal_far`` (``G_K``), ``/vanishing_span`` (``K``), ``/vanished``;
    - ``grad_flow/step_loss_grad/<rnn>.<layer>/first``, ``/last``; for the encoder's inputs x_t, ``inputs`` in place
      of ``<rnn>.<layer>`` (here and in ``vanishing_index``);
    - ``sigma_max/<layer>/W_h<gate>`` (:func:`recurrent_norms`; ``sigma_max/<rnn>.<layer>/...`` besides the encoder);
    - ``grad_norm/total`` (before clipping), ``/clipped_fraction``, ``/<module>``, ``/optimizer_group<i>``, from the
      training step's own gradients; ``grad_flow/probe_seconds``.

    PNGs per curve go to ``dirpath``, TensorBoard and wandb. :attr:`history` keeps the curves, labelled
    ``step_loss_grad/<rnn>.<layer>``, ``terminal/<rnn>.<layer>/h`` (and ``/c``) and the same for ``inputs``.
    """

    def __init__(
        self,
        dirpath: str,
        interval: int = options.GradientFlow.interval,
        every_n_steps: int | None = options.GradientFlow.every_n_steps,
        max_history: int = options.GradientFlow.max_history,
        plots: bool = options.GradientFlow.plots,
    ):
        self.dirpath = Path(dirpath)
        self.interval = interval
        self.every_n_steps = every_n_steps
        self.max_history = max_history
        self.plots = plots
        #: {label: [(global_step, curve)]} — what the plots show
        self.history: dict[str, list[tuple[int, list[float]]]] = defaultdict(list)
        self._drawn: dict[str, int] = {}  # curve → the step of its latest recording already drawn
        #: every recorded step's metrics, in order
        self.records: list[dict[str, float]] = []
        self._pending: dict[str, float] | None = None

    def period(self, trainer: pl.Trainer) -> int:
        return self.every_n_steps or max(1, trainer.log_every_n_steps * self.interval)

    @staticmethod
    def recurrent_modules(pl_module: pl.LightningModule) -> list[tuple[str, Recurrent]]:
        return [(name.removeprefix("model."), m) for name, m in pl_module.named_modules() if isinstance(m, Recurrent)]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self._pending = None
        if (trainer.global_step + 1) % self.period(trainer) == 0 or trainer.global_step == 0:
            started = time.perf_counter()
            self._pending = self.probe(trainer, pl_module, batch)
            self._pending["grad_flow/probe_seconds"] = time.perf_counter() - started  # its cost, for the record

    def probe(
        self, trainer: pl.Trainer | None, pl_module: pl.LightningModule, batch: dict[str, Tensor]
    ) -> dict[str, float]:
        """Measure both curves on ``batch`` with the module's current weights; returns the ``grad_flow/*``
        metrics and appends the curves to :attr:`history`. Parameter gradients and the RNG are left as they were."""
        model = pl_module.model
        rnns = self.recurrent_modules(pl_module)
        step = trainer.global_step if trainer is not None else 0
        state = pl_module.carried_state(batch) if isinstance(pl_module, SequenceLitModule) else None
        inputs: list[Tensor] = []

        def tap_inputs(module: Any, args: Any, output: Tensor) -> Tensor | None:
            handle.remove()  # only the encoder's inputs (the first call), not later embedding uses
            if output.is_floating_point() and output.dim() == 3:
                inputs.append(output.detach().requires_grad_())  # a leaf autograd can answer for
                return inputs[0]
            return None

        # the precision context of a training step (autocast under mixed precision): the probe sees its numbers
        precision = contextlib.nullcontext() if trainer is None else trainer.precision_plugin.train_step_context()
        hooks = [handle := model.embedding.register_forward_hook(tap_inputs)]
        encoder = model.encoder
        if model.head.pools_over_steps() and isinstance(encoder, Recurrent):
            hooks.append(encoder.register_forward_hook(last_step_only(batch.get("lengths"), encoder.num_directions)))
        for _, rnn in rnns:
            rnn.tap_states, rnn.tapped = True, {}
        try:
            with _rng_kept(batch["inputs"].device), torch.enable_grad(), precision:
                out = model(batch, state)
                loss = model.head.loss(out, batch)
                final = model.head.terminal_loss(out, batch)
        finally:
            for hook in hooks:
                hook.remove()
            taps = [(name, rnn.state_names, key, states) for name, rnn in rnns for key, states in rnn.tapped.items()]
            for _, rnn in rnns:
                rnn.tap_states, rnn.tapped = False, {}
        tensors = [s for *_, states in taps for state in states for s in state] + inputs
        if not tensors:
            return {}
        step_grads = torch.autograd.grad(loss, tensors, retain_graph=True, allow_unused=True)
        final_grads = torch.autograd.grad(final, tensors, allow_unused=True)
        metrics: dict[str, float] = {}
        position = 0
        for name, state_names, (layer, direction), states in taps:
            label = f"{name}.{cell_label(layer, direction)}"
            width = len(states[0])
            finals = [stacked(final_grads, position + i, width, states, i) for i in range(width)]
            h_step = stacked(step_grads, position, width, states, 0).double().flatten(1).norm(dim=1).tolist()
            position += width * len(states)
            metrics[f"grad_flow/step_loss_grad/{label}/first"] = h_step[0]
            metrics[f"grad_flow/step_loss_grad/{label}/last"] = h_step[-1]
            self._keep(f"step_loss_grad/{label}", step, h_step)
            # the terminal curve aligns at a decoder's targets' ends (given their lengths), else at the inputs'
            decoder = name.startswith("head.") and "target_lengths" in batch
            lengths = batch["target_lengths"] if decoder else batch.get("lengths")
            last = last_step_index(lengths, finals[0].shape[1], finals[0].shape[0], finals[0].device)
            span = int(last.min())
            for i, state_name in enumerate(state_names[:width]):
                curve = aligned_norms(finals[i], last)
                self._keep(f"terminal/{label}/{state_name}", step, curve)
                index = vanishing_index(curve, span)
                if i == 0:
                    metrics[f"grad_flow/{label}/vanishing_index"] = index
                    metrics[f"grad_flow/{label}/terminal_near"] = curve[0]
                    metrics[f"grad_flow/{label}/terminal_far"] = curve[span]
                    metrics[f"grad_flow/{label}/vanishing_span"] = float(span)
                    metrics[f"grad_flow/{label}/vanished"] = float(curve[span] == 0.0)
                else:
                    metrics[f"grad_flow/{label}/vanishing_index_{state_name}"] = index
        if inputs:
            x = inputs[0]
            zero = torch.zeros_like(x)
            g_step = (step_grads[-1] if step_grads[-1] is not None else zero).transpose(0, 1)
            g_final = (final_grads[-1] if final_grads[-1] is not None else zero).transpose(0, 1)
            x_step = g_step.double().flatten(2).norm(dim=(1, 2)).tolist()
            metrics["grad_flow/step_loss_grad/inputs/first"] = x_step[0]
            metrics["grad_flow/step_loss_grad/inputs/last"] = x_step[-1]
            self._keep("step_loss_grad/inputs", step, x_step)
            last = last_step_index(batch.get("lengths"), x.shape[0], x.shape[1], x.device)
            curve = aligned_norms(g_final, last)
            self._keep("terminal/inputs", step, curve)
            metrics["grad_flow/inputs/vanishing_index"] = vanishing_index(curve, int(last.min()))
        return metrics

    def _keep(self, label: str, step: int, curve: list[float]) -> None:
        history = self.history[label]
        history.append((step, curve))
        del history[: -self.max_history]

    # -- after backward, before clipping and the optimizer step ---------------------------------------------------
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        if self._pending is None:
            return
        metrics, self._pending = self._pending, None
        if grads := {n: p.grad for n, p in pl_module.named_parameters() if p.grad is not None}:
            norms = dict(zip(grads, (float(n) for n in torch._foreach_norm(list(grads.values())))))
            metrics["grad_norm/total"] = math.sqrt(sum(n * n for n in norms.values()))
            metrics |= {f"grad_norm/{group}": total for group, total in group_norms(norms).items()}
            for i, param_group in enumerate(optimizer.param_groups):
                squares = [float(p.grad.norm()) ** 2 for p in param_group["params"] if p.grad is not None]
                metrics[f"grad_norm/optimizer_group{i}"] = math.sqrt(sum(squares))
        # counted by the module while clipping (every step, without a device sync)
        clipped = pl_module.grad_stats.take_clipped_fraction() if isinstance(pl_module, SequenceLitModule) else None
        if clipped is not None:
            metrics["grad_norm/clipped_fraction"] = clipped
        for name, rnn in self.recurrent_modules(pl_module):
            prefix = "" if name == "encoder" else f"{name}."
            for index, cell in enumerate(rnn.cells):
                layer, direction = divmod(index, rnn.num_directions)
                for block, value in recurrent_norms(cell).items():
                    metrics[f"sigma_max/{prefix}{cell_label(layer, direction)}/{block}"] = value
        self.records.append(metrics)
        del self.records[: -self.max_history]
        log_at_step(trainer, metrics, trainer.global_step)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1] if self.records else {}

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.plots and not trainer.sanity_checking:
            self.plot(trainer)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.plots:
            self.plot(trainer)

    def plot(self, trainer: pl.Trainer | None = None) -> list[Path]:
        """Write the heat map and line plot of each recorded curve; returns the PNG paths. A curve with no
        recording since it was last drawn is not drawn again."""
        return write_plots(self.history, self._drawn, self.dirpath, trainer)


def _rng_kept(device: torch.device) -> contextlib.AbstractContextManager:
    """Run the probe's forward (dropout, teacher forcing) without consuming the training run's random numbers."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=cuda)


def log_at_step(trainer: pl.Trainer, metrics: dict[str, float], step: int) -> None:
    """Send ``metrics`` to every logger at ``step``, the step they were measured at — once. (``LightningModule.log``
    with ``on_step=True`` would write them at the next logging step, and repeat them until the epoch ends.) ``step``
    counts the optimizer steps before the measurement, as Lightning labels the training loss of the same batch."""
    if trainer.is_global_zero:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            logger.save()

