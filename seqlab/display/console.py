"""What a run prints: a quiet console by default, everything with ``verbose=true``, the full log in ``config.log``.

By default the console shows the run's own lines and bar (:mod:`seqlab.display.progress`) and one results table;
everything else logged goes to ``config.log`` only, and third-party noise a user cannot act on is filtered where
it is made. :class:`ConsoleCallback` (``conf/hydra/default.yaml``) sets this up when a job starts, after Hydra has
configured logging. This module imports nothing heavy.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

#: third-party warnings filtered at the source (exact messages, as regular expressions of the whole message)
NOISE_WARNINGS = (
    # Lightning 2.6 on torch 2.13 (pytorch_lightning/utilities/_pytree.py), twice per run
    re.escape("`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and "
              "treespec.is_leaf()` instead."),
    # advice on IterableDatasets with __len__ under multi-process loading: seqlab's (data.mode=stream) runs in-process
    r"Length of IterableDataset <seqlab\.data\.batching\.StreamBatches object at 0x[0-9a-f]+> was reported to be "
    r"\d+\(when accessing len\(dataloader\)\), but \d+ samples have been fetched\. ",
    re.escape("Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading (when "
              "num_workers > 1), `__len__` could be inaccurate if each worker is not configured independently to "
              "avoid having duplicate data."),
    # Lightning's advice for small CPU runs, which seqlab's data (in-memory Arrow) does not need
    r"The '(train|val|test|predict)_dataloader' does not have many workers which may be a bottleneck\. Consider "
    r"increasing the value of the `num_workers` argument` to `num_workers=\d+` in the `DataLoader` to improve "
    r"performance\.",
)
#: third-party log lines filtered at the source: Lightning's product tips ("💡 Tip: … try installing litlogger …")
NOISE_LOG_PREFIXES = ("💡 Tip: ",)
#: third-party loggers whose info lines are noise on the console (alembic, which optuna imports: "setup plugin …")
NOISY_LOGGERS = ("alembic",)
#: loggers whose own handlers :func:`route_third_party_logs` drops
THIRD_PARTY_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning", "lightning.pytorch", "lightning.fabric")

log = logging.getLogger("seqlab.display.console")

#: this process's console mode: ``verbose=true`` sets it when a job starts
state: dict[str, Any] = {"verbose": False}


def _drop_noise(record: logging.LogRecord) -> bool:
    """A logging filter (``addFilter`` adds one function once): drops :data:`NOISE_LOG_PREFIXES`."""
    return not str(record.msg).startswith(NOISE_LOG_PREFIXES)


def _not_shown_twice(record: logging.LogRecord) -> bool:
    """Drops records the progress bar has already printed (``extra={"on_console": True}``) from console handlers."""
    return not getattr(record, "on_console", False)


def quiet_third_party(verbose: bool = False) -> None:
    """Filter :data:`NOISE_WARNINGS` and :data:`NOISE_LOG_PREFIXES` where they are made (no-op with ``verbose``)."""
    if verbose:
        return
    for message in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_drop_noise)


def route_third_party_logs() -> None:
    """Make Lightning's records reach the root logger's handlers (and so ``config.log``): imported before Hydra
    configures logging (by a plugin), Lightning gives its logger a handler of its own and stops propagation."""
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True


def configure(verbose: bool) -> None:
    """Set this process's console up for a training job (logging must be configured already, as Hydra does)."""
    state["verbose"] = verbose
    quiet_third_party(verbose)
    route_third_party_logs()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):  # console
            handler.setLevel(logging.NOTSET if verbose else logging.WARNING)
            handler.addFilter(_not_shown_twice)
    # wandb's ~30 lines per run (history, summary) give way to :func:`wandb_line`; a user's own WANDB_SILENT is kept
    if os.environ.get("SEQLAB_WANDB_SILENT") == os.environ.get("WANDB_SILENT"):
        if verbose:
            os.environ.pop("WANDB_SILENT", None)
            os.environ.pop("SEQLAB_WANDB_SILENT", None)
        else:
            os.environ["WANDB_SILENT"] = os.environ["SEQLAB_WANDB_SILENT"] = "true"


def shown(message: str, *args: Any) -> None:
    """Log a line the progress bar printed already: into ``config.log``, not a second time on the console."""
    log.info(message, *args, extra={"on_console": True})


class ConsoleCallback(Callback):
    """Hydra callback (``hydra.callbacks.console``): the quiet console of :func:`configure`, per job."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        quiet_third_party(bool(config.get("verbose", False)))  # before the sweeper (optuna) is imported

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        configure(bool(config.get("verbose", False)))


# -- the results: one table, val and test side by side ----------------------------------------------------------------
#: rows first in this order, the rest sorted by name
FIRST_METRICS = ("loss", "perplexity", "bpc", "accuracy", "exact_match", "chrf", "bleu", "entity_f1", "macro_f1",
                 "mse")


def bits_label(tokenizer_kind: str | None) -> str | None:
    """The name of ``bpc`` (bits per token) for a tokenizer: bits per character only for character models."""
    return {"char": "bpc", "word": "bits/word", "bpe": "bits/token"}.get(tokenizer_kind or "char")


def metric_label(name: str, tokenizer_kind: str | None) -> str:
    """``bpc`` (alone or at the end of a name, ``baseline/ngram_bpc``) named by :func:`bits_label`."""
    if name == "bpc" or name.endswith("_bpc"):
        return name[: -len("bpc")] + (bits_label(tokenizer_kind) or "bpc")
    return name


def results_rows(results: dict[str, Any], tokenizer_kind: str | None = None) -> list[tuple[str, str, str]]:
    """``{"val/loss": 1.2, "test/loss": 1.3, …}`` → ``[("loss", "1.2000", "1.3000"), …]`` (``""`` where a split
    has no value); ``bpc`` named for the tokenizer. Other keys (``baseline/…``) are rows of their own."""
    table: dict[str, dict[str, float]] = {}
    for key, value in results.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or key.startswith("test_weights"):
            continue
        split, _, name = key.partition("/")
        if split in ("val", "test") and name:
            table.setdefault(name, {})[split] = float(value)
            continue
        # other figures name their split inside: baseline/ngram_val_perplexity → row baseline/ngram_perplexity
        for split in ("val", "test"):
            if f"_{split}_" in key:
                table.setdefault(key.replace(f"_{split}_", "_", 1), {})[split] = float(value)
                break
        else:
            table.setdefault(key, {})["val"] = float(value)
    order = [n for n in FIRST_METRICS if n in table] + sorted(n for n in table if n not in FIRST_METRICS)
    return [(metric_label(n, tokenizer_kind), format_value(table[n].get("val")), format_value(table[n].get("test")))
            for n in order]


def format_value(value: float | None) -> str:
    if value is None:
        return ""
    if math.isfinite(value) and value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def results_table(results: dict[str, Any], output_dir: Path, tokenizer_kind: str | None = None) -> str:
    """The end-of-run block: the table, which weights the test figures come from, the run folder, wandb's line."""
    rows = results_rows(results, tokenizer_kind)
    width = max([len("metric"), *(len(r[0]) for r in rows)])
    value_width = max([10, *(len(v) for r in rows for v in r[1:])])
    has_test = any(r[2] for r in rows)

    def line(name: str, val: str, test: str) -> str:
        return f"  {name:<{width}}  {val:>{value_width}}" + (f"  {test:>{value_width}}" if has_test else "")

    lines = ["", "seqlab: results", line("metric", "val", "test"), *(line(*row) for row in rows)]
    if any(name == "bleu" for name, _, _ in rows):
        lines.append("  note: BLEU counts word 4-grams; on short targets (a date, a word or two) it stays near 0 "
                     "until outputs are exact: read exact_match and chrf")
    if results.get("test_weights"):
        step = results.get("test_weights_step")
        at = f" (step {int(step):,})" if isinstance(step, (int, float)) else ""
        lines.append(f"  test figures from the {results['test_weights']} weights{at}")
    lines.append(f"  run folder: {shorter(output_dir)} (full log: config.log)")
    if names := [n for n in ("best.ckpt", "last.ckpt") if (output_dir / "checkpoints" / n).is_file()]:
        lines.append(f"  checkpoints: {', '.join(names)} (for seqlab predict|generate|score)")
    if line := wandb_line(output_dir):
        lines.append(line)
    return "\n".join(lines)


def wandb_line(output_dir: Path) -> str | None:
    """One line for the run's wandb record when wandb's own summary was silenced (quiet console)."""
    if state["verbose"] or os.environ.get("SEQLAB_WANDB_SILENT") != os.environ.get("WANDB_SILENT"):
        return None
    runs = sorted((output_dir / "wandb").glob("*run-*"), key=lambda p: p.stat().st_mtime)
    if not runs:
        return None
    if runs[-1].name.startswith("offline-run-"):
        return f"  wandb: offline run; upload it with: wandb sync {shorter(runs[-1])}"
    return f"  wandb: synced ({shorter(runs[-1])})"


def shorter(path: Path) -> Path:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return Path(path).absolute().relative_to(Path.cwd())
    except ValueError:
        return Path(path)


def tokenizer_of_run(output_dir: Path) -> str | None:
    """The run's ``data.tokenizer`` from its composed config (``char`` where the data has no such option)."""
    path = output_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    from omegaconf import OmegaConf

    try:
        data = OmegaConf.load(path).get("data") or {}
        return str(data.get("tokenizer") or "char")
    except Exception:  # a config this code cannot read changes only a label
        return None


def print_results(results: dict[str, Any], output_dir: Path) -> None:
    table = results_table(results, output_dir, tokenizer_of_run(output_dir))
    print(table, flush=True)
    shown("%s", table)
