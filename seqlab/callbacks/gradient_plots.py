"""Pictures of the gradient-flow curves: a heat map over recordings and line plots of the latest, as PNG files sent
to TensorBoard and wandb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from seqlab.callbacks.gradient_math import VANISHED


def write_plots(
    history: dict[str, list[tuple[int, list[float]]]], drawn: dict[str, int], dirpath: Path, trainer: pl.Trainer | None
) -> list[Path]:
    """Write the heat map and line plot of each curve of ``history`` into ``dirpath``; returns the PNG paths. A curve
    whose latest recording is already drawn (``drawn``: curve → step, updated here) is not drawn again."""
    if not history:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dirpath.mkdir(parents=True, exist_ok=True)
    written = []
    for label, curves in history.items():
        path = dirpath / f"{label.replace('/', '_')}.png"
        written.append(path)
        if drawn.get(label) == curves[-1][0] and path.is_file():
            continue
        fig = figure_for(plt, label, curves)
        fig.savefig(path, dpi=90)
        if trainer is not None:
            log_figure(trainer, f"gradient_flow/{label}", path)
        plt.close(fig)
        drawn[label] = curves[-1][0]
    return written


def figure_for(plt: Any, label: str, history: list[tuple[int, list[float]]]) -> Any:
    """A heat map of log10 of the curve over recordings, and the latest five recordings as lines."""
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


def log_figure(trainer: pl.Trainer, tag: str, path: Path) -> None:
    """Send the PNG just written to TensorBoard and wandb. TensorBoard gets the file's pixels: its ``add_figure``
    would render the figure a second time (about 0.25 s per figure on a CPU core)."""
    for logger in trainer.loggers:
        if type(logger).__name__ == "TensorBoardLogger":
            from matplotlib.image import imread

            pixels = imread(path)[..., :3]  # RGBA floats in [0, 1] → RGB
            logger.experiment.add_image(tag, pixels, global_step=trainer.global_step, dataformats="HWC")
        elif type(logger).__name__ == "WandbLogger":
            logger.log_image(key=tag, images=[str(path)], step=trainer.global_step)
