"""Compare the runs of a sweep in one self-contained HTML file.

``python -m seqlab.report <sweep dir> [-o report.html]`` reads every run folder under the sweep (a folder holding
``.hydra/``) and writes ``<sweep dir>/report.html`` (or ``-o``) with

- a table of groups: runs whose composed configs (``.hydra/config.yaml``) differ only in ``seed`` (and in the run's
  paths, ``paths.*`` and ``ckpt_path``) form one group, and each metric is shown as the mean over the group's
  finished runs ± the half-width of a 95 % Student-t interval (n − 1 degrees of freedom, :mod:`seqlab.stats`) with
  n; the per-seed values show on hover; n = 1 shows the value and ``n=1``, no interval;
- a table of runs: the swept parameters (from ``multirun.yaml``, else each run's overrides), the status (ok / failed
  with the first line of ``error.txt`` / incomplete), the final metrics from ``metrics.json`` (the best value of each
  column in bold) and the wall time (from the job's ``.hydra/config.yaml``, written when the job starts, to its
  ``metrics.json`` or ``error.txt``, written when it ends);
- the Optuna result (``optimization_results.yaml``) when the sweep was an Optuna search;
- one plot per logged metric (``csv/metrics.csv`` of each run, every run a line, against the training step);
- the gradient-flow plots side by side: one column per run, one row per PNG name found in the runs'
  ``gradient_flow/`` folders;
- each run's final samples (``samples/final.txt``), when it wrote any.

Images are PNGs rendered with matplotlib's Agg backend and embedded as base64, so the file opens anywhere offline.
The command also prints the groups' means and intervals, and with ``--json`` writes them to ``<sweep dir>/report.json``
(keys: :func:`summary_json`).

>>> from pathlib import Path; import tempfile
>>> sweep = Path(tempfile.mkdtemp())
>>> run = sweep / "0_cell=gru"; (run / ".hydra").mkdir(parents=True)
>>> _ = (run / "metrics.json").write_text('{"val/loss": 1.5}')
>>> html = render_report(sweep)
>>> "<table" in html and "1.5" in html
True
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.stats import Interval, interval

#: metric names (substrings) where lower is better; every other metric is taken as higher-is-better
LOWER_IS_BETTER = ("loss", "perplexity", "bpc", "error", "wer", "cer")
#: the key that repeats an experiment; runs whose configs differ only in it (and in IGNORED_PREFIXES) are grouped
SEED_KEY = "seed"
#: config keys (and subtrees) that name where a run lives or resumes from, not what it is: left out when grouping
IGNORED_PREFIXES = ("paths", "ckpt_path")
#: the confidence of the intervals over seeds
CONFIDENCE = 0.95


class ReportError(ValueError):
    """A sweep folder the report cannot read; the message names the folder and what is wrong."""


@dataclass
class Run:
    """One job folder of a sweep: what it was given, how it ended, and what it logged."""

    path: Path
    overrides: dict[str, str]
    status: str  # ok | failed | incomplete
    #: the composed config (``.hydra/config.yaml``, interpolations unresolved) flattened to dotted keys; empty when
    #: the run has none
    config: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    wall_seconds: float | None = None
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    gradient_flow: dict[str, Path] = field(default_factory=dict)
    samples: str = ""
    #: how plots and tables name the run: its swept parameters (``cell=gru``), set by :func:`render_report`
    label: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def seed(self) -> Any:
        """The run's seed: from its config, else its overrides; None when neither has one."""
        return self.config.get(SEED_KEY, self.overrides.get(SEED_KEY))

    def identity(self) -> str:
        """What the run is, seed and paths left out: its flattened config (or, without one, its overrides) as
        canonical JSON. Runs with equal identities are repetitions of one experiment."""
        source = self.config or self.overrides
        kept = {k: v for k, v in source.items() if k != SEED_KEY and not ignored_key(k)}
        return json.dumps(kept, sort_keys=True, default=str)


def ignored_key(key: str) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in IGNORED_PREFIXES)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"cell": {"name": "gru"}}}`` → ``{"model.cell.name": "gru"}`` (lists stay values)."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Run folders (holding ``.hydra/``) under ``sweep_dir``, by job number then name; ``sweep_dir`` itself when it is
    a single run."""
    if (sweep_dir / ".hydra").is_dir():
        return [sweep_dir]
    dirs = [p.parent for p in sweep_dir.rglob(".hydra") if p.is_dir() and ".submitit" not in p.parts]

    def order(path: Path) -> tuple[int, str]:
        match = re.match(r"(\d+)_", path.name)
        return (int(match[1]) if match else 1 << 30, str(path))

    return sorted(dirs, key=order)


def split_override(override: str) -> tuple[str, str]:
    """``"+model.cell=gru"`` → ``("model.cell", "gru")``."""
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def read_yaml(path: Path) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def read_curves(csv_path: Path) -> dict[str, list[tuple[float, float]]]:
    """``csv/metrics.csv`` (Lightning's CSVLogger) → ``{metric: [(step, value), ...]}``, test metrics left out."""
    curves: dict[str, list[tuple[float, float]]] = {}
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            step = row.get("step")
            if not step:
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or not key or key.startswith("test/") or value in ("", None):
                    continue
                try:
                    curves.setdefault(key, []).append((float(step), float(value)))
                except ValueError:
                    continue
    return curves


def read_run(path: Path) -> Run:
    """Everything the report shows about one run folder; missing files leave their part empty."""
    overrides_file = path / ".hydra" / "overrides.yaml"
    overrides = dict(split_override(o) for o in read_yaml(overrides_file)) if overrides_file.is_file() else {}
    metrics_file, error_file = path / "metrics.json", path / "error.txt"
    run = Run(path=path, overrides=overrides, status="incomplete")
    config_file = path / ".hydra" / "config.yaml"
    if config_file.is_file():
        try:
            run.config = flatten(read_yaml(config_file))
        except Exception as err:  # omegaconf raises its own error types for malformed YAML
            raise ReportError(f"{config_file}: not a readable config ({str(err).splitlines()[0]})") from None
    end_file = None
    if error_file.is_file():
        run.status, end_file = "failed", error_file
        lines = error_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        run.error = lines[0] if lines else "failed"
    elif metrics_file.is_file():
        run.status, end_file = "ok", metrics_file
        try:
            values = json.loads(metrics_file.read_text(encoding="utf-8")).items()
            run.metrics = {k: float(v) for k, v in values if not isinstance(v, str)}  # test_weights: best|last
        except (ValueError, TypeError, AttributeError) as err:
            raise ReportError(f"{metrics_file}: not a JSON object of numbers ({err})") from None
    start_file = path / ".hydra" / "config.yaml"
    if end_file is not None and start_file.is_file():
        run.wall_seconds = max(0.0, end_file.stat().st_mtime - start_file.stat().st_mtime)
    if (path / "csv" / "metrics.csv").is_file():
        run.curves = read_curves(path / "csv" / "metrics.csv")
    if (path / "gradient_flow").is_dir():
        run.gradient_flow = {
            str(p.relative_to(path / "gradient_flow")): p for p in sorted((path / "gradient_flow").rglob("*.png"))
        }
    if (path / "samples" / "final.txt").is_file():
        run.samples = (path / "samples" / "final.txt").read_text(encoding="utf-8", errors="replace")
    return run


def swept_keys(sweep_dir: Path, runs: list[Run]) -> list[str]:
    """The parameters that differ between jobs: sweep overrides and Optuna params from ``multirun.yaml``, else the
    override keys whose value differs between runs."""
    keys: list[str] = []
    multirun = sweep_dir / "multirun.yaml"
    if multirun.is_file():
        from hydra.core.override_parser.overrides_parser import OverridesParser

        hydra = read_yaml(multirun).get("hydra", {})
        parsed = OverridesParser.create().parse_overrides(list(hydra.get("overrides", {}).get("task", [])))
        keys = [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
        keys += [k for k in (hydra.get("sweeper", {}).get("params") or {}) if k not in keys]
    if not keys:
        every = sorted({k for run in runs for k in run.overrides})
        keys = [k for k in every if len({run.overrides.get(k) for run in runs}) > 1]
    return keys


@dataclass
class Group:
    """Runs that differ only in their seed: one experiment, repeated."""

    runs: list[Run]
    #: how tables name the group: its swept parameters other than the seed (``cell=gru``)
    label: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> list[Run]:
        """The runs that ended with metrics (status ok): the ones the means are over."""
        return [run for run in self.runs if run.status == "ok"]

    def values(self, metric: str) -> list[tuple[Any, str, float]]:
        """``(seed, run name, value)`` of every finished run that logged ``metric``."""
        return [(run.seed, run.name, run.metrics[metric]) for run in self.finished if metric in run.metrics]

    def interval(self, metric: str) -> Interval | None:
        """Mean ± 95 % t-interval of ``metric`` over the finished runs; None when none logged it."""
        values = [value for _, _, value in self.values(metric)]
        return interval(values, CONFIDENCE) if values else None


def group_runs(runs: list[Run], keys: list[str]) -> list[Group]:
    """Runs grouped by :meth:`Run.identity` (config minus seed and paths), in the order of their first run; each
    group labelled by the swept keys other than the seed, or — when that does not tell groups apart — by the config
    keys whose values differ between groups."""
    by_identity: dict[str, Group] = {}
    for run in runs:
        by_identity.setdefault(run.identity(), Group(runs=[])).runs.append(run)
    groups = list(by_identity.values())
    label_keys = [k for k in keys if k != SEED_KEY]
    for group in groups:
        first = group.runs[0]
        group.params = {k: first.overrides[k] for k in label_keys if k in first.overrides}
        group.label = ",".join(f"{k}={v}" for k, v in group.params.items())
    if len(groups) > 1 and len({g.label for g in groups}) < len(groups):
        configs = [g.runs[0].config or g.runs[0].overrides for g in groups]
        names = sorted({k for c in configs for k in c if k != SEED_KEY and not ignored_key(k)})
        differing = [k for k in names if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]
        for group, config in zip(groups, configs):
            group.params = {k: str(config.get(k, "—")) for k in differing[:4]}
            group.label = ",".join(f"{k}={v}" for k, v in group.params.items()) + (" …" if len(differing) > 4 else "")
    for number, group in enumerate(groups, 1):
        group.label = group.label or (f"group {number}" if len(groups) > 1 else "all runs")
    return groups


def metric_order(names: set[str]) -> list[str]:
    """val/ metrics first, then test/, then the rest; alphabetical inside each."""
    return sorted(names, key=lambda k: (0 if k.startswith("val/") else 1 if k.startswith("test/") else 2, k))


#: the curve sections of the report: what a run is for first, then what explains it
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


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in LOWER_IS_BETTER)


def png_base64(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_metric(metric: str, runs: list[Run]) -> str:
    """One metric of every run against the step → a base64 PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 3.4))
    axes = figure.add_subplot()
    for run in runs:
        points = run.curves.get(metric)
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, marker="o" if len(points) < 20 else None, markersize=3, label=run.label)
    axes.set_title(metric)
    axes.set_xlabel("step")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return png_base64(figure)


def file_base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def format_value(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def format_interval(stat: Interval) -> str:
    """``"0.9123 ± 0.0345"``, or ``"0.9123"`` alone for a single value (n = 1 has no interval)."""
    if stat.half_width is None:
        return format_value(stat.mean)
    return f"{format_value(stat.mean)} ± {format_value(stat.half_width)}"


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


def runs_table(runs: list[Run], keys: list[str]) -> str:
    metrics = metric_order({k for run in runs for k in run.metrics})
    best: dict[str, float] = {}
    for metric in metrics:
        values = [v for run in runs if math.isfinite(v := run.metrics.get(metric, math.nan))]
        if values:
            best[metric] = min(values) if lower_is_better(metric) else max(values)
    esc = html.escape
    head = ["run", *keys, "status", *metrics, "wall time"]
    rows = ["<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for run in runs:
        cells = [f'<td title="{esc(str(run.path))}">{esc(run.name.split("_", 1)[0] if keys else run.name)}</td>']
        cells += [f"<td>{esc(run.overrides.get(k, '—'))}</td>" for k in keys]
        status = esc(run.status) + (f": {esc(run.error)}" if run.error else "")
        cells.append(f'<td class="{esc(run.status)}">{status}</td>')
        for metric in metrics:
            value = run.metrics.get(metric)
            mark = " best" if value is not None and best.get(metric) == value else ""
            cells.append(f'<td class="num{mark}">{format_value(value)}</td>')
        cells.append(f'<td class="num">{format_seconds(run.wall_seconds)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="runs">\n' + "\n".join(rows) + "\n</table>"


def groups_table(groups: list[Group]) -> str:
    """One row per group: the mean ± 95 % t-interval and n of each metric, the per-seed values in the cell's
    tooltip; the best mean of each column in bold."""
    metrics = metric_order({k for group in groups for run in group.finished for k in run.metrics})
    stats = {(id(group), metric): group.interval(metric) for group in groups for metric in metrics}
    best: dict[str, float] = {}
    for metric in metrics:
        means = [s.mean for g in groups if (s := stats[id(g), metric]) is not None and math.isfinite(s.mean)]
        if means:
            best[metric] = min(means) if lower_is_better(metric) else max(means)
    esc = html.escape
    head = ["group", "runs", "seeds", *metrics]
    rows = ["<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for group in groups:
        finished = group.finished
        note = f"{len(finished)} of {len(group.runs)} finished" if len(finished) < len(group.runs) else ""
        title = f' title="{esc(note)}"' if note else ""
        cells = [f"<td>{esc(group.label)}</td>", f'<td class="num"{title}>{len(group.runs)}</td>']
        cells.append(f"<td>{esc(', '.join(str(run.seed) for run in group.runs))}</td>")
        for metric in metrics:
            stat = stats[id(group), metric]
            if stat is None:
                cells.append('<td class="num">—</td>')
                continue
            per_seed = "\n".join(f"seed {seed}: {format_value(v)} ({name})" for seed, name, v in group.values(metric))
            mark = " best" if best.get(metric) == stat.mean else ""
            text = f"{esc(format_interval(stat))} <small>n={stat.n}</small>"
            cells.append(f'<td class="num{mark}" title="{esc(per_seed)}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="groups">\n' + "\n".join(rows) + "\n</table>"


def gradient_flow_table(runs: list[Run]) -> str:
    names = sorted({name for run in runs for name in run.gradient_flow})
    if not names:
        return "<p>No gradient-flow plots (PNG files under each run's <code>gradient_flow/</code>).</p>"
    shown = [run for run in runs if run.gradient_flow]
    esc = html.escape
    rows = ["<tr><th>plot</th>" + "".join(f"<th>{esc(run.label)}</th>" for run in shown) + "</tr>"]
    for name in names:
        cells = [f"<td>{esc(name)}</td>"]
        for run in shown:
            path = run.gradient_flow.get(name)
            if path is None:
                cells.append("<td>—</td>")
                continue
            image = f'<img alt="{esc(run.label)} {esc(name)}" src="data:image/png;base64,{file_base64(path)}">'
            cells.append(f"<td>{image}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="gradient-flow">\n' + "\n".join(rows) + "\n</table>"


def tunes_section(runs: list[Run]) -> str:
    """The tunes each run sampled (``<run>/tunes/tunes.json``, written by ``callbacks=music``) as sheet music with a
    play button (:mod:`seqlab.tunes_page`; abcjs inlined once, works offline); empty when no run has tunes."""
    from seqlab.tunes_page import NOTE, read_tunes_json, summary_line, tunes_assets, tunes_html

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
            f"<details open><summary>{html.escape(run.label)}: {summary_line(rates)}</summary>"
            f"{tunes_html(tunes, prefix=f'run{number}-')}</details>"
        )
    return f"<h2>Tunes</h2><p>{NOTE}</p>{''.join(blocks)}{tunes_assets()}" if blocks else ""


def optuna_section(sweep_dir: Path) -> str:
    results_file = sweep_dir / "optimization_results.yaml"
    if not results_file.is_file():
        return ""
    results = read_yaml(results_file)
    if "best_params" not in results:
        return f"<h2>Optuna</h2><pre>{html.escape(results_file.read_text(encoding='utf-8'))}</pre>"
    params = ", ".join(f"{k}={v}" for k, v in results["best_params"].items())
    return (
        f"<h2>Optuna</h2><p>best value <b>{format_value(float(results['best_value']))}</b> "
        f"with <code>{html.escape(params)}</code></p>"
    )


def sweep_command(sweep_dir: Path) -> str:
    multirun = sweep_dir / "multirun.yaml"
    if not multirun.is_file():
        return ""
    task = read_yaml(multirun).get("hydra", {}).get("overrides", {}).get("task", [])
    return f"<p><code>python -m seqlab -m {html.escape(' '.join(task))}</code></p>"


@dataclass
class Sweep:
    """A sweep folder read once: its runs, the swept keys and the runs grouped over seeds."""

    path: Path
    runs: list[Run]
    keys: list[str]
    groups: list[Group]


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """Read every run under ``sweep_dir`` (a sweep, an experiment's folder, or one run). Raises ReportError."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir}: no such folder (give a sweep folder, e.g. outputs/<experiment>/multirun/...)")
    runs, unreadable = [], []
    for path in find_run_dirs(sweep_dir):
        try:
            runs.append(read_run(path))
        except ReportError as err:  # one damaged run folder (a 0-byte metrics.json after a full disk ...) is named
            unreadable.append(str(err))  # and left out; the others are reported
    if unreadable and not runs:
        raise ReportError(unreadable[0] if len(unreadable) == 1 else
                          f"{unreadable[0]} (and {len(unreadable) - 1} more run folders that cannot be read)")
    for line in unreadable:
        print(f"seqlab.report: {line}; that run is left out of the report", file=sys.stderr, flush=True)
    if not runs:
        raise ReportError(f"{sweep_dir}: no run folders (folders holding .hydra/) inside")
    keys = swept_keys(sweep_dir, runs)
    for run in runs:
        run.label = ",".join(f"{k}={run.overrides[k]}" for k in keys if k in run.overrides) or run.name
    return Sweep(path=sweep_dir, runs=runs, keys=keys, groups=group_runs(runs, keys))


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
        figures = "".join(
            f'<figure><img alt="{html.escape(m)}" src="data:image/png;base64,{plot_metric(m, runs)}"></figure>'
            for m in names
        )
        curves.append(f'<h3>{html.escape(section)}</h3><div class="plots">{figures}</div>')
    bleu = any(k.endswith("/bleu") for run in runs for k in (*run.metrics, *run.curves))
    samples = "".join(
        f"<details><summary>{html.escape(run.label)}</summary><pre>{html.escape(run.samples)}</pre></details>"
        for run in runs
        if run.samples
    )
    failed = sum(run.status == "failed" for run in runs)
    title = "seqlab sweep — " + "/".join(sweep.path.resolve().parts[1:][-4:])
    parts = [
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(str(sweep.path.resolve()))}: {len(runs)} runs, {failed} failed, "
        f"{len(sweep.groups)} group{'s' if len(sweep.groups) != 1 else ''} over seeds</p>",
        sweep_command(sweep.path),
        "<h2>Over seeds</h2>",
        f"<p>{GROUPS_NOTE}</p>",
        f"<p class='note'>{html.escape(BLEU_NOTE)}</p>" if bleu else "",
        f'<div style="overflow-x: auto">{groups_table(sweep.groups)}</div>',
        "<h2>Runs</h2>",
        f'<div style="overflow-x: auto">{runs_table(runs, keys)}</div>',
        optuna_section(sweep.path),
        "<h2>Curves</h2>",
        "".join(curves) if curves else "<p>No csv/metrics.csv in any run.</p>",
        "<h2>Gradient flow</h2>",
        gradient_flow_table(runs),
        f"<h2>Samples</h2>{samples}" if samples else "",
        tunes_section(runs),
        "</body></html>\n",
    ]
    return "\n".join(part for part in parts if part)


def finite_or_none(value: float | None) -> float | None:
    """JSON has no nan/inf: a non-finite number (a diverged run) is written as null."""
    return value if value is not None and math.isfinite(value) else None


def summary_json(sweep: Sweep) -> dict[str, Any]:
    """The numbers of the report as plain data (what ``--json`` writes to ``report.json``)::

        {"sweep_dir": str, "confidence": 0.95, "interval": "student-t", "swept": [key, ...],
         "groups": [{"label": "cell=gru", "params": {"cell": "gru"}, "runs": [job folder name, ...],
                     "seeds": [seed, ...], "finished": n of runs with metrics,
                     "metrics": {"val/loss": {"mean": m, "n": n, "std": s or null, "half_width": h or null,
                                              "low": m - h or null, "high": m + h or null,
                                              "values": [{"seed": seed, "run": name, "value": v}, ...]}}}],
         "runs": [{"name", "path", "seed", "group" (index into groups), "status", "error", "overrides",
                   "metrics", "wall_seconds"}]}

    ``half_width`` = t_{0.975, n−1} · std / √n; it, ``std``, ``low`` and ``high`` are null when n = 1. Every
    non-finite number is null.
    """
    group_of = {id(run): number for number, group in enumerate(sweep.groups) for run in group.runs}
    groups = []
    for group in sweep.groups:
        metrics: dict[str, Any] = {}
        for metric in metric_order({k for run in group.finished for k in run.metrics}):
            stat = group.interval(metric)
            if stat is None:
                continue
            metrics[metric] = {
                "mean": finite_or_none(stat.mean),
                "n": stat.n,
                "std": finite_or_none(stat.std),
                "half_width": finite_or_none(stat.half_width),
                "low": finite_or_none(stat.low),
                "high": finite_or_none(stat.high),
                "values": [
                    {"seed": seed, "run": name, "value": finite_or_none(v)} for seed, name, v in group.values(metric)
                ],
            }
        groups.append(
            {
                "label": group.label,
                "params": group.params,
                "runs": [run.name for run in group.runs],
                "seeds": [run.seed for run in group.runs],
                "finished": len(group.finished),
                "metrics": metrics,
            }
        )
    runs = [
        {
            "name": run.name,
            "path": str(run.path.resolve()),
            "seed": run.seed,
            "group": group_of[id(run)],
            "status": run.status,
            "error": run.error,
            "overrides": run.overrides,
            "metrics": {k: finite_or_none(v) for k, v in run.metrics.items()},
            "wall_seconds": run.wall_seconds,
        }
        for run in sweep.runs
    ]
    return {
        "sweep_dir": str(sweep.path.resolve()),
        "confidence": CONFIDENCE,
        "interval": "student-t",
        "swept": sweep.keys,
        "groups": groups,
        "runs": runs,
    }


def summary_text(sweep: Sweep) -> str:
    """The groups' means ± 95 % t-intervals as plain text, one metric a line (what the command prints)."""
    lines = [  # no "±" in the header: it appears only where an interval was computed
        f"seqlab: {len(sweep.groups)} group(s) of runs that differ only in seed; each metric: the mean over the "
        "group's finished runs (n), with the half-width of its 95 % Student-t interval when n > 1"
    ]
    for group in sweep.groups:
        seeds = ", ".join(str(run.seed) for run in group.runs)
        lines.append(f"  {group.label}: {len(group.finished)} of {len(group.runs)} runs finished (seeds {seeds})")
        metrics = metric_order({k for run in group.finished for k in run.metrics})
        width = max((len(m) for m in metrics), default=0)
        for metric in metrics:
            stat = group.interval(metric)
            if stat is not None:
                lines.append(f"    {metric:<{width}}  {format_interval(stat)}  (n={stat.n})")
    return "\n".join(lines)


def write_report(sweep_dir: str | Path | Sweep, output: str | Path | None = None) -> Path:
    """Render the report and write it to ``output`` (default ``<sweep_dir>/report.html``); returns the path."""
    sweep = sweep_dir if isinstance(sweep_dir, Sweep) else load_sweep(sweep_dir)
    text = render_report(sweep)
    path = Path(output) if output else sweep.path / "report.html"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m seqlab.report",
        description="Write an HTML report comparing the runs of a sweep; runs that differ only in seed are grouped "
        "and shown as mean ± 95 %% t-interval.",
    )
    parser.add_argument("sweep_dir", help="a sweep folder (outputs/<experiment>/multirun/<date>/<time>) or any run")
    parser.add_argument("-o", "--output", help="where to write the HTML (default: <sweep_dir>/report.html)")
    parser.add_argument("--json", action="store_true", help="also write the groups' numbers to <sweep_dir>/report.json")
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_dir)
        path = write_report(sweep, args.output)
        json_path = None
        if args.json:
            json_path = sweep.path / "report.json"
            json_path.write_text(json.dumps(summary_json(sweep), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except (ReportError, OSError) as err:
        print(f"seqlab: error: report: {err}", file=sys.stderr)
        sys.exit(1)
    print(summary_text(sweep))
    print(f"seqlab: report written to {path}")
    if json_path is not None:
        print(f"seqlab: numbers written to {json_path}")


if __name__ == "__main__":
    main()
