"""Figures of the adding problem (``vanishing_gradients``): val MSE, terminal-loss gradients of jobs and at init."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seqlab.callbacks.gradient_flow import VANISHED
from seqlab.data.adding import CONSTANT_BASELINE_MSE

#: the terminal-loss curve the summary reads (GradientHistoryCallback's JSON): h of the encoder's one layer
TERMINAL = "terminal/encoder.layer0/h"


def relative_curve(norms: list[float]) -> list[float]:
    """``G_k / G_0``: the terminal curve relative to the last step (its last point is the vanishing index for rows
    of equal length, as in the adding problem). A curve with ``G_0 = 0`` is all zeros."""
    return [g / norms[0] if norms[0] > 0 else 0.0 for g in norms]


@contextmanager
def panels(path: Path, count: int, height: float) -> Iterator[tuple[Any, list[Any]]]:
    """``(pyplot, axes)``: ``count`` panels side by side (matplotlib, Agg), saved to ``path`` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(4.5 * count, height), squeeze=False)
    yield plt, list(axes[0])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _colours(plt: Any, cells: Iterable[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {cell: cycle[i % len(cycle)] for i, cell in enumerate(dict.fromkeys(cells))}


#: the top of the MSE panels: ten times the worst a sensible model scores (predicting 1: 0.167)
MSE_AXIS_TOP = 10.0


def plot_curves(rows: list[dict[str, Any]], path: Path, threshold: float) -> None:
    """Validation MSE against training steps: one panel per length, one colour per cell, one line per seed."""
    lengths = sorted({r["length"] for r in rows})
    with panels(path, len(lengths), 3.6) as (plt, axes):
        colours = _colours(plt, (r["cell"] for r in rows))
        for ax, length in zip(axes, lengths):
            labelled: set[str] = set()
            top = 0.0
            for row in (r for r in rows if r["length"] == length):
                points = row["curves"]["val/mse"] or row["curves"]["train/loss"]
                top = max([top, *(v for _, v in points)])
                if points:
                    label = None if row["cell"] in labelled else row["cell"]
                    labelled.add(row["cell"])
                    ax.plot([s for s, _ in points], [v for _, v in points], color=colours[row["cell"]], alpha=0.8,
                            linewidth=1, label=label)
            ax.axhline(CONSTANT_BASELINE_MSE, color="grey", linestyle=":", label="predict 1")
            ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"success < {threshold}")
            ax.set_yscale("log")
            if top > MSE_AXIS_TOP:  # a diverged run would squash every other curve into the bottom of the panel
                ax.set_ylim(top=MSE_AXIS_TOP)
                ax.text(0.02, 0.97, f"lines leaving the top: above {MSE_AXIS_TOP:g} (diverged)", transform=ax.transAxes,
                        fontsize=6, color="grey", va="top")
            ax.set_title(f"length {length}")
            ax.set_xlabel("training step")
            ax.set_ylabel("val MSE")  # (a job that never validated: its train loss)
            ax.legend(fontsize=7)


#: where an exact 0 is drawn on the log axis of the gradient plot (below float32's smallest subnormal, 1.4e-45)
ZERO_FLOOR = 1e-46


def plot_gradients(grouped: dict[tuple[str, int], list[dict[str, Any]]], path: Path) -> None:
    """The terminal-loss curve ``‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖`` against ``k``: one panel per length, one colour per
    cell (the first seed of each group of ``grouped``), dashed at initialisation, solid at the end."""
    lengths = sorted({length for _, length in grouped})
    with panels(path, len(lengths), 3.8) as (plt, axes):
        colours = _colours(plt, (cell for cell, _ in grouped))
        for ax, length in zip(axes, lengths):
            firsts = [members[0] for (_, n), members in grouped.items() if n == length]
            for row in firsts:
                if not row["gradients"]:
                    continue
                colour = colours[row["cell"]]
                for record, style in ((row["gradients"][0], "--"), (row["gradients"][-1], "-")):
                    curve = [max(v, ZERO_FLOOR) for v in relative_curve(record["norms"])]
                    label = f"{row['cell']} (end: step {record['step']})" if style == "-" else None
                    ax.semilogy(range(len(curve)), curve, color=colour, linestyle=style, linewidth=1.2, label=label)
            label_terminal_axes(ax, f"length {length} (dashed: init, solid: end)")


def label_terminal_axes(ax: Any, title: str) -> None:
    """The floor line for exact zeros, title, axis labels and legend of a terminal-gradient panel."""
    ax.axhline(ZERO_FLOOR, color="grey", linewidth=0.6)
    ax.text(0, ZERO_FLOOR * 10, "exactly 0: " + VANISHED, fontsize=6, color="grey")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("k (steps back from the last step)")
    ax.set_ylabel("‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖")
    ax.legend(fontsize=6)


#: the cells of the recipe (conf/experiment/vanishing_gradients.yaml), each at its config default
RECIPE_CELLS = ("rnn_tanh", "rnn_relu", "irnn", "lstm", "gru")


def terminal_curves_at_init(length: int, seeds: list[int], cells: tuple[str, ...] = RECIPE_CELLS,
                            hidden_size: int = 64, batch_size: int = 50, **data: Any) -> dict[str, list[list[float]]]:
    """The terminal-loss curve ``‖∂L_T/∂h_{T−k}‖`` of the recipe's model (identity input, one layer of
    ``hidden_size`` units, regression head) at initialisation, per cell and seed, on one batch of the adding
    problem: ``{cell: [curve per seed]}``. Cells take their config defaults, weights are drawn after
    ``seed_everything(seed)`` as a run does: the sweep's own initial curves. Nothing is trained (seconds of CPU).
    ``data``: more :class:`~seqlab.data.adding.AddingDataModule` options (e.g. ``cache_dir``)."""
    import pytorch_lightning as pl

    from seqlab import schema
    from seqlab.callbacks.gradient_flow import GradientFlowCallback
    from seqlab.data.adding import AddingDataModule
    from seqlab.models.builder import make_module

    curves: dict[str, list[list[float]]] = {cell: [] for cell in cells}
    for seed in seeds:
        adding = AddingDataModule(seq_len=length, num_train=batch_size, num_val=2, num_test=2,
                                  batch_size=batch_size, seed=seed, **data)
        adding.setup("fit")
        batch = next(iter(adding.train_dataloader()))
        for cell in cells:
            options = schema.defaults("cell", cell)
            pl.seed_everything(seed, verbose=False)
            model = {"embedding": "identity", "cell": options, "head": {"name": "regression"},
                     "encoder": {"hidden_size": hidden_size}}
            module = make_module(adding.spec, model)
            probe = GradientFlowCallback(dirpath=".")
            probe.probe(None, module, batch)
            curves[cell].append(probe.history[TERMINAL][0][1])
    return curves


def plot_curves_at_init(curves_by_length: dict[int, dict[str, list[list[float]]]], path: Path) -> None:
    """``G_k / G_0`` at initialisation against ``k``: a panel per length, a colour per cell, a line per seed."""
    with panels(path, len(curves_by_length), 3.6) as (plt, axes):
        for ax, (length, curves) in zip(axes, sorted(curves_by_length.items())):
            colours = _colours(plt, curves)
            for cell, per_seed in curves.items():
                for j, curve in enumerate(per_seed):
                    relative = [max(v, ZERO_FLOOR) for v in relative_curve(curve)]
                    ax.semilogy(range(len(relative)), relative, color=colours[cell], linewidth=1,
                                label=cell if j == 0 else None)
            label_terminal_axes(ax, f"length {length}, at initialisation")

