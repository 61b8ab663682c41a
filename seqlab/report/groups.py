"""Runs grouped over seeds (mean ± 95 % Student-t interval per metric), the sweep read once, JSON and text summaries."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.report.read import SEED_KEY, ReportError, Run, find_run_dirs, ignored_key, read_run, swept_keys
from seqlab.stats import Interval, interval

#: metric names (substrings) where lower is better; every other metric is taken as higher-is-better
LOWER_IS_BETTER = ("loss", "perplexity", "bpc", "error", "wer", "cer")
CONFIDENCE = 0.95


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
        names = sorted({k for c in configs for k in c if not ignored_key(k)})
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


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in LOWER_IS_BETTER)


def best_value(metric: str, values: Iterable[float]) -> float | None:
    """The best finite value of ``metric`` (the lowest where :func:`lower_is_better`), or None."""
    finite = [value for value in values if math.isfinite(value)]
    return (min if lower_is_better(metric) else max)(finite) if finite else None


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


def finite_or_none(value: float | None) -> float | None:
    """JSON has no nan/inf: a non-finite number (a diverged run) is written as null."""
    return float(value) if value is not None and math.isfinite(value) else None


def summary_json(sweep: Sweep) -> dict[str, Any]:
    """The numbers of the report as plain data, what ``--json`` writes to ``report.json`` (its keys, one by one:
    docs/scale.md); every non-finite number is null."""
    group_of = {id(run): number for number, group in enumerate(sweep.groups) for run in group.runs}
    groups = []
    for group in sweep.groups:
        metrics: dict[str, Any] = {}
        for metric in metric_order({k for run in group.finished for k in run.metrics}):
            stat = group.interval(metric)
            spread = {key: finite_or_none(getattr(stat, key)) for key in ("std", "half_width", "low", "high")}
            values = [{"seed": seed, "run": name, "value": finite_or_none(v)} for seed, name, v in group.values(metric)]
            metrics[metric] = {"mean": finite_or_none(stat.mean), "n": stat.n, **spread, "values": values}
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
            lines.append(f"    {metric:<{width}}  {stat.text()}  (n={stat.n})")
    return "\n".join(lines)

