"""Summary of the ``vanishing_gradients`` sweep: which cells learn the adding problem at which sequence length."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seqlab.data.adding import CONSTANT_BASELINE_MSE

#: columns of summary.csv / summary.md
COLUMNS = ("cell", "length", "val_mse", "learned", "steps", "job")


def read_job(job_dir: Path, threshold: float) -> dict[str, Any]:
    """One sweep job's folder → its row: cell, length, final ``val/mse``, learned (mse < threshold), curves."""
    config = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    metrics_file = job_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    mse = metrics.get("val/mse")
    mse = None if mse is None or not math.isfinite(mse) else float(mse)
    curves = read_curves(job_dir / "csv" / "metrics.csv")
    gradients_file = job_dir / "gradient_flow" / "history.json"
    gradients = json.loads(gradients_file.read_text()) if gradients_file.is_file() else {}
    steps = max((s for s, _ in curves.get("val/mse", [])), default=0)
    return {
        "cell": str(OmegaConf.select(config, "model.cell.name")),
        "length": int(OmegaConf.select(config, "data.seq_len")),
        "val_mse": mse,
        "learned": "failed" if mse is None else ("yes" if mse < threshold else "no"),
        "steps": steps,
        "job": job_dir.name,
        "curves": curves,
        "gradients": gradients.get("encoder.layer0", []),
    }


def read_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """``train/loss`` and ``val/mse`` against the training step, from a job's CSV log."""
    curves: dict[str, list[tuple[int, float]]] = {"train/loss": [], "val/mse": []}
    if not path.is_file():
        return curves
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            for key, points in curves.items():
                if row.get(key) not in (None, ""):
                    points.append((int(row["step"]), float(row[key])))
    return curves


def markdown_table(rows: list[dict[str, Any]], threshold: float) -> str:
    """The rows as a markdown table, plus a cell × length grid of learned / not learned."""
    lines = [
        f"# Adding problem: which cells learn (val MSE < {threshold}; predicting 1 scores "
        f"{CONSTANT_BASELINE_MSE:.3f})",
        "",
        "| cell | length | final val/mse | learned | steps | job |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        mse = "—" if row["val_mse"] is None else f"{row['val_mse']:.4f}"
        lines.append(f"| {row['cell']} | {row['length']} | {mse} | {row['learned']} | {row['steps']} | {row['job']} |")
    cells = sorted({r["cell"] for r in rows})
    lengths = sorted({r["length"] for r in rows})
    lines += ["", "| cell \\ length | " + " | ".join(str(n) for n in lengths) + " |",
              "|---" * (len(lengths) + 1) + "|"]
    for cell in cells:
        marks = []
        for length in lengths:
            found = [r for r in rows if r["cell"] == cell and r["length"] == length]
            marks.append(found[0]["learned"] if found else "")
        lines.append(f"| {cell} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(rows: list[dict[str, Any]], path: Path) -> None:
    """Validation MSE against training steps: one panel per length, one line per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = sorted({r["length"] for r in rows})
    fig, axes = plt.subplots(1, len(lengths), figsize=(4.5 * len(lengths), 3.6), squeeze=False)
    for ax, length in zip(axes[0], lengths):
        for row in (r for r in rows if r["length"] == length):
            points = row["curves"]["val/mse"] or row["curves"]["train/loss"]
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=row["cell"])
        ax.axhline(CONSTANT_BASELINE_MSE, color="grey", linestyle=":", label="predict 1")
        ax.set_yscale("log")
        ax.set_title(f"length {length}")
        ax.set_xlabel("training step")
        ax.set_ylabel("val MSE")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_gradients(rows: list[dict[str, Any]], path: Path) -> None:
    """‖∂L/∂h_t‖ against the time step t: one panel per length, one colour per cell; dashed at the first recorded
    training step (initialisation), solid at the last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = sorted({r["length"] for r in rows})
    fig, axes = plt.subplots(1, len(lengths), figsize=(4.5 * len(lengths), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    cells = sorted({r["cell"] for r in rows})
    for ax, length in zip(axes[0], lengths):
        for row in (r for r in rows if r["length"] == length):
            if not row["gradients"]:
                continue
            colour = colours[cells.index(row["cell"]) % len(colours)]
            first, last = row["gradients"][0], row["gradients"][-1]
            steps = range(1, len(last["norms"]) + 1)
            ax.semilogy(steps, last["norms"], color=colour, label=f"{row['cell']} (step {last['step']})")
            if first is not last:
                ax.semilogy(steps, first["norms"], color=colour, linestyle="--", alpha=0.6)
        ax.set_title(f"length {length} (solid: last recording, dashed: first)")
        ax.set_xlabel("time step t")
        ax.set_ylabel("‖∂L/∂h_t‖")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summarise_sweep(sweep_dir: str | Path, threshold: float = 0.05) -> list[dict[str, Any]]:
    """Read every job folder of an adding-problem sweep and write into the sweep folder ``summary.md``,
    ``summary.csv`` (``cell, length, val_mse, learned, steps, job``), ``mse_curves.png`` and
    ``gradient_norms.png``. Returns the rows, sorted by cell and length."""
    sweep_dir = Path(sweep_dir)
    jobs = [p for p in sweep_dir.iterdir() if (p / ".hydra" / "config.yaml").is_file()]
    rows = sorted((read_job(p, threshold) for p in jobs), key=lambda r: (r["cell"], r["length"]))
    with (sweep_dir / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = markdown_table(rows, threshold)
    (sweep_dir / "summary.md").write_text(table, encoding="utf-8")
    if rows:
        plot_curves(rows, sweep_dir / "mse_curves.png")
        plot_gradients(rows, sweep_dir / "gradient_norms.png")
    return rows


class AddingSweepSummary(Callback):
    """Hydra callback (``hydra.callbacks``): when the multirun ends, :func:`summarise_sweep` its folder and print the
    table. ``threshold``: a run has learned the task when its final ``val/mse`` is below it."""

    def __init__(self, threshold: float = 0.05):
        self.threshold = threshold

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = summarise_sweep(sweep_dir, self.threshold)
        print("\n" + markdown_table(rows, self.threshold) + f"\nseqlab: sweep summary written to {sweep_dir}"
              " (summary.md, summary.csv, mse_curves.png, gradient_norms.png)", flush=True)
