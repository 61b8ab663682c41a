"""Gradient-flow diagnostics: how gradients vanish or explode across time steps and layers.

Two curves, named apart because they answer different questions (docs/experiments.md, "Gradient flow"):

- the **step-loss gradient** ``‖∂L/∂h_t‖`` of the training loss ``L`` (every step's loss, for per-step heads): where
  gradient mass lands. It mixes each step's direct term with what is propagated back, so it says nothing about how
  far a signal travels (a network without recurrence and a per-step loss has a flat one);
- the **terminal-loss gradient** ``‖∂L_T/∂h_{T−k}‖`` against ``k``, where ``L_T`` is the loss of each sequence's last
  real step only and ``k`` counts back from each row's own last real step (so padding cannot move it): how far back
  a signal reaches. ``grad_flow/<runner>.<layer>/vanishing_index`` is defined on it.

Both come from a *probe*: at each recording, a separate forward and two ``torch.autograd.grad`` calls on the
recorded batch with the same weights, on the runners' per-step path, with the RNG state saved and restored. The
training step itself is left alone (its path, its dropout masks, its gradients), so a run gives the same numbers
with the callback on or off.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor

from seqlab.cells.base import Cell
from seqlab.cells.recurrent import Recurrent
from seqlab.models.module import SequenceLitModule

#: what the index reads when the gradient at the far end is exactly 0 (below float precision: it underflowed; the
#: norms are taken in float64, so a float32 gradient of 1e-30 is still measured)
VANISHED = "vanished below float precision"


def _cell_label(layer: int, direction: int) -> str:
    return f"layer{layer}" + ("_reverse" if direction else "")


def gate_names(cell: Cell) -> tuple[str, ...]:
    """The gate blocks stacked in a cell's ``W_h`` (rows ``g*H : (g+1)*H``), as letters of the lectures' names.

    A cell may declare ``gate_names``; the built-in ones follow their stacking (LSTM ``i, f, c, o`` with ``c`` the
    candidate c̃; coupled LSTM ``i, c, o``; GRU ``r, z, n``); a one-block ``W_h`` has no letter (``W_h``); an
    unknown cell's blocks are numbered."""
    declared = getattr(cell, "gate_names", None)
    if declared:
        return tuple(declared)
    from seqlab.cells.gru import GRUCell
    from seqlab.cells.lstm import CoupledLSTMCell, LSTMCell

    if isinstance(cell, LSTMCell):  # and PeepholeLSTMCell
        return ("i", "f", "c", "o")
    if isinstance(cell, CoupledLSTMCell):
        return ("i", "c", "o")
    if isinstance(cell, GRUCell):
        return ("r", "z", "n")
    return ("",) if cell.gates == 1 else tuple(str(g) for g in range(cell.gates))


def recurrent_norms(cell: Cell) -> dict[str, float]:
    """``{block name: σ_max}`` of a cell's recurrent weights, per gate block (never over the stacked matrix: its
    σ_max mixes the blocks and overstates each, e.g. 1.74 for an LSTM at init against ≈ 1.14 per block).
    IndRNN's diagonal ``u`` gives ``max|u|`` (= σ_max of diag(u)) as ``u``; a cell without recurrent weights
    (minGRU, minLSTM: gates read x_t only) gives nothing."""
    W_h = getattr(cell, "W_h", None)
    if W_h is None:
        u = getattr(cell, "u", None)
        return {"u": float(u.detach().abs().max())} if isinstance(u, Tensor) else {}
    names = gate_names(cell)
    blocks = torch.stack(W_h.detach().float().chunk(len(names), dim=0))  # (gates, H, H)
    return {f"W_h{name}": float(s) for name, s in zip(names, torch.linalg.matrix_norm(blocks, ord=2))}


def terminal_positions(lengths: Tensor | None, batch_size: int, steps: int, device: torch.device) -> Tensor:
    """Each row's last real step ``(B,)``: ``lengths - 1``, or ``steps - 1`` when there are no lengths."""
    if lengths is None:
        return torch.full((batch_size,), steps - 1, dtype=torch.long, device=device)
    return lengths.to(device=device, dtype=torch.long).clamp(min=1, max=steps) - 1


def aligned_norms(grads: Tensor, last: Tensor) -> list[float]:
    """``grads (T, B, ...)`` (∂L_T/∂h_t per step) → the curve ``G_k`` for ``k = 0 .. max(last)``, aligned at each
    row's own last real step ``last (B,)``:

    .. math:: G_k = \\sqrt{\\tfrac{1}{|R_k|} \\sum_{b \\in R_k} \\lVert \\partial L_T / \\partial h_{T_b - k, b}
              \\rVert_2^2}, \\qquad R_k = \\{b : T_b \\ge k\\}

    — the root mean square over the rows that reach ``k`` steps back, so neither padding nor the number of short
    rows changes a point of the curve."""
    # float64: a float32 entry below ~1e-23 squares to 0 in float32, so a norm there read "vanished" when the
    # gradient was still 1e-30; in float64 only a gradient that is exactly 0 (or below 1e-154 per entry) gives 0
    per_row = grads.detach().double().flatten(2).norm(dim=2)  # (T, B)
    K = int(last.max()) + 1
    k = torch.arange(K, device=per_row.device)[:, None]
    index = last[None, :] - k  # (K, B): the step k back from each row's end
    valid = index >= 0
    values = per_row.gather(0, index.clamp(min=0)) * valid
    counts = valid.sum(1).clamp(min=1)
    return (values.square().sum(1) / counts).sqrt().tolist()


def vanishing_index(curve: list[float], span: int) -> float:
    """``G_span / G_0`` of a terminal curve: how much of the last step's gradient is left ``span`` steps back
    (≪ 1: vanishing, ≫ 1: exploding). ``span`` is the shortest row's length − 1, so every row counts at both ends.
    Never NaN: a far end of exactly 0 gives 0 (vanished below float precision); a last step with no gradient at
    all (``G_0 = 0``) gives 0 too; an overflow gives inf."""
    near, far = curve[0], curve[span]
    if not math.isfinite(near) or not math.isfinite(far):
        return math.inf
    return far / near if near > 0 else 0.0


def terminal_loss(model: Any, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
    """``L_T``, the loss of the last real step of each sequence only (mean over rows), for every head:

    - a prediction per step (``logits (B, T, V)``: many_to_many language models and taggers, one_to_many, seq2seq):
      the cross-entropy of each row's last real target step (``target_lengths`` − 1 for seq2seq, ``lengths`` − 1
      otherwise; for a language model that is the prediction of the token after the last input);
    - one prediction per sequence (many_to_one, regression): the head's own loss; with ``pool=last`` it reads only
      the last real step already, and with ``mean``/``max``/``attention`` pooling the probe detaches the encoder's
      outputs at every other step (:func:`_last_step_only`), so the loss reaches the encoder through the last step
      alone."""
    logits = out["logits"]
    if logits.dim() < 3:
        return model.head.loss(out, batch)
    B, T = logits.shape[:2]
    lengths = batch.get("target_lengths", batch.get("lengths"))
    last = terminal_positions(lengths, B, T, logits.device)
    rows = torch.arange(B, device=logits.device)
    return F.cross_entropy(logits[rows, last].float(), batch["targets"][rows, last])


def _last_step_only(head: Any, lengths: Tensor | None) -> Any:
    """A forward hook for the encoder of a pooling head: outputs detached at every step but the ones ``pool=last``
    reads (each row's last real step; the backward half at step 0)."""
    directions = getattr(head, "num_directions", 1)

    def hook(module: Any, args: Any, result: tuple[Tensor, Any]) -> tuple[Tensor, Any]:
        encoded, state = result
        B, T, size = encoded.shape
        last = terminal_positions(lengths, B, T, encoded.device)
        keep = torch.zeros(B, T, size, dtype=torch.bool, device=encoded.device)
        keep[torch.arange(B, device=encoded.device), last, : size // directions] = True
        if directions == 2:
            keep[:, 0, size // 2 :] = True
        return torch.where(keep, encoded, encoded.detach()), state

    return hook


class GradientFlowCallback(pl.Callback):
    """Record gradient flow every ``every_n_steps`` training steps (``log_every_n_steps × interval`` by default) and
    at the first step. Logged (``<runner>`` is ``encoder`` or e.g. ``head.decoder``; ``<layer>`` is ``layer0``,
    ``layer0_reverse``, ...):

    - ``grad_flow/<runner>.<layer>/vanishing_index`` — ``G_K / G_0`` of the terminal-loss curve of ``h``
      (:func:`vanishing_index`), with ``/terminal_near`` (``G_0``), ``/terminal_far`` (``G_K``), ``/vanishing_span``
      (``K``) and ``/vanished`` (1 when ``G_K`` is exactly 0); ``/vanishing_index_c`` on the curve of ``c`` for
      cells with a cell state (LSTM family: the "gradient highway");
    - ``grad_flow/step_loss_grad/<runner>.<layer>/first``, ``/last`` — ‖∂L/∂h_t‖ of the training loss at the first
      and last step; ``grad_flow/step_loss_grad/inputs/...`` and ``grad_flow/inputs/vanishing_index`` for the
      encoder's inputs x_t;
    - ``sigma_max/<layer>/W_h<gate>`` (encoder; other runners ``sigma_max/<runner>.<layer>/...``) — the largest
      singular value of each gate block of W_h (:func:`recurrent_norms`); ``.../u`` = max|u| for IndRNN;
    - ``grad_norm/total`` (before clipping), ``grad_norm/clipped_fraction``, ``grad_norm/<module>`` per layer and
      ``grad_norm/optimizer_group<i>`` — read from the training step's own gradients;
    - ``grad_flow/probe_seconds`` — the wall time the probe took (its cost: ÷ (period × seconds per step)).

    PNGs per curve (a heat map over recordings and a line plot of the latest) are written to ``dirpath`` and sent
    to TensorBoard and wandb. ``history`` keeps the curves: ``step_loss_grad/<runner>.<layer>``,
    ``terminal/<runner>.<layer>/h`` (and ``/c``), ``step_loss_grad/inputs``, ``terminal/inputs``.
    """

    def __init__(self, dirpath: str, interval: int = 10, every_n_steps: int | None = None, max_history: int = 200):
        if interval < 1 or (every_n_steps is not None and every_n_steps < 1):
            from seqlab.errors import ConfigError

            raise ConfigError("callbacks.gradient_flow.interval and every_n_steps must be >= 1")
        self.dirpath = Path(dirpath)
        self.interval = interval
        self.every_n_steps = every_n_steps
        self.max_history = max_history
        #: {label: [(global_step, curve)]} — what the plots show
        self.history: dict[str, list[tuple[int, list[float]]]] = defaultdict(list)
        self._drawn: dict[str, int] = {}  # curve → the step of its latest recording already drawn
        #: every recorded step's metrics, in order
        self.records: list[dict[str, float]] = []
        self._pending: dict[str, float] | None = None

    # -- when to record -------------------------------------------------------------------------------------------
    def period(self, trainer: pl.Trainer) -> int:
        return self.every_n_steps or max(1, trainer.log_every_n_steps * self.interval)

    @staticmethod
    def runners(pl_module: pl.LightningModule) -> list[tuple[str, Recurrent]]:
        return [(name.removeprefix("model."), m) for name, m in pl_module.named_modules() if isinstance(m, Recurrent)]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self._pending = None
        if (trainer.global_step + 1) % self.period(trainer) == 0 or trainer.global_step == 0:
            started = time.perf_counter()
            self._pending = self.probe(trainer, pl_module, batch)
            self._pending["grad_flow/probe_seconds"] = time.perf_counter() - started  # its cost, for the record

    # -- the probe ------------------------------------------------------------------------------------------------
    def probe(
        self, trainer: pl.Trainer | None, pl_module: pl.LightningModule, batch: dict[str, Tensor]
    ) -> dict[str, float]:
        """Measure both curves on ``batch`` with the module's current weights; returns the ``grad_flow/*``
        metrics and appends the curves to :attr:`history`. Parameter gradients and the RNG are left as they were."""
        model = pl_module.model
        runners = self.runners(pl_module)
        step = trainer.global_step if trainer is not None else 0
        state = pl_module.carried_state(batch) if isinstance(pl_module, SequenceLitModule) else None
        inputs: list[Tensor] = []

        def tap_inputs(module: Any, args: Any, output: Tensor) -> Tensor | None:
            handle.remove()  # only the encoder's inputs (the first call), not later embedding uses
            if output.is_floating_point() and output.dim() == 3:
                inputs.append(output.detach().requires_grad_())  # a leaf autograd can answer for
                return inputs[0]
            return None

        hooks = [handle := model.embedding.register_forward_hook(tap_inputs)]
        if getattr(model.head, "pool", "last") != "last" and isinstance(model.encoder, Recurrent):
            hooks.append(model.encoder.register_forward_hook(_last_step_only(model.head, batch.get("lengths"))))
        for _, runner in runners:
            runner.tap_states, runner.tapped = True, {}
        try:
            with _rng_kept(batch["inputs"].device), torch.enable_grad(), _train_context(trainer):
                out = model(batch, state)
                loss = model.head.loss(out, batch)
                final = terminal_loss(model, out, batch)
        finally:
            for hook in hooks:
                hook.remove()
            for _, runner in runners:
                runner.tap_states = False
        taps = [(name, key, states) for name, runner in runners for key, states in runner.tapped.items()]
        for _, runner in runners:
            runner.tapped = {}
        tensors = [s for _, _, states in taps for state in states for s in state] + inputs
        if not tensors:
            return {}
        step_grads = torch.autograd.grad(loss, tensors, retain_graph=True, allow_unused=True)
        final_grads = torch.autograd.grad(final, tensors, allow_unused=True)
        metrics: dict[str, float] = {}
        position = 0
        for name, (layer, direction), states in taps:
            label = f"{name}.{_cell_label(layer, direction)}"
            width = len(states[0])
            grads = [_stack(step_grads, position + i, width, states, i) for i in range(width)]
            finals = [_stack(final_grads, position + i, width, states, i) for i in range(width)]
            position += width * len(states)
            h_step = grads[0].double().flatten(1).norm(dim=1).tolist()
            metrics[f"grad_flow/step_loss_grad/{label}/first"] = h_step[0]
            metrics[f"grad_flow/step_loss_grad/{label}/last"] = h_step[-1]
            self._keep(f"step_loss_grad/{label}", step, h_step)
            lengths = _runner_lengths(name, batch)
            last = terminal_positions(lengths, finals[0].shape[1], finals[0].shape[0], finals[0].device)
            for i, state_name in enumerate(_state_names(runners, name)[:width]):
                curve = aligned_norms(finals[i], last)
                self._keep(f"terminal/{label}/{state_name}", step, curve)
                span = int(last.min())
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
            last = terminal_positions(batch.get("lengths"), x.shape[0], x.shape[1], x.device)
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
        grads = {n: p.grad for n, p in pl_module.named_parameters() if p.grad is not None}
        if grads:
            norms = dict(zip(grads, (float(n) for n in torch._foreach_norm(list(grads.values())))))
            metrics["grad_norm/total"] = math.sqrt(sum(n * n for n in norms.values()))
            for group, total in _group_norms(norms).items():
                metrics[f"grad_norm/{group}"] = total
            for i, param_group in enumerate(optimizer.param_groups):
                squares = [float(p.grad.norm()) ** 2 for p in param_group["params"] if p.grad is not None]
                metrics[f"grad_norm/optimizer_group{i}"] = math.sqrt(sum(squares))
        # counted by the module while clipping (every step, without a device sync)
        clipped = pl_module.grad_stats.take_clipped_fraction() if isinstance(pl_module, SequenceLitModule) else None
        if clipped is not None:
            metrics["grad_norm/clipped_fraction"] = clipped
        for name, runner in self.runners(pl_module):
            prefix = "" if name == "encoder" else f"{name}."
            for index, cell in enumerate(runner.cells):
                layer, direction = divmod(index, runner.num_directions)
                for block, value in recurrent_norms(cell).items():
                    metrics[f"sigma_max/{prefix}{_cell_label(layer, direction)}/{block}"] = value
        self.records.append(metrics)
        del self.records[: -self.max_history]
        log_at_step(trainer, metrics, trainer.global_step)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1] if self.records else {}

    # -- pictures -------------------------------------------------------------------------------------------------
    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.plot(trainer)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.plot(trainer)

    def plot(self, trainer: pl.Trainer | None = None) -> list[Path]:
        """Write the heat map and line plot of each recorded curve; returns the PNG paths. A curve with no
        recording since it was last drawn is not drawn again (the end of fit usually follows a validation that
        drew everything)."""
        if not self.history:
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.dirpath.mkdir(parents=True, exist_ok=True)
        written = []
        for label, history in self.history.items():
            path = self.dirpath / f"{label.replace('/', '_')}.png"
            written.append(path)
            if self._drawn.get(label) == history[-1][0] and path.is_file():
                continue
            fig = figure_for(plt, label, history)
            fig.savefig(path, dpi=90)
            if trainer is not None:
                _log_figure(trainer, f"gradient_flow/{label}", fig, path)
            plt.close(fig)
            self._drawn[label] = history[-1][0]
        return written


def _stack(grads: tuple[Tensor | None, ...], start: int, width: int, states: list[Any], i: int) -> Tensor:
    """The gradients of state ``i`` at every tapped step as one ``(T, B, H)`` tensor (zeros where unused)."""
    picked = [grads[start + t * width] for t in range(len(states))]
    return torch.stack([g if g is not None else torch.zeros_like(s[i]) for g, s in zip(picked, states)])


def _state_names(runners: list[tuple[str, Recurrent]], name: str) -> tuple[str, ...]:
    return dict(runners)[name].state_names


def _runner_lengths(name: str, batch: dict[str, Tensor]) -> Tensor | None:
    """The lengths a runner's terminal curve aligns at: the decoder of a head reads the targets
    (``target_lengths`` when the batch has them), the encoder reads ``inputs`` (``lengths``)."""
    if name.startswith("head.") and "target_lengths" in batch:
        return batch["target_lengths"]
    return batch.get("lengths")


@contextlib.contextmanager
def _rng_kept(device: torch.device) -> Iterator[None]:
    """Run the probe's forward (dropout, teacher forcing) without consuming the training run's random numbers."""
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    with torch.random.fork_rng(devices=devices):
        yield


def _train_context(trainer: pl.Trainer | None) -> Any:
    """The precision context of a training step (autocast under mixed precision), so the probe sees its numbers."""
    if trainer is None:
        return contextlib.nullcontext()
    return trainer.precision_plugin.train_step_context()


def _group_norms(norms: dict[str, float]) -> dict[str, float]:
    """Parameter norms summed (in squares) per layer: ``model.encoder.cells.1.W_h`` → ``encoder.cell1``."""
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
    """A heat map of log10 of the curve over recordings, and the latest five recordings as lines. Terminal curves
    run over ``k`` (steps back from each row's last real step), step-loss curves over the time step ``t``."""
    terminal = label.startswith("terminal/")
    axis = "k (steps back from each row's last real step)" if terminal else "time step t"
    quantity = "‖∂L_T/∂h_{T−k}‖" if terminal else "‖∂L/∂h_t‖"
    if terminal and label.endswith("/c"):
        quantity = "‖∂L_T/∂c_{T−k}‖"
    steps = max(len(norms) for _, norms in history)
    grid = torch.full((len(history), steps), float("nan"))
    for row, (_, norms) in enumerate(history):
        grid[row, : len(norms)] = torch.tensor(norms)
    log_grid = torch.log10(grid.clamp(min=1e-30))
    first = 0 if terminal else 1
    fig, (heat, lines) = plt.subplots(1, 2, figsize=(11, 3.8))
    image = heat.imshow(
        log_grid.numpy(),
        aspect="auto",
        origin="lower",
        cmap="viridis",
        extent=(first - 0.5, first + steps - 0.5, 0, len(history)),
    )
    heat.set_xlabel(axis)
    heat.set_ylabel("recording (training step →)")
    ticks = list(range(0, len(history), max(1, len(history) // 6)))
    heat.set_yticks([t + 0.5 for t in ticks], [str(history[t][0]) for t in ticks])
    heat.set_title(f"log10 {quantity} — {label}", fontsize=9)
    fig.colorbar(image, ax=heat)
    for step, norms in history[-5:]:
        shown = [n if n > 0 else float("nan") for n in norms]  # exact zeros (underflow) have no logarithm
        lines.semilogy(range(first, first + len(norms)), shown, label=f"step {step}")
    lines.set_xlabel(axis)
    lines.set_ylabel(quantity)
    lines.set_title("latest recordings (gaps: exactly 0, " + VANISHED + ")", fontsize=8)
    lines.legend(fontsize=7)
    # fixed margins that fit these labels: tight_layout measured every text box and cost 0.7 s per figure
    fig.subplots_adjust(left=0.065, right=0.985, bottom=0.14, top=0.9, wspace=0.22)
    return fig


def log_at_step(trainer: pl.Trainer, metrics: dict[str, float], step: int) -> None:
    """Send ``metrics`` to every logger at ``step``, the step they were measured at — once. (``LightningModule.log``
    with ``on_step=True`` would write them at Lightning's next logging step instead, and repeat them at every later
    one until the epoch ends.) ``step`` counts the optimizer steps taken before the measurement, as Lightning labels
    the training loss of the same batch."""
    if trainer.is_global_zero:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            logger.save()


def _log_figure(trainer: pl.Trainer, tag: str, fig: Any, path: Path) -> None:
    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if type(logger).__name__ == "TensorBoardLogger":
            experiment.add_figure(tag, fig, global_step=trainer.global_step, close=False)
        elif type(logger).__name__ == "WandbLogger":
            logger.log_image(key=tag, images=[str(path)], step=trainer.global_step)
