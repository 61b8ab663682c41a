"""Sweeps and many devices: what a job does differently inside a Hydra multirun or a distributed launch (docs/scale.md).

>>> per_device_batch_size(64, world_size=4)
16
>>> worst_value("maximize")
-inf
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from seqlab.registry import ConfigError

log = logging.getLogger("seqlab")

#: the file a failed sweep job leaves in its folder (the error and its traceback)
ERROR_FILE = "error.txt"


def sweep_job_name(override_dirname: str) -> str:
    """A sweep job's name from ``override_dirname`` without ``debug=NAME``'s ``++key=value``: ``cell=gru``."""
    return ",".join(item for item in override_dirname.split(",") if item and not item.startswith("++"))


def hydra_config() -> Any | None:
    """The running job's ``hydra`` config, or None outside a Hydra job (tests, notebooks)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def in_multirun() -> bool:
    """True inside a job of ``python -m seqlab -m ...`` (any sweeper, any launcher)."""
    hydra = hydra_config()
    return hydra is not None and hydra.mode is not None and hydra.mode.name == "MULTIRUN"


def is_rank_zero() -> bool:
    """True in the process that writes files (global rank 0), also before a Trainer exists (``RANK``, SLURM's)."""
    from pytorch_lightning.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def worst_value(direction: str | list[str] | None) -> float | list[float]:
    """The worst objective for a sweeper's ``direction`` (``minimize`` → +inf, ``maximize`` → -inf; a list for
    multi-objective Optuna). Optuna records such a trial as complete with the worst value: NaN would abort the
    study, an exception would count against ``max_failure_rate``."""
    if isinstance(direction, (list, tuple)) or (direction is not None and not isinstance(direction, str)):
        return [float(worst_value(str(d))) for d in direction]
    return -math.inf if str(direction).lower() == "maximize" else math.inf


def record_failed_job(message: str, error: BaseException | None = None) -> float | list[float]:
    """Write the job's ``error.txt`` (message, traceback if unexpected), print one line, return :func:`worst_value`."""
    hydra = hydra_config()
    return write_failed_job(Path(hydra.runtime.output_dir), message, hydra.job.num, list(hydra.overrides.task),
                            hydra.sweeper.get("direction"), error)


def write_failed_job(job_dir: Path, message: str, num: int, overrides: list[str], direction: Any,
                     error: BaseException | None = None) -> float | list[float]:
    """:func:`record_failed_job` for a job given by folder, number and overrides (also a launcher's dead job)."""
    if is_rank_zero():
        details = "".join(traceback.format_exception(error)) if error is not None else ""
        job_dir.mkdir(parents=True, exist_ok=True)
        from seqlab.paths import write_atomic

        write_atomic(job_dir / ERROR_FILE, f"{message}\noverrides: {' '.join(overrides)}\n\n{details}")
        print(
            f"seqlab: error: sweep job {num} failed: {message} (details in {job_dir / ERROR_FILE}); the sweep goes on",
            file=sys.stderr,
            flush=True,
        )
    return worst_value(direction)


def check_sweep_result(value: float | None, optimized_metric: str | None) -> str | None:
    """Why a finished sweep job's objective is unusable (NaN or inf; none while optimising), or None."""
    hydra = hydra_config()
    optimizing = hydra is not None and hydra.sweeper.get("direction") is not None
    if value is None and optimizing and optimized_metric:
        return f"optimized_metric={optimized_metric}: the run logged no such metric (see its metrics.json)"
    if isinstance(value, (int, float)) and not math.isfinite(value):
        return f"optimized_metric={optimized_metric} is {value} (the training diverged)"
    return None


def wandb_names(group: str | None, name: str | None, experiment_name: str) -> dict[str, str | None]:
    """Resolve ``logger.wandb.group`` / ``logger.wandb.name`` set to ``auto``.

    In a multirun: group = ``<experiment_name>-<date>_<time>`` (of ``hydra.sweep.dir``: the sweep's runs together),
    name = the job's overrides (``cell=gru,optimizer.lr=0.01``). In a single run: no group, name = ``experiment_name``.
    """
    hydra = hydra_config()
    multirun = in_multirun()
    if group == "auto":
        group = f"{experiment_name}-{'_'.join(Path(str(hydra.sweep.dir)).parts[-2:])}" if multirun else None
    if name == "auto":
        name = (sweep_job_name(hydra.job.override_dirname) or f"job{hydra.job.num}") if multirun else experiment_name
    return {"group": group, "name": name}


def per_device_batch_size(global_batch_size: int, world_size: int) -> int:
    """Each process's share of the global ``data.batch_size`` (the same optimisation on 1 or N devices)."""
    if world_size <= 1:
        return global_batch_size
    if global_batch_size % world_size:
        raise ConfigError(
            f"data.batch_size={global_batch_size} is the global batch size and must divide evenly among "
            f"{world_size} processes (devices × nodes); use a multiple of {world_size}"
        )
    return global_batch_size // world_size


def launched_externally() -> bool:
    """True when torchrun or SLURM started one process per device (Lightning then launches nothing itself)."""
    if "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ:
        return True
    return int(os.environ.get("SLURM_NTASKS", "1")) > 1


def strategy_for_sweep(trainer_options: dict[str, Any]) -> dict[str, Any]:
    """Inside a local multirun, ``trainer.strategy=ddp`` becomes ``ddp_spawn``.

    Lightning's ``ddp`` starts each extra rank by re-running the command line (in a multirun: the whole sweep);
    ``ddp_spawn`` starts them from inside the job. Under SLURM or torchrun the ranks exist already."""
    if trainer_options.get("strategy") == "ddp" and in_multirun() and not launched_externally():
        log.info("multirun: trainer.strategy=ddp runs as ddp_spawn so that the ranks do not re-run the sweep")
        return {**trainer_options, "strategy": "ddp_spawn"}
    return trainer_options


def build_trainer(trainer_options: dict[str, Any], **kwargs: Any) -> Any:
    """``pl.Trainer(**trainer_options, **kwargs)``; options Lightning rejects become a ConfigError naming them."""
    import difflib
    import inspect

    import pytorch_lightning as pl
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    accepted = set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}
    for key in trainer_options:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f" (did you mean trainer.{close[0]}?)" if close else ""
            raise ConfigError(f"trainer.{key}: not an option of pytorch_lightning.Trainer{hint}")
    kwargs["callbacks"] = console_callbacks(trainer_options, list(kwargs.get("callbacks") or []))
    try:
        return pl.Trainer(**trainer_options, **kwargs)
    except (TypeError, ValueError, MisconfigurationException) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not isinstance(err, MisconfigurationException):  # a value Lightning refuses, e.g. trainer.precision=foo
            named = [k for k in trainer_options if re.search(rf"\b{re.escape(k)}\b", message)] or list(trainer_options)
            chosen = ", ".join(f"trainer.{k}={trainer_options[k]!r}" for k in named[:3])
            raise ConfigError(f"{chosen}: {message}") from None
        chosen = ", ".join(f"trainer.{k}={trainer_options.get(k)}" for k in ("accelerator", "devices", "strategy"))
        hint = ""
        if str(trainer_options.get("accelerator")) in ("gpu", "cuda"):
            import torch

            if not torch.cuda.is_available():
                hint = "; this machine has no usable GPU: use trainer=cpu, or trainer=ddp_cpu for DDP on the CPU"
        raise ConfigError(f"{chosen}: {message}{hint}") from None


def console_callbacks(trainer_options: dict[str, Any], callbacks: list[Any]) -> list[Any]:
    """``callbacks`` plus what the console shows (:mod:`seqlab.display.console`): the run's lines (``RunConsole``),
    the whole-run bar (``RunProgressBar``) unless disabled or another bar is given, and on the quiet console the model
    summary as a table in ``config.log``, not on screen (:mod:`seqlab.display.progress`)."""
    from pytorch_lightning.callbacks import ModelSummary, ProgressBar

    from seqlab.display import console
    from seqlab.display.progress import RunConsole, RunProgressBar

    if not any(isinstance(c, RunConsole) for c in callbacks):
        callbacks.append(RunConsole())
    if trainer_options.get("enable_progress_bar", True) and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(RunProgressBar())
    quiet = not console.state["verbose"]
    if quiet and trainer_options.get("enable_model_summary", True) and not any(
        isinstance(c, ModelSummary) for c in callbacks
    ):
        callbacks.append(ModelSummary(max_depth=1))
    return callbacks
