"""The report as one self-contained HTML page: tables, curves and plots as embedded PNGs (base64), samples, tunes."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from seqlab.report.groups import Group, Sweep, best_value, load_sweep, metric_order
from seqlab.report.read import ReportError, Run, read_yaml

CURVE_SECTIONS = ("Losses and metrics", "Diagnostics")
#: metric name prefixes that are diagnostics (gradient flow, learning rate, throughput, bookkeeping)
DIAGNOSTIC_PREFIXES = ("grad_flow/", "grad_norm/", "sigma_max/", "lr-", "lr/", "epoch", "train/tokens_per_s",
                       "train/nonfinite", "music/")
SPLIT_RANK = {"train": 0, "val": 1, "test": 2}
BLEU_NOTE = ("BLEU counts word n-grams up to 4: on short targets (a date, a word or two) it stays at or near 0 until "
             "an output is exactly right, however close its characters are; read exact match and chrF (character "
             "n-grams) there.")


def plot_order(names: set[str]) -> list[tuple[str, list[str]]]:
    """The curves in :data:`CURVE_SECTIONS`: losses first (train, val, test), then the task's metrics (val/ and
    test/), then the rest; diagnostics (:data:`DIAGNOSTIC_PREFIXES`) in a section after them."""

    def rank(name: str) -> tuple[int, int, str]:
        split, _, metric = name.partition("/")
        loss = metric == "loss" and split in SPLIT_RANK
        return (0 if loss else 1 if split in ("val", "test") else 2, SPLIT_RANK.get(split, 3), name)

    diagnostics = {n for n in names if n.startswith(DIAGNOSTIC_PREFIXES)}
    sections = [(CURVE_SECTIONS[0], sorted(names - diagnostics, key=rank)),
                (CURVE_SECTIONS[1], sorted(diagnostics))]
    return [(title, shown) for title, shown in sections if shown]


def png_img(alt: str, png: bytes) -> str:
    """An ``<img>`` holding the PNG itself (base64), so the page needs no other file."""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def plot_metric(metric: str, runs: list[Run]) -> bytes:
    """One metric of every run against the step → a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 3.4))
    axes = figure.add_subplot()
    for run in runs:
        if points := run.curves.get(metric):
            steps, values = zip(*points)
            axes.plot(steps, values, marker="o" if len(points) < 20 else None, markersize=3, label=run.label)
    axes.set_title(metric)
    axes.set_xlabel("step")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def format_value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"  # nan and inf read as they are


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}" if minutes else f"{seconds:.1f} s"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.failed { color: #b00020; } .incomplete { color: #a06000; } .best { font-weight: bold; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
img { max-width: 100%; }
pre { background: #f7f7f7; padding: 0.6em; white-space: pre-wrap; max-height: 20em; overflow: auto; }
code { background: #f2f2f2; padding: 0 0.2em; }
"""


def table(css_class: str, head: list[str], rows: list[list[str]]) -> str:
    """An HTML table: a header row of ``head`` (escaped here) and rows of ready ``<td>`` cells."""
    lines = ["<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    lines += ["<tr>" + "".join(cells) + "</tr>" for cells in rows]
    return f'<table class="{css_class}">\n' + "\n".join(lines) + "\n</table>"


def runs_table(runs: list[Run], keys: list[str]) -> str:
    metrics = metric_order({k for run in runs for k in run.metrics})
    best = {m: best_value(m, (run.metrics[m] for run in runs if m in run.metrics)) for m in metrics}
    rows = []
    for run in runs:
        cells = [f'<td title="{escape(str(run.path))}">{escape(run.name.split("_", 1)[0] if keys else run.name)}</td>']
        cells += [f"<td>{escape(run.overrides.get(k, '—'))}</td>" for k in keys]
        status = escape(run.status) + (f": {escape(run.error)}" if run.error else "")
        cells.append(f'<td class="{escape(run.status)}">{status}</td>')
        for metric in metrics:
            value = run.metrics.get(metric)
            mark = " best" if value is not None and best[metric] == value else ""
            cells.append(f'<td class="num{mark}">{format_value(value)}</td>')
        cells.append(f'<td class="num">{format_seconds(run.wall_seconds)}</td>')
        rows.append(cells)
    return table("runs", ["run", *keys, "status", *metrics, "wall time"], rows)


def groups_table(groups: list[Group]) -> str:
    """One row per group: the mean ± 95 % t-interval and n of each metric, the per-seed values in the cell's
    tooltip; the best mean of each column in bold."""
    metrics = metric_order({k for group in groups for run in group.finished for k in run.metrics})
    stats = {(id(group), metric): group.interval(metric) for group in groups for metric in metrics}
    best = {m: best_value(m, (s.mean for g in groups if (s := stats[id(g), m]) is not None)) for m in metrics}
    rows = []
    for group in groups:
        finished = group.finished
        note = f"{len(finished)} of {len(group.runs)} finished" if len(finished) < len(group.runs) else ""
        title = f' title="{escape(note)}"' if note else ""
        cells = [f"<td>{escape(group.label)}</td>", f'<td class="num"{title}>{len(group.runs)}</td>']
        cells.append(f"<td>{escape(', '.join(str(run.seed) for run in group.runs))}</td>")
        for metric in metrics:
            stat = stats[id(group), metric]
            if stat is None:
                cells.append('<td class="num">—</td>')
                continue
            per_seed = "\n".join(f"seed {seed}: {format_value(v)} ({name})" for seed, name, v in group.values(metric))
            mark = " best" if best[metric] == stat.mean else ""
            text = f"{escape(stat.text())} <small>n={stat.n}</small>"
            cells.append(f'<td class="num{mark}" title="{escape(per_seed)}">{text}</td>')
        rows.append(cells)
    return table("groups", ["group", "runs", "seeds", *metrics], rows)


def plots_table(runs: list[Run], kind: str, folder: str) -> str:
    """A row per plot name, a column per run that has one: ``kind`` is the Run attribute (``gradient_flow``,
    ``forecasts``) holding the PNGs of ``<run>/<folder>/``."""
    names = sorted({name for run in runs for name in getattr(run, kind)})
    if not names:
        return f"<p>No {kind.replace('_', '-')} plots (PNG files under each run's <code>{folder}/</code>).</p>"
    shown = [run for run in runs if getattr(run, kind)]
    rows = []
    for name in names:
        paths = [getattr(run, kind).get(name) for run in shown]
        images = [png_img(f"{run.label} {name}", path.read_bytes()) if path else "—" for run, path in zip(shown, paths)]
        rows.append([f"<td>{escape(name)}</td>", *(f"<td>{image}</td>" for image in images)])
    return table(kind.replace("_", "-"), ["plot", *(run.label for run in shown)], rows)


def tunes_section(runs: list[Run]) -> str:
    """The tunes each run sampled (``<run>/tunes/tunes.json``, written by ``callbacks=music``) as sheet music with a
    play button (:mod:`seqlab.music.tunes_page`; abcjs inlined once, works offline); empty when no run has tunes."""
    from seqlab.music.tunes_page import NOTE, read_tunes_json, summary_line, tunes_assets, tunes_html

    blocks = []
    for number, run in enumerate(runs):
        path = run.path / "tunes" / "tunes.json"
        if not path.is_file():
            continue
        try:
            rates, tunes = read_tunes_json(path)
        except ValueError as err:
            raise ReportError(str(err)) from None
        blocks.append(
            f"<details open><summary>{escape(run.label)}: {summary_line(rates)}</summary>"
            f"{tunes_html(tunes, prefix=f'run{number}-')}</details>"
        )
    return f"<h2>Tunes</h2><p>{NOTE}</p>{''.join(blocks)}{tunes_assets()}" if blocks else ""


def optuna_section(sweep_dir: Path) -> str:
    results_file = sweep_dir / "optimization_results.yaml"
    if not results_file.is_file():
        return ""
    results = read_yaml(results_file)
    if "best_params" not in results:
        return f"<h2>Optuna</h2><pre>{escape(results_file.read_text(encoding='utf-8'))}</pre>"
    params = ", ".join(f"{k}={v}" for k, v in results["best_params"].items())
    return (
        f"<h2>Optuna</h2><p>best value <b>{format_value(float(results['best_value']))}</b> "
        f"with <code>{escape(params)}</code></p>"
    )


def sweep_command(sweep_dir: Path) -> str:
    multirun = sweep_dir / "multirun.yaml"
    if not multirun.is_file():
        return ""
    task = read_yaml(multirun).get("hydra", {}).get("overrides", {}).get("task", [])
    return f"<p><code>python -m seqlab -m {escape(' '.join(task))}</code></p>"


GROUPS_NOTE = (
    "Runs whose composed configs differ only in <code>seed</code> (and in their paths) form one group. Each metric is "
    "the mean over the group's finished runs ± the half-width of a 95 % Student-t interval (n − 1 degrees of "
    "freedom); hover a cell for the per-seed values. n=1: one run, no interval."
)


def render_report(sweep_dir: str | Path | Sweep) -> str:
    """The report's HTML for the sweep (or experiment) folder ``sweep_dir`` (or an already loaded :class:`Sweep`).
    Raises ReportError."""
    sweep = sweep_dir if isinstance(sweep_dir, Sweep) else load_sweep(sweep_dir)
    runs, keys = sweep.runs, sweep.keys
    curves = []
    for section, names in plot_order({k for run in runs for k in run.curves}):
        figures = "".join(f"<figure>{png_img(m, plot_metric(m, runs))}</figure>" for m in names)
        curves.append(f'<h3>{escape(section)}</h3><div class="plots">{figures}</div>')
    bleu = any(k.endswith("/bleu") for run in runs for k in (*run.metrics, *run.curves))
    samples = "".join(
        f"<details><summary>{escape(run.label)}</summary><pre>{escape(run.samples)}</pre></details>"
        for run in runs
        if run.samples
    )
    failed = sum(run.status == "failed" for run in runs)
    title = "seqlab sweep — " + "/".join(sweep.path.resolve().parts[1:][-4:])
    parts = [
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(str(sweep.path.resolve()))}: {len(runs)} runs, {failed} failed, "
        f"{len(sweep.groups)} group{'s' if len(sweep.groups) != 1 else ''} over seeds</p>",
        sweep_command(sweep.path),
        "<h2>Over seeds</h2>",
        f"<p>{GROUPS_NOTE}</p>",
        f"<p class='note'>{escape(BLEU_NOTE)}</p>" if bleu else "",
        f'<div style="overflow-x: auto">{groups_table(sweep.groups)}</div>',
        "<h2>Runs</h2>",
        f'<div style="overflow-x: auto">{runs_table(runs, keys)}</div>',
        optuna_section(sweep.path),
        "<h2>Curves</h2>",
        "".join(curves) if curves else "<p>No csv/metrics.csv in any run.</p>",
        "<h2>Gradient flow</h2>",
        plots_table(runs, "gradient_flow", "gradient_flow"),
        f"<h2>Forecasts</h2>{plots_table(runs, 'forecasts', 'forecast')}" if any(r.forecasts for r in runs) else "",
        f"<h2>Samples</h2>{samples}" if samples else "",
        tunes_section(runs),
        "</body></html>\n",
    ]
    return "\n".join(part for part in parts if part)


def write_report(sweep_dir: str | Path | Sweep, output: str | Path | None = None) -> Path:
    """Render the report and write it to ``output`` (default ``<sweep_dir>/report.html``); returns the path."""
    sweep = sweep_dir if isinstance(sweep_dir, Sweep) else load_sweep(sweep_dir)
    path = Path(output) if output else sweep.path / "report.html"
    path.write_text(render_report(sweep), encoding="utf-8")
    return path

