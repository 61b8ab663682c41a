"""Summary of the ``vanishing_gradients`` sweep: which cells learn the adding problem at which sequence length, over
seeds, and how far back the last step's gradient reaches at initialisation and at the end of training.

When the sweep tries several learning rates (``optimizer.lr`` swept), each cell's rate is chosen per length on
**validation** — the rate with the lowest mean final ``val/mse`` over seeds, a run that diverged counting as
infinitely bad — as Le, Jaitly & Hinton 2015 chose each model's hyper-parameters; the main table reports that rate's
runs (and their ``test/mse``, a split the choice never saw), and a second table every rate tried."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seqlab.callbacks.gradient_flow import VANISHED
from seqlab.data.adding import CONSTANT_BASELINE_MSE
from seqlab.stats import interval

#: columns of summary.csv (one row per job)
COLUMNS = ("cell", "length", "optimizer", "lr", "seed", "val_mse", "test_mse", "learned", "chosen", "steps",
           "index_init", "index_end", "forget_bias", "job")
#: the terminal-loss curve the summary reads (GradientHistoryCallback's JSON): h of the encoder's one layer
TERMINAL = "terminal/encoder.layer0/h"


def read_job(job_dir: Path, threshold: float) -> dict[str, Any]:
    """One sweep job's folder → its row: cell, length, seed, final ``val/mse``, learned (mse < threshold), the
    validation curve, and the terminal-loss gradient curves recorded first (initial weights) and last."""
    config = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    metrics_file = job_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    mse = metrics.get("val/mse")
    mse = None if mse is None or not math.isfinite(mse) else float(mse)
    curves = read_curves(job_dir / "csv" / "metrics.csv")
    gradients_file = job_dir / "gradient_flow" / "history.json"
    gradients = json.loads(gradients_file.read_text()).get(TERMINAL, []) if gradients_file.is_file() else []
    steps = max((s for s, _ in curves.get("val/mse", [])), default=0)
    forget_bias = OmegaConf.select(config, "model.cell.forget_bias")
    test = metrics.get("test/mse")
    return {
        "cell": str(OmegaConf.select(config, "model.cell.name")),
        "length": int(OmegaConf.select(config, "data.seq_len")),
        "optimizer": str(OmegaConf.select(config, "optimizer._target_") or "").rsplit(".", 1)[-1],
        "lr": OmegaConf.select(config, "optimizer.lr"),
        "seed": int(OmegaConf.select(config, "seed")),
        "val_mse": mse,
        "test_mse": None if test is None or not math.isfinite(test) else float(test),
        "chosen": True,
        "learned": status(job_dir, mse, threshold),
        "steps": steps,
        "index_init": relative_curve(gradients[0]["norms"])[-1] if gradients else None,
        "index_end": relative_curve(gradients[-1]["norms"])[-1] if gradients else None,
        "forget_bias": "" if forget_bias is None else forget_bias,
        "job": job_dir.name,
        "curves": curves,
        "gradients": gradients,
    }


def status(job_dir: Path, mse: float | None, threshold: float) -> str:
    """``yes`` / ``no`` (final val MSE below ``threshold`` or not); ``failed`` when the job stopped with an error
    (Hydra's launcher leaves ``error.txt``) or a non-finite MSE; ``unfinished`` when it has not ended yet."""
    if mse is not None:
        return "yes" if mse < threshold else "no"
    if (job_dir / "metrics.json").is_file() or (job_dir / "error.txt").is_file():
        return "failed"
    return "unfinished"


def relative_curve(norms: list[float]) -> list[float]:
    """``G_k / G_0``: the terminal curve relative to the last step (its last point is the vanishing index for rows
    of equal length, as in the adding problem). A curve with ``G_0 = 0`` is all zeros."""
    return [g / norms[0] if norms[0] > 0 else 0.0 for g in norms]


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


def format_index(value: float | None) -> str:
    """A vanishing index for a table: ``0`` is said to be an underflow, not a measurement of a tiny number."""
    if value is None:
        return "—"
    return "0 (" + VANISHED + ")" if value == 0 else f"{value:.1e}"


def groups(rows: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Rows grouped by (cell, length), in the order cells and lengths first appear, seeds sorted."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["cell"], row["length"]), []).append(row)
    return {key: sorted(value, key=lambda r: r["seed"]) for key, value in grouped.items()}


def mean_val_mse(members: list[dict[str, Any]]) -> float:
    """The mean final val MSE over seeds; a run without a finite one (diverged, failed) makes it infinite."""
    values = [r.get("val_mse") for r in members]
    return math.inf if not values or any(v is None for v in values) else sum(values) / len(values)


def choose_rates(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    """Per (cell, length), the learning rate whose runs have the lowest mean final val MSE over seeds; marks each
    row's ``chosen``. One rate per group: that rate."""
    chosen: dict[tuple[str, int], Any] = {}
    for key, members in groups(rows).items():
        by_rate: dict[Any, list[dict[str, Any]]] = {}
        for row in members:
            by_rate.setdefault(row.get("lr"), []).append(row)
        chosen[key] = min(by_rate, key=lambda rate: (mean_val_mse(by_rate[rate]), str(rate)))
        for row in members:
            row["chosen"] = row.get("lr") == chosen[key]
    return chosen


def format_rate(row: dict[str, Any]) -> str:
    rate = row.get("lr")
    return f"{row.get('optimizer') or '?'} {rate:g}" if isinstance(rate, (int, float)) else str(rate or "—")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def markdown_table(rows: list[dict[str, Any]], threshold: float) -> str:
    """Per cell and length, at the learning rate chosen on validation (:func:`choose_rates`): the optimizer and
    rate, the success rate over the seeds that ended, the final val MSE as mean ± the half-width of a 95 % Student-t
    interval over seeds, the test MSE likewise, and the median over seeds of the terminal-gradient index at
    initialisation and at the end; then every rate tried (when more than one was), a cell × length grid of success
    rates at the chosen rates, and one line per job (a job still running reads ``unfinished``)."""
    choose_rates(rows)
    lines = [
        f"# Adding problem: which cells learn (success: val MSE < {threshold}; predicting 1 scores "
        f"{CONSTANT_BASELINE_MSE:.3f})",
        "",
        "index = ‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖, the last step's loss gradient at the first step relative to the last "
        "(median over seeds; init = the first recording, before any update). Learning rate: per cell and length, "
        "the one with the lowest mean final val MSE over seeds (chosen on validation; test MSE never used).",
        "",
        "| cell | length | optimizer, lr (chosen on val) | success | final val MSE (mean ± 95 % t-interval) "
        "| test MSE (mean ± 95 % t-interval) | index at init | index at end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    grouped = groups(rows)

    def spread(values: list[float]) -> str:
        if not values:
            return "—"
        stat = interval(values)
        half = f" ± {stat.half_width:.4f}" if stat.half_width is not None else ""
        return f"{stat.mean:.4f}{half} (n={stat.n})"

    for (cell, length), members in grouped.items():
        members = [r for r in members if r.get("chosen", True)]
        learned = sum(r["learned"] == "yes" for r in members)
        ended = [r for r in members if r["learned"] != "unfinished"]
        finals = [r["val_mse"] for r in members if r["val_mse"] is not None]
        tests = [r["test_mse"] for r in members if r.get("test_mse") is not None]
        init = [r["index_init"] for r in members if r["index_init"] is not None]
        end = [r["index_end"] for r in members if r["index_end"] is not None]
        lines.append(
            f"| {cell} | {length} | {format_rate(members[0])} | {learned}/{len(ended)} | {spread(finals)} | "
            f"{spread(tests)} | {format_index(median(init) if init else None)} | "
            f"{format_index(median(end) if end else None)} |"
        )
    rates = {(r["cell"], r["length"], r.get("lr")) for r in rows}
    if len(rates) > len(grouped):
        lines += ["", "Every rate tried (mean final val MSE over seeds; ∞: a run diverged or failed):", "",
                  "| cell | length | optimizer, lr | success | mean final val MSE | chosen |",
                  "|---|---|---|---|---|---|"]
        for (cell, length), members in grouped.items():
            by_rate: dict[Any, list[dict[str, Any]]] = {}
            for row in members:
                by_rate.setdefault(row.get("lr"), []).append(row)
            for runs in by_rate.values():
                ended = [r for r in runs if r["learned"] != "unfinished"]
                mean = mean_val_mse(runs)
                lines.append(
                    f"| {cell} | {length} | {format_rate(runs[0])} | {sum(r['learned'] == 'yes' for r in ended)}/"
                    f"{len(ended)} | {'∞' if math.isinf(mean) else f'{mean:.4f}'} | "
                    f"{'yes' if runs[0].get('chosen', True) else ''} |"
                )
    cells = list(dict.fromkeys(cell for cell, _ in grouped))
    lengths = sorted({length for _, length in grouped})
    lines += ["", "| cell \\ length (chosen rate) | " + " | ".join(str(n) for n in lengths) + " |",
              "|---" * (len(lengths) + 1) + "|"]
    for cell in cells:
        marks = []
        for length in lengths:
            members = [r for r in grouped.get((cell, length), []) if r.get("chosen", True)]
            ended = [r for r in members if r["learned"] != "unfinished"]
            marks.append(f"{sum(r['learned'] == 'yes' for r in ended)}/{len(ended)}" if ended else "")
        lines.append(f"| {cell} | " + " | ".join(marks) + " |")
    lines += ["", "| cell | length | optimizer, lr | seed | final val MSE | test MSE | learned | steps | index at init "
              "| index at end | job |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in (r for members in grouped.values() for r in members):
        mse = "—" if row["val_mse"] is None else f"{row['val_mse']:.4f}"
        test = "—" if row.get("test_mse") is None else f"{row['test_mse']:.4f}"
        lines.append(
            f"| {row['cell']} | {row['length']} | {format_rate(row)} | {row['seed']} | {mse} | {test} | "
            f"{row['learned']} | {row['steps']} | {format_index(row['index_init'])} | "
            f"{format_index(row['index_end'])} | {row['job']} |"
        )
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(plt: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    return {cell: cycle[i % len(cycle)] for i, cell in enumerate(cells)}


#: the top of the MSE panels: ten times the worst a sensible model scores (predicting 1: 0.167)
MSE_AXIS_TOP = 10.0


def plot_curves(rows: list[dict[str, Any]], path: Path, threshold: float) -> None:
    """Validation MSE against training steps: one panel per length, one colour per cell, one line per seed."""
    plt = _pyplot()
    lengths = sorted({r["length"] for r in rows})
    colours = _colours(plt, rows)
    fig, axes = plt.subplots(1, len(lengths), figsize=(4.5 * len(lengths), 3.6), squeeze=False)
    for ax, length in zip(axes[0], lengths):
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
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


#: where an exact 0 is drawn on the log axis of the gradient plot (below float32's smallest subnormal, 1.4e-45)
ZERO_FLOOR = 1e-46


def plot_gradients(rows: list[dict[str, Any]], path: Path) -> None:
    """The terminal-loss curve ``‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖`` against ``k``: one panel per length, one colour per
    cell (the first seed), dashed at initialisation (the first recording), solid at the end. Exact zeros (underflow)
    are drawn on a floor line."""
    plt = _pyplot()
    lengths = sorted({r["length"] for r in rows})
    colours = _colours(plt, rows)
    fig, axes = plt.subplots(1, len(lengths), figsize=(4.5 * len(lengths), 3.8), squeeze=False)
    for ax, length in zip(axes[0], lengths):
        firsts = [members[0] for (_, n), members in groups(rows).items() if n == length]
        for row in firsts:
            if not row["gradients"]:
                continue
            colour = colours[row["cell"]]
            for record, style in ((row["gradients"][0], "--"), (row["gradients"][-1], "-")):
                curve = [max(v, ZERO_FLOOR) for v in relative_curve(record["norms"])]
                label = f"{row['cell']} (end: step {record['step']})" if style == "-" else None
                ax.semilogy(range(len(curve)), curve, color=colour, linestyle=style, linewidth=1.2, label=label)
        label_terminal_axes(ax, f"length {length} (dashed: init, solid: end)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def label_terminal_axes(ax: Any, title: str) -> None:
    """The floor line for exact zeros, title, axis labels and legend of a terminal-gradient panel."""
    ax.axhline(ZERO_FLOOR, color="grey", linewidth=0.6)
    ax.text(0, ZERO_FLOOR * 10, "exactly 0: " + VANISHED, fontsize=6, color="grey")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("k (steps back from the last step)")
    ax.set_ylabel("‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖")
    ax.legend(fontsize=6)


def summarise_sweep(sweep_dir: str | Path, threshold: float = 0.01) -> list[dict[str, Any]]:
    """Read every job folder of an adding-problem sweep and write into the sweep folder ``summary.md``,
    ``summary.csv`` (:data:`COLUMNS`), ``mse_curves.png`` and ``terminal_gradients.png``. Returns the rows, sorted
    by cell, length and seed."""
    sweep_dir = Path(sweep_dir)
    jobs = [p for p in sweep_dir.iterdir() if (p / ".hydra" / "config.yaml").is_file()]
    rows = [read_job(p, threshold) for p in jobs]
    order = {cell: i for i, cell in enumerate(dict.fromkeys(r["cell"] for r in sorted(rows, key=_job_number)))}
    rows.sort(key=lambda r: (order[r["cell"]], r["length"], r["seed"]))
    choose_rates(rows)
    with (sweep_dir / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (sweep_dir / "summary.md").write_text(markdown_table(rows, threshold), encoding="utf-8")
    if rows:
        plot_curves(rows, sweep_dir / "mse_curves.png", threshold)
        plot_gradients(rows, sweep_dir / "terminal_gradients.png")
    return rows


def _job_number(row: dict[str, Any]) -> int:
    """Job folders are ``<number>_<overrides>``: the sweep's own order of cells."""
    head = row["job"].split("_", 1)[0]
    return int(head) if head.isdigit() else 0


class AddingSweepSummary(Callback):
    """Hydra callback (``hydra.callbacks``): when the multirun ends, :func:`summarise_sweep` its folder and print the
    table. ``threshold``: a run has learned the task when its final ``val/mse`` is below it."""

    def __init__(self, threshold: float = 0.01):
        self.threshold = threshold

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = summarise_sweep(sweep_dir, self.threshold)
        print("\n" + markdown_table(rows, self.threshold) + f"\nseqlab: sweep summary written to {sweep_dir}"
              " (summary.md, summary.csv, mse_curves.png, terminal_gradients.png)", flush=True)


#: the cells of the recipe (conf/experiment/vanishing_gradients.yaml), each at its config default
RECIPE_CELLS = ("rnn_tanh", "rnn_relu", "irnn", "lstm", "gru")


def terminal_curves_at_init(length: int, seeds: list[int], cells: tuple[str, ...] = RECIPE_CELLS,
                            hidden_size: int = 64, batch_size: int = 50, **data: Any) -> dict[str, list[list[float]]]:
    """The terminal-loss curve ``‖∂L_T/∂h_{T−k}‖`` of the recipe's model (identity input, one layer of
    ``hidden_size`` units, regression head) at initialisation, per cell and seed, on one batch of the adding
    problem: ``{cell: [curve per seed]}``. The cells' options are their config defaults (``conf/cell``) and the
    weights are drawn after ``seed_everything(seed)`` as a run does, so these are the sweep's own initial curves
    (measured: the same indices as its step-0 recordings). Nothing is trained; a few seconds of CPU. ``data``: more
    options of :class:`~seqlab.data.adding.AddingDataModule` (e.g. ``cache_dir``)."""
    import pytorch_lightning as pl

    from seqlab.callbacks.gradient_flow import GradientFlowCallback
    from seqlab.data.adding import AddingDataModule
    from seqlab.models.builder import make_module
    from seqlab.paths import conf_dir

    curves: dict[str, list[list[float]]] = {cell: [] for cell in cells}
    for seed in seeds:
        adding = AddingDataModule(seq_len=length, num_train=batch_size, num_val=2, num_test=2,
                                  batch_size=batch_size, seed=seed, **data)
        adding.setup("fit")
        batch = next(iter(adding.train_dataloader()))
        for cell in cells:
            options = OmegaConf.to_container(OmegaConf.load(conf_dir() / "cell" / f"{cell}.yaml"))
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
    plt = _pyplot()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(curves_by_length), figsize=(4.5 * len(curves_by_length), 3.6), squeeze=False)
    for ax, (length, curves) in zip(axes[0], sorted(curves_by_length.items())):
        for i, (cell, per_seed) in enumerate(curves.items()):
            for j, curve in enumerate(per_seed):
                relative = [max(v, ZERO_FLOOR) for v in relative_curve(curve)]
                ax.semilogy(range(len(relative)), relative, color=cycle[i % len(cycle)], linewidth=1,
                            label=cell if j == 0 else None)
        label_terminal_axes(ax, f"length {length}, at initialisation")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Summarise a vanishing_gradients sweep folder, or (--init) plot the "
                                     "terminal-loss curves of the recipe's cells at initialisation.")
    parser.add_argument("folder", type=Path, help="the sweep folder (or, with --init, where init_gradients.png goes)")
    parser.add_argument("--init", action="store_true", help="curves at initialisation, lengths 50 and 150, seeds 1-3")
    parser.add_argument("--threshold", type=float, default=0.01)
    cli = parser.parse_args()
    if cli.init:
        by_length = {n: terminal_curves_at_init(n, [1, 2, 3]) for n in (50, 150)}
        plot_curves_at_init(by_length, cli.folder / "init_gradients.png")
        for n, curves in by_length.items():
            for cell, per_seed in curves.items():
                indices = ", ".join(format_index(relative_curve(c)[-1]) for c in per_seed)
                print(f"length {n} {cell}: index at init (seeds 1, 2, 3) = {indices}")
    else:
        print(markdown_table(summarise_sweep(cli.folder, cli.threshold), cli.threshold))
