"""Summary of the ``vanishing_gradients`` sweep (docs/experiments.md): which cells learn the adding problem at which
length, over seeds, and how far back the last step's gradient reaches at initialisation and at the end of training."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from seqlab.callbacks.gradient_flow import VANISHED
from seqlab.data.adding import CONSTANT_BASELINE_MSE
from seqlab.experiments.adding_figures import TERMINAL, plot_curves, plot_gradients, relative_curve
from seqlab.report.groups import finite_or_none
from seqlab.report.read import Run, read_run
from seqlab.stats import interval

#: columns of summary.csv (one row per job)
COLUMNS = ("cell", "length", "optimizer", "lr", "seed", "val_mse", "test_mse", "learned", "chosen", "steps",
           "index_init", "index_end", "forget_bias", "job")


def read_job(job_dir: Path, threshold: float) -> dict[str, Any]:
    """One sweep job's folder → its row: cell, length, seed, final ``val/mse``, learned (mse < threshold), the
    validation curve, and the terminal-loss gradient curves recorded first (initial weights) and last."""
    run = read_run(job_dir)
    config, mse = run.config, finite_or_none(run.metrics.get("val/mse"))
    curves = {key: [(int(step), value) for step, value in run.curves.get(key, [])] for key in ("train/loss", "val/mse")}
    gradients_file = job_dir / "gradient_flow" / "history.json"
    gradients = json.loads(gradients_file.read_text()).get(TERMINAL, []) if gradients_file.is_file() else []
    steps = max((s for s, _ in curves.get("val/mse", [])), default=0)
    forget_bias = config.get("model.cell.forget_bias")
    return {
        "cell": str(config.get("model.cell.name")),
        "length": int(config.get("data.seq_len")),
        "optimizer": str(config.get("optimizer._target_") or "").rsplit(".", 1)[-1],
        "lr": config.get("optimizer.lr"),
        "seed": int(config.get("seed")),
        "val_mse": mse,
        "test_mse": finite_or_none(run.metrics.get("test/mse")),
        "chosen": True,
        "learned": status(run, mse, threshold),
        "steps": steps,
        "index_init": relative_curve(gradients[0]["norms"])[-1] if gradients else None,
        "index_end": relative_curve(gradients[-1]["norms"])[-1] if gradients else None,
        "forget_bias": "" if forget_bias is None else forget_bias,
        "job": job_dir.name,
        "curves": curves,
        "gradients": gradients,
    }


def status(run: Run, mse: float | None, threshold: float) -> str:
    """``yes`` / ``no`` (final val MSE below ``threshold`` or not); ``failed`` when the job stopped with an error
    (Hydra's launcher leaves ``error.txt``) or a non-finite MSE; ``unfinished`` when it has not ended yet."""
    if mse is not None:
        return "yes" if mse < threshold else "no"
    return "unfinished" if run.status == "incomplete" else "failed"


def format_index(value: float | None) -> str:
    """A vanishing index for a table: ``0`` is said to be an underflow, not a measurement of a tiny number."""
    if value is None:
        return "—"
    return "0 (" + VANISHED + ")" if value == 0 else f"{value:.1e}"


def by_key(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    """Rows by ``key(row)``, in the order the keys first appear."""
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


def groups(rows: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Rows grouped by (cell, length), in the order cells and lengths first appear, seeds sorted."""
    by_pair = by_key(rows, lambda r: (r["cell"], r["length"]))
    return {pair: sorted(members, key=lambda r: r["seed"]) for pair, members in by_pair.items()}


def mean_val_mse(members: list[dict[str, Any]]) -> float:
    """The mean final val MSE over seeds; a run without a finite one (diverged, failed) makes it infinite."""
    values = [r.get("val_mse") for r in members]
    return math.inf if not values or any(v is None for v in values) else sum(values) / len(values)


def choose_rates(rows: list[dict[str, Any]]) -> None:
    """Per (cell, length), choose the learning rate whose runs have the lowest mean final val MSE over seeds: each
    row's ``chosen`` says whether its rate is that one."""
    for members in groups(rows).values():
        rates = by_key(members, lambda r: r.get("lr"))
        best = min(rates, key=lambda rate: (mean_val_mse(rates[rate]), str(rate)))
        for row in members:
            row["chosen"] = row.get("lr") == best


def success(members: list[dict[str, Any]]) -> str:
    """``learned/ended``: the seeds whose job learned, over the seeds whose job ended (not ``unfinished``)."""
    ended = [r for r in members if r["learned"] != "unfinished"]
    return f"{sum(r['learned'] == 'yes' for r in ended)}/{len(ended)}"


def format_rate(row: dict[str, Any]) -> str:
    rate = row.get("lr")
    return f"{row.get('optimizer') or '?'} {rate:g}" if isinstance(rate, (int, float)) else str(rate or "—")


def markdown_table(rows: list[dict[str, Any]], threshold: float) -> str:
    """Per cell and length, at the learning rate chosen on validation (:func:`choose_rates`): the optimizer and
    rate, success, val and test MSE (mean ± 95 % t-interval over seeds), the median index at init and end; then
    every rate tried (when more than one was), a cell × length grid of success rates, and one line per job."""
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
        return f"{interval(values).text('.4f')} (n={len(values)})" if values else "—"

    for (cell, length), members in grouped.items():
        members = [r for r in members if r.get("chosen", True)]
        finals, tests, init, end = ([r[key] for r in members if r.get(key) is not None]
                                    for key in ("val_mse", "test_mse", "index_init", "index_end"))
        lines.append(
            f"| {cell} | {length} | {format_rate(members[0])} | {success(members)} | {spread(finals)} | "
            f"{spread(tests)} | {format_index(median(init) if init else None)} | "
            f"{format_index(median(end) if end else None)} |"
        )
    rates = {(r["cell"], r["length"], r.get("lr")) for r in rows}
    if len(rates) > len(grouped):
        lines += ["", "Every rate tried (mean final val MSE over seeds; ∞: a run diverged or failed):", "",
                  "| cell | length | optimizer, lr | success | mean final val MSE | chosen |",
                  "|---|---|---|---|---|---|"]
        for (cell, length), members in grouped.items():
            for runs in by_key(members, lambda r: r.get("lr")).values():
                mean = mean_val_mse(runs)
                lines.append(
                    f"| {cell} | {length} | {format_rate(runs[0])} | {success(runs)} | "
                    f"{'∞' if math.isinf(mean) else f'{mean:.4f}'} | {'yes' if runs[0].get('chosen', True) else ''} |"
                )
    cells = list(dict.fromkeys(cell for cell, _ in grouped))
    lengths = sorted({length for _, length in grouped})
    lines += ["", "| cell \\ length (chosen rate) | " + " | ".join(str(n) for n in lengths) + " |",
              "|---" * (len(lengths) + 1) + "|"]
    for cell in cells:
        marks = []
        for length in lengths:
            members = [r for r in grouped.get((cell, length), []) if r.get("chosen", True)]
            marks.append(success(members) if any(r["learned"] != "unfinished" for r in members) else "")
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


def summarise_sweep(sweep_dir: str | Path, threshold: float = 0.01) -> list[dict[str, Any]]:
    """Read every job folder of an adding-problem sweep and write into the sweep folder ``summary.md``,
    ``summary.csv`` (:data:`COLUMNS`), ``mse_curves.png`` and ``terminal_gradients.png``. Returns the rows, sorted
    by cell, length and seed."""
    sweep_dir = Path(sweep_dir)
    rows = [read_job(p, threshold) for p in sweep_dir.iterdir() if (p / ".hydra" / "config.yaml").is_file()]
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
        plot_gradients(groups(rows), sweep_dir / "terminal_gradients.png")
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


if __name__ == "__main__":
    import argparse

    from seqlab.experiments.adding_figures import plot_curves_at_init, terminal_curves_at_init

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
