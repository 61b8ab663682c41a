"""The Hydra job and the exit-code policy: :func:`main` runs pre-flight, then Hydra runs :func:`run_job`, which hands
the config to :func:`seqlab.run.train.run`. User errors are one line and exit 1 (2 before Hydra starts), interrupts exit
130/143, a failing sweep job leaves ``error.txt`` and the sweep goes on, and a sweep ends with its summary line."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from seqlab import schema
from seqlab.errors import SIGNAL_EXIT, ConfigError, RunInterrupted, one_line, user_errors
from seqlab.paths import conf_dir
from seqlab.plugins import discover, load_plugins, search_dirs
from seqlab.run import scale
from seqlab.run.compose import check_group_overrides, compose_config, explicit_value, group_options, is_sweep
from seqlab.run.folders import expected_jobs, forget_unstarted_run, job_state, lock_folder, sweep_summary
from seqlab.run.preflight import explain, preflight
from seqlab.run.validation import check_output_dir, validate


def interrupt_message(err: BaseException | None, signal_name: str = "SIGINT") -> str:
    """One line for a signal that the training loop did not turn into a checkpoint."""
    if type(err).__name__ == "ForcedStop":
        return ("interrupted twice (Ctrl+C): stopped at once without saving; the last checkpoint written before "
                "(if any) is in the run's checkpoints/ folder")
    if isinstance(err, RunInterrupted):
        return (f"interrupted by {err.signal_name} during {err.phase}; the run did not finish (no metrics.json): "
                "the same command plus ckpt_path=last finishes it")
    return (f"interrupted by {signal_name} before training (imports, checks, data preparation, model building): "
            "nothing to save")


def exit_on_interrupt(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM outside the training loop and before it (checks, imports, data preparation, model building):
    leave at once with one line and status 130/143. A KeyboardInterrupt there could land in an import (modules left
    half-initialised, a RecursionError later) or reach Lightning's handler (exit 1). Nothing is lost: no checkpoint is
    being written, a half-built data cache is never reused, and a fresh run's empty folder is removed. The training
    loop (:class:`~seqlab.callbacks.reliability.GracefulInterrupt`) and the phases after it have their own handlers."""
    name = signal.Signals(signum).name
    sys.stdout.flush()
    print(f"seqlab: {interrupt_message(None, name)}", file=sys.stderr, flush=True)
    forget_unstarted_run()
    if _SWEEP:  # a job of a sweep that runs in this process (the basic launcher): the sweep ends here
        print_sweep_summary(**_SWEEP)
    os._exit(SIGNAL_EXIT[name])


# a sweep job's folder name (conf/hydra/default.yaml): its overrides, without what debug=NAME added
OmegaConf.register_new_resolver("seqlab_sweep_job", scale.sweep_job_name, replace=True)

#: the sweep this process runs (its folder and expected jobs), for the summary an interrupt prints
_SWEEP: dict[str, Any] = {}


def print_sweep_summary(sweep_dir: Path, argv: list[str]) -> bool:
    """Print the sweep's one-line summary (stderr when a job did not finish); True when every job finished."""
    line, complete = sweep_summary(sweep_dir, expected_jobs(argv))
    print(line, file=sys.stdout if complete else sys.stderr, flush=True)
    return complete


def os_error_message(err: OSError, cfg: DictConfig) -> str | None:
    """One line for a file-system refusal the user can fix (permission, read-only or full disk), naming the path
    (``paths.output_dir`` for a full disk with no file named); None for other OS errors (bugs keep their traceback)."""
    import errno

    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    if full and not err.filename and (folder := OmegaConf.select(cfg, "paths.output_dir", default=None)) is not None:
        return (f"{folder}: no space left on the device while writing the run's files; free some space, or "
                "write elsewhere (hydra.run.dir=...)")
    if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT) or not err.filename:
        return None
    path = Path(str(err.filename))
    cache = os.environ.get("SEQLAB_CACHE_DIR")
    hint = ""
    if ".cache" in path.parts or (cache and str(path).startswith(cache)):
        hint = ("; prepared data is written under paths.cache_dir (SEQLAB_CACHE_DIR): make it writable or point it "
                "elsewhere")
    return f"{path}: {err.strerror or err}{hint}"


def run_job(cfg: DictConfig) -> float | None:
    """One Hydra job: the task function ``hydra.main`` calls. A single run was checked by :func:`preflight`; a sweep
    job is validated here, and when it fails (any exception, or a NaN objective) it leaves ``error.txt`` and returns
    the worst value, so the sweep goes on (:mod:`seqlab.run.scale`; a continued sweep: :func:`start_sweep_job`). A
    single run that fails before training starts leaves no run folder behind."""
    # imported when a job starts, not at pre-flight: a bad override fails before torch and Lightning are loaded
    from seqlab.callbacks.reliability import ForcedStop
    from seqlab.run import train

    load_plugins()  # joblib/submitit workers run jobs in fresh processes that never went through main()
    try:
        if scale.in_multirun():
            skipped, value = start_sweep_job(cfg)
            if skipped:
                return value
            validate(cfg, search_dirs())
            check_output_dir(Path(cfg.paths.output_dir), cfg.paths.get("min_free_mb", 0), key="paths.output_dir")
        value = train.run(cfg)
    except (*user_errors(), OSError) as err:
        message = os_error_message(err, cfg) if isinstance(err, OSError) else one_line(err)
        if message is None:  # an OSError the user cannot fix: a bug keeps its traceback
            raise
        if scale.in_multirun():
            return scale.record_failed_job(message)
        forget_unstarted_run()
        print(f"seqlab: error: {message}", file=sys.stderr, flush=True)
        sys.exit(1)
    except (KeyboardInterrupt, ForcedStop, RunInterrupted) as err:  # interrupts also stop a sweep
        print(f"seqlab: {interrupt_message(err)}", file=sys.stderr, flush=True)
        sys.exit(err.exit_code if isinstance(err, RunInterrupted) else 130)
    except SystemExit as err:  # a run that stopped itself (e.g. a non-finite loss); an interrupt stops the sweep
        if not scale.in_multirun() or err.code in (None, 0, 130, 143):
            raise
        return scale.record_failed_job(f"the run stopped with exit status {err.code} (its message is in the log)")
    except Exception as err:
        if not scale.in_multirun():
            forget_unstarted_run()
            raise
        return scale.record_failed_job(f"{type(err).__name__}: {one_line(err)}", err)
    problem = scale.check_sweep_result(value, cfg.get("optimized_metric")) if scale.in_multirun() else None
    return scale.record_failed_job(problem) if problem else value


def start_sweep_job(cfg: DictConfig) -> tuple[bool, float | None]:
    """Before a sweep job trains: lock its folder, drop a stale ``error.txt``, and in a continued sweep skip a finished
    job or resume its own ``last.ckpt``. Returns ``(skipped, the skipped job's objective from metrics.json)``."""
    job_dir = Path(cfg.paths.output_dir)
    lock_folder(job_dir)
    state = job_state(job_dir)
    if cfg.get("ckpt_path") == "last":
        if state == "finished":
            print(f"seqlab: sweep job {scale.hydra_config().job.num} finished before: skipped ({job_dir})", flush=True)
            metrics = json.loads((job_dir / "metrics.json").read_text(encoding="utf-8"))
            metric = cfg.get("optimized_metric")
            return True, (metrics.get(metric) if metric else None)
        cfg.ckpt_path = str(job_dir / "checkpoints" / "last.ckpt") if state == "resumable" else None
    elif state != "not started" and cfg.get("ckpt_path") is None:
        raise ConfigError(f"{job_dir}: holds a run already; sweep job folders are never shared")
    (job_dir / scale.ERROR_FILE).unlink(missing_ok=True)  # this attempt writes its own, if it fails
    return False, None


def train_help(overrides: list[str]) -> str:
    """Hydra's app help, written by seqlab (faster than Hydra's): the groups and their options, the composed config."""
    roots = search_dirs()
    if error := check_group_overrides(overrides, roots):  # the pre-flight's one line, as for a run
        raise ConfigError(error)
    groups = sorted({p.name for root in roots for p in root.iterdir() if p.is_dir() and p.name != "hydra"}
                    | {g for g, _ in schema.all_components()} | {"callbacks"})
    lines = ["seqlab train [key=value ...] [group=option ...]  (config is powered by Hydra; --hydra-help: Hydra's own)",
             "", "== Configuration groups ==", "Compose your configuration from those groups (group=option)", ""]
    lines += [f"{group}: {', '.join(group_options(group, roots))}" for group in groups]
    lines += ["", "", "== Config ==", "Override anything in the config (foo.bar=value)", ""]
    return "\n".join(lines) + "\n" + OmegaConf.to_yaml(compose_config(overrides))


def main(argv: list[str] | None = None) -> None:
    """``seqlab [train] [overrides]`` / ``python -m seqlab [overrides]``: pre-flight, then Hydra runs the job."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, exit_on_interrupt)
    signal.signal(signal.SIGTERM, exit_on_interrupt)
    discover()  # names and config folders only: a plugin is imported when the run selects one of its options
    try:
        if any(a in ("--help", "-h") for a in argv):
            print(train_help([a for a in argv if a not in ("--help", "-h")]), flush=True)
            return
        argv = preflight(argv)
    except user_errors() as err:
        print(f"seqlab: error: {explain(err, argv)}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *argv]
    if not is_sweep(argv):
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(run_job)()
        return
    code = 0
    _SWEEP.update(sweep_dir=Path(explicit_value(argv, "hydra.sweep.dir") or "."), argv=argv)
    try:
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(run_job)()
    except SystemExit as err:  # an interrupted job stops the sweep
        code = err.code if isinstance(err.code, int) else 1
    complete = print_sweep_summary(**_SWEEP)
    sys.exit(code or (0 if complete else 1))
