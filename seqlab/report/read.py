"""Reading a sweep's run folders: what each job was given, how it ended and what it logged (:class:`Run`)."""

from __future__ import annotations

import contextlib
import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the key that repeats an experiment; runs whose configs differ only in it (and in IGNORED_PREFIXES) are grouped
SEED_KEY = "seed"
#: config keys (and subtrees) that name where a run lives or resumes from, not what it is: left out when grouping
IGNORED_PREFIXES = ("paths", "ckpt_path")


class ReportError(ValueError):
    """A sweep folder the report cannot read; the message names the folder and what is wrong."""


@dataclass
class Run:
    """One job folder of a sweep: what it was given, how it ended, and what it logged."""

    path: Path
    overrides: dict[str, str]
    status: str  # ok | failed | incomplete
    #: the composed config (``.hydra/config.yaml``, unresolved) as dotted keys; empty when the run has none
    config: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    wall_seconds: float | None = None
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    gradient_flow: dict[str, Path] = field(default_factory=dict)
    #: the forecast-vs-truth plots of ``data=timeseries`` runs (``forecast/*.png``, ForecastCallback)
    forecasts: dict[str, Path] = field(default_factory=dict)
    samples: str = ""
    #: how plots and tables name the run: its swept parameters (``cell=gru``), set by ``load_sweep``
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
        kept = {k: v for k, v in source.items() if not ignored_key(k)}
        return json.dumps(kept, sort_keys=True, default=str)


def ignored_key(key: str) -> bool:
    """Left out when grouping: the seed, and where a run lives (:data:`IGNORED_PREFIXES`)."""
    return key == SEED_KEY or any(key == prefix or key.startswith(prefix + ".") for prefix in IGNORED_PREFIXES)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"cell": {"name": "gru"}}}`` → ``{"model.cell.name": "gru"}`` (lists stay values)."""
    if not isinstance(tree, dict):  # a config file that is not a mapping
        return {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(value, name) if isinstance(value, dict) and value else {name: value})
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
                with contextlib.suppress(ValueError):  # a value that is not a number is left out
                    curves.setdefault(key, []).append((float(step), float(value)))
    return curves


def read_run(path: Path) -> Run:
    """Everything the report shows about one run folder; missing files leave their part empty."""
    overrides_file = path / ".hydra" / "overrides.yaml"
    given = read_yaml(overrides_file) if overrides_file.is_file() else []  # "+model.cell=gru" → model.cell: gru
    overrides = {key.lstrip("+~"): value for key, _, value in (override.partition("=") for override in given)}
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
    if end_file is not None and config_file.is_file():  # written when the job starts
        run.wall_seconds = max(0.0, end_file.stat().st_mtime - config_file.stat().st_mtime)
    if (path / "csv" / "metrics.csv").is_file():
        run.curves = read_curves(path / "csv" / "metrics.csv")
    run.gradient_flow, run.forecasts = pngs(path / "gradient_flow"), pngs(path / "forecast")
    if (path / "samples" / "final.txt").is_file():
        run.samples = (path / "samples" / "final.txt").read_text(encoding="utf-8", errors="replace")
    return run


def pngs(folder: Path) -> dict[str, Path]:
    """The PNG files under ``folder`` by their path inside it (none when it does not exist)."""
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*.png"))}


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

