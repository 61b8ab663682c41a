"""Gradient-flow diagnostics: how gradients vanish or explode across time steps and layers.

Logged to every active logger under ``grad_norm/*``, ``grad_flow/*`` and ``sigma_max/*``; PNGs are written to
``<dirpath>/`` (a heat map of ‖∂L/∂h_t‖ over time step × training step, and a line plot of the latest recordings)
and sent to TensorBoard and wandb as images.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor

from seqlab.cells.recurrent import Recurrent


def _cell_label(layer: int, direction: int) -> str:
    return f"layer{layer}" + ("_reverse" if direction else "")


class GradientFlowCallback(pl.Callback):
    """Record gradient flow every ``every_n_steps`` training steps (``log_every_n_steps × interval`` by default).

    On a recorded step the recurrent runners take their per-step path (same numbers as the fused kernels) and tap
    ‖∂L/∂h_t‖ for every time step and layer inside their own backward; ‖∂L/∂x_t‖ of the encoder's inputs is tapped
    on any path. Logged (``<runner>`` is e.g. ``encoder`` or ``head.decoder``):

    - ``grad_norm/total`` — the total gradient norm *before* clipping; ``grad_norm/clipped_fraction`` — the share of
      steps since the last record whose gradients were clipped (the module counts them while clipping, for free);
    - ``grad_norm/<module>`` per layer (parameter prefix) and ``grad_norm/optimizer_group<i>`` per parameter group;
    - ``grad_flow/<runner>.<layer>/first``, ``/last`` — ‖∂L/∂h_t‖ at the first and last step, and
      ``/vanishing_index`` = first / last (≪ 1: vanishing, ≫ 1: exploding); ``grad_flow/inputs/first|last``;
    - ``sigma_max/<runner>.<layer>`` — the largest singular value of the recurrent matrix W_h.
    """

    def __init__(self, dirpath: str, interval: int = 10, every_n_steps: int | None = None, max_history: int = 200):
        if interval < 1 or (every_n_steps is not None and every_n_steps < 1):
            from seqlab.errors import ConfigError

            raise ConfigError("callbacks.gradient_flow.interval and every_n_steps must be >= 1")
        self.dirpath = Path(dirpath)
        self.interval = interval
        self.every_n_steps = every_n_steps
        self.max_history = max_history
        #: {label: [(global_step, per-step norms)]} — what the plots show
        self.history: dict[str, list[tuple[int, list[float]]]] = defaultdict(list)
        #: every recorded step's metrics, in order
        self.records: list[dict[str, float]] = []
        self._recording = False
        self._input_norms: Tensor | None = None
        self._hook: Any = None

    # -- when to record -------------------------------------------------------------------------------------------
    def period(self, trainer: pl.Trainer) -> int:
        return self.every_n_steps or max(1, trainer.log_every_n_steps * self.interval)

    @staticmethod
    def runners(pl_module: pl.LightningModule) -> list[tuple[str, Recurrent]]:
        return [(name.removeprefix("model."), m) for name, m in pl_module.named_modules() if isinstance(m, Recurrent)]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self._recording = (trainer.global_step + 1) % self.period(trainer) == 0 or trainer.global_step == 0
        if not self._recording:
            return
        for _, runner in self.runners(pl_module):
            runner.record_step_grads = True
        embedding = getattr(getattr(pl_module, "model", None), "embedding", None)
        if embedding is not None:
            self._hook = embedding.register_forward_hook(self._tap_inputs)

    def _tap_inputs(self, module: Any, args: Any, output: Tensor) -> None:
        self._hook.remove()  # only the encoder's inputs (the first call), not later embedding uses
        self._hook = None
        if output.requires_grad and output.dim() == 3:

            def store(grad: Tensor) -> None:
                self._input_norms = grad.detach().float().norm(dim=(0, 2))

            output.register_hook(store)

    # -- after backward, before clipping and the optimizer step ---------------------------------------------------
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        if not self._recording:
            return
        self._recording = False
        grads = {n: p.grad for n, p in pl_module.named_parameters() if p.grad is not None}
        metrics: dict[str, float] = {}
        if grads:
            norms = dict(zip(grads, (float(n) for n in torch._foreach_norm(list(grads.values())))))
            metrics["grad_norm/total"] = math.sqrt(sum(n * n for n in norms.values()))
            for group, total in _group_norms(norms).items():
                metrics[f"grad_norm/{group}"] = total
            for i, param_group in enumerate(optimizer.param_groups):
                squares = [float(p.grad.norm()) ** 2 for p in param_group["params"] if p.grad is not None]
                metrics[f"grad_norm/optimizer_group{i}"] = math.sqrt(sum(squares))
        steps = getattr(pl_module, "clip_steps", 0)
        if steps:  # counted by the module while clipping (every step, without a device sync)
            metrics["grad_norm/clipped_fraction"] = float(pl_module.clipped_steps) / steps
            pl_module.clip_steps, pl_module.clipped_steps = 0, 0.0
        for name, runner in self.runners(pl_module):
            runner.record_step_grads = False
            for (layer, direction), sink in runner.step_grad_norms.items():
                label = f"{name}.{_cell_label(layer, direction)}"
                self._record(metrics, label, sink.tolist(), trainer.global_step)
            for index, cell in enumerate(runner.cells):
                W_h = getattr(cell, "W_h", None)
                if W_h is not None:
                    layer, direction = divmod(index, runner.num_directions)
                    sigma = float(torch.linalg.matrix_norm(W_h.detach().float(), ord=2))
                    metrics[f"sigma_max/{name}.{_cell_label(layer, direction)}"] = sigma
        if self._input_norms is not None:
            self._record(metrics, "inputs", self._input_norms.tolist(), trainer.global_step)
            self._input_norms = None
        self.records.append(metrics)
        del self.records[: -self.max_history]
        pl_module.log_dict(metrics, on_step=True, on_epoch=False, rank_zero_only=True)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1] if self.records else {}

    def _record(self, metrics: dict[str, float], label: str, norms: list[float], step: int) -> None:
        if not norms:
            return
        first, last = norms[0], norms[-1]
        metrics[f"grad_flow/{label}/first"] = first
        metrics[f"grad_flow/{label}/last"] = last
        metrics[f"grad_flow/{label}/vanishing_index"] = first / last if last > 0 else float("nan")
        history = self.history[label]
        history.append((step, norms))
        del history[: -self.max_history]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self._hook is not None:  # the step never reached the embedding (e.g. skipped)
            self._hook.remove()
            self._hook = None
        for _, runner in self.runners(pl_module):
            runner.record_step_grads = False

    # -- pictures -------------------------------------------------------------------------------------------------
    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.plot(trainer)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.plot(trainer)

    def plot(self, trainer: pl.Trainer | None = None) -> list[Path]:
        """Write the heat map and line plot of each recorded layer; returns the PNG paths."""
        if not self.history:
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.dirpath.mkdir(parents=True, exist_ok=True)
        written = []
        for label, history in self.history.items():
            fig = figure_for(plt, label, history)
            path = self.dirpath / f"{label.replace('/', '_')}.png"
            fig.savefig(path, dpi=90)
            written.append(path)
            if trainer is not None:
                _log_figure(trainer, f"gradient_flow/{label}", fig, path)
            plt.close(fig)
        return written


def _group_norms(norms: dict[str, float]) -> dict[str, float]:
    """Parameter norms summed (in squares) per layer: ``model.encoder.cells.1.W_h`` → ``encoder.layer1``."""
    groups: dict[str, float] = defaultdict(float)
    for name, norm in norms.items():
        parts = name.removeprefix("model.").split(".")
        if "cells" in parts:
            i = parts.index("cells")
            key = ".".join(parts[:i] + [f"cell{parts[i + 1]}"])
        else:
            key = ".".join(parts[:-1]) or parts[0]
        groups[key] += norm * norm
    return {k: math.sqrt(v) for k, v in groups.items()}


def figure_for(plt: Any, label: str, history: list[tuple[int, list[float]]]) -> Any:
    steps = max(len(norms) for _, norms in history)
    grid = torch.full((len(history), steps), float("nan"))
    for row, (_, norms) in enumerate(history):
        grid[row, : len(norms)] = torch.tensor(norms)
    log_grid = torch.log10(grid.clamp(min=1e-12))
    fig, (heat, lines) = plt.subplots(1, 2, figsize=(11, 3.8))
    image = heat.imshow(log_grid.numpy(), aspect="auto", origin="lower", cmap="viridis",
                        extent=(0.5, steps + 0.5, 0, len(history)))
    heat.set_xlabel("time step t")
    heat.set_ylabel("recording (training step →)")
    ticks = list(range(0, len(history), max(1, len(history) // 6)))
    heat.set_yticks([t + 0.5 for t in ticks], [str(history[t][0]) for t in ticks])
    heat.set_title(f"log10 ‖∂L/∂h_t‖ — {label}")
    fig.colorbar(image, ax=heat)
    for step, norms in history[-5:]:
        lines.semilogy(range(1, len(norms) + 1), norms, label=f"step {step}")
    lines.set_xlabel("time step t")
    lines.set_ylabel("‖∂L/∂h_t‖")
    lines.set_title("latest recordings")
    lines.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _log_figure(trainer: pl.Trainer, tag: str, fig: Any, path: Path) -> None:
    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if type(logger).__name__ == "TensorBoardLogger":
            experiment.add_figure(tag, fig, global_step=trainer.global_step, close=False)
        elif type(logger).__name__ == "WandbLogger":
            logger.log_image(key=tag, images=[str(path)], step=trainer.global_step)
