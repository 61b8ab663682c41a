"""The summary of an encoder comparison sweep (``+experiment=why_recurrence``): one row per encoder, one column per
data set, each cell the data's headline metric (over seeds: mean ± 95 % t-interval, n), as ``comparison.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from seqlab.report.read import read_run
from seqlab.stats import interval

#: the headline metric of each task, and whether higher is better
HEADLINE = {
    "classification": ("val/accuracy", True),
    "language_model": ("val/bpc", False),
    "tagging": ("val/entity_f1", True),
    "translation": ("val/exact_match", True),
}
#: data name → task, for the built-in datamodules (others: guessed from the metrics present)
DATA_TASKS = {"tweets": "classification", "text_char": "language_model", "text_word": "language_model",
              "tagging": "tagging", "parallel": "translation"}


def read_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job folder of the sweep → ``{"encoder", "data", "metrics"}`` (metrics empty for a failed job)."""
    jobs = []
    for config_file in sorted(sweep_dir.glob("*/.hydra/config.yaml")):
        run = read_run(config_file.parent.parent)
        encoder = str(run.config.get("model.encoder.name", "recurrent"))
        if encoder == "recurrent":
            encoder = f"recurrent ({run.config.get('model.cell.name')})"
        jobs.append({"encoder": encoder, "data": str(run.config.get("data.name")), "metrics": run.metrics})
    return jobs


def headline(data: str, metrics: dict[str, float]) -> tuple[str, bool]:
    task = DATA_TASKS.get(data) or next((t for t, (m, _) in HEADLINE.items() if m in metrics), "language_model")
    return HEADLINE[task]


def markdown_table(jobs: list[dict[str, Any]]) -> str:
    """Encoders × data sets, the best value (mean) of each column in bold; ``failed`` where no job wrote metrics;
    ``mean ± half-width (n=…)`` where a pair ran with several seeds.

    >>> print(markdown_table([{"encoder": "a", "data": "tweets", "metrics": {"val/accuracy": 0.5}},
    ...                       {"encoder": "b", "data": "tweets", "metrics": {"val/accuracy": 0.9}}]))
    | encoder | tweets: val/accuracy ↑ |
    |---|---|
    | a | 0.5000 |
    | b | **0.9000** |
    """
    datas = list(dict.fromkeys(job["data"] for job in jobs))
    encoders = list(dict.fromkeys(job["encoder"] for job in jobs))
    metric_of = {data: headline(data, next(j["metrics"] for j in jobs if j["data"] == data)) for data in datas}
    # every job's value of an (encoder, data) pair — several when the sweep also ran several seeds; None: failed
    runs: dict[tuple[str, str], list[Any]] = {}
    for job in jobs:
        runs.setdefault((job["encoder"], job["data"]), []).append(job["metrics"].get(metric_of[job["data"]][0]))
    values = {pair: [float(v) for v in vs if v is not None] for pair, vs in runs.items()}
    means = {pair: interval(vs) for pair, vs in values.items() if vs}
    best = {
        data: (max if higher else min)((stat.mean for (_, d), stat in means.items() if d == data), default=None)
        for data, (_, higher) in metric_of.items()
    }
    header = [f"{d}: {m} {'↑' if higher else '↓'}" for d, (m, higher) in metric_of.items()]
    lines = ["| encoder | " + " | ".join(header) + " |", "|---|" + "---|" * len(datas)]
    for encoder in encoders:
        cells = []
        for data in datas:
            stat = means.get((encoder, data))
            if stat is None:
                cells.append("failed")
                continue
            text = stat.text(".4f")
            if len(runs[encoder, data]) > 1:  # several seeds: say how many gave a value (failed ones did not)
                text += f" (n={stat.n})"
            cells.append(f"**{text}**" if stat.mean == best[data] else text)
        lines.append(f"| {encoder} | " + " | ".join(cells) + " |")
    if any(stat.n > 1 for stat in means.values()):
        lines.append("")
        lines.append("Mean over seeds ± half-width of the 95 % Student-t interval (n − 1 degrees of freedom); n seeds.")
    return "\n".join(lines)


class EncoderComparisonSummary(Callback):
    """Hydra callback (``hydra.callbacks``): when the multirun ends, write ``comparison.md`` (the table of
    :func:`markdown_table`) into the sweep folder and print it."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = read_jobs(sweep_dir) if sweep_dir.is_dir() else []
        if not jobs:
            return
        table = markdown_table(jobs)
        (sweep_dir / "comparison.md").write_text(table + "\n", encoding="utf-8")
        print(f"\n{table}\nseqlab: comparison written to {sweep_dir / 'comparison.md'}")
