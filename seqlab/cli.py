"""The ``seqlab`` command: Hydra-driven training with one-line errors, plus the ``generate`` subcommand."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from omegaconf import OmegaConf

from seqlab.paths import conf_dir
from seqlab.plugins import search_dirs

_GROUP_OVERRIDE = re.compile(r"^[+~]?(?P<group>[A-Za-z_][\w/]*)=(?P<value>.*)$")


def group_options(group: str, roots: list[Path]) -> list[str]:
    names = set()
    for root in roots:
        folder = root / group
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def check_group_overrides(args: list[str], roots: list[Path]) -> str | None:
    """Find a ``group=value`` override whose value is not an option of that config group (before Hydra runs)."""
    for arg in args:
        match = _GROUP_OVERRIDE.match(arg)
        if not match or arg.startswith("~"):
            continue
        group, value = match["group"], match["value"]
        if group.startswith("hydra/") or not any((root / group).is_dir() for root in roots):
            continue
        options = group_options(group, roots)
        if value in ("null", "") or re.match(
            r"^\w+\(", value
        ):  # removal or a sweep function like choice(...)
            continue
        for item in value.split(","):
            if item not in options:
                from seqlab.plugins import explain_missing_option  # "plugin X failed to load" beats "no such option"

                missing = f"{group}={item}: no such option in config group '{group}'"
                return explain_missing_option(group, item) or f"{missing}; choose one of: {', '.join(options)}"
    return None


def compose_config(args: list[str], with_hydra: bool = False):
    """Compose ``train.yaml`` with command-line overrides, outside a Hydra run (for checks before it starts)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = [a for a in args if with_hydra or not (a.startswith("hydra.") or a.startswith("hydra/"))]
    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            return compose("train", overrides=overrides, return_hydra_config=with_hydra)
    finally:
        GlobalHydra.instance().clear()


def single_run(args: list[str]) -> bool:
    """True for one training run (not a sweep, ``--help``, ``--cfg`` ...: those are Hydra's business)."""
    return not any(a.startswith("-") or a.startswith("hparams_search=") for a in args)


def compose_checked(args: list[str]):
    """Compose and validate the config of a single run (with its ``hydra`` node); user errors raise."""
    from seqlab.config import check_output_dir, validate

    cfg = compose_config(args, with_hydra=True)
    validate(cfg, search_dirs())
    check_output_dir(Path(cfg.hydra.run.dir), cfg.paths.min_free_mb)
    return cfg


def check_composes(args: list[str]) -> str | None:
    """Compose and validate the config before Hydra runs, so a bad override or value fails fast with one line,
    before torch or the data are loaded (single runs; each job of a sweep is validated when it starts)."""
    if not single_run(args):
        return None
    from seqlab.errors import user_errors

    try:
        compose_checked(args)
    except user_errors() as err:
        return explain(err, args)
    return None


def explain(err: BaseException, args: list[str]) -> str:
    """:func:`~seqlab.errors.one_line`, plus a hint where Hydra's own message does not say what to do."""
    from seqlab.errors import one_line

    message = one_line(err)
    if "LexerNoViableAlt" in message or "mismatched input" in message:
        odd = next((a for a in args if not a.isascii() or " " in a), None)
        if odd and "=" in odd:
            key, value = odd.split("=", 1)
            message += f"; quote a value with spaces or non-ASCII characters: {key}='{value}'"
    return message


def explicit_value(args: list[str], key: str) -> str | None:
    """The value of the last ``key=value`` on the command line (quotes removed), or None."""
    given = [a.split("=", 1)[1] for a in args if a.startswith(f"{key}=")]
    return given[-1].strip("'\"") if given else None


def resume_overrides(args: list[str]) -> list[str]:
    """``ckpt_path=last`` → the ``last.ckpt`` of the run folder given (``hydra.run.dir=D``), else of the
    experiment's newest run (see :func:`seqlab.runs.find_last_checkpoint`); a checkpoint inside a run folder
    resumes in that folder (same CSV/TensorBoard logs, same wandb run)."""
    from seqlab.runs import find_last_checkpoint, override, run_dir_of

    value = explicit_value(args, "ckpt_path")
    if value in (None, "", "null") or not single_run(args):
        return args
    if value == "last":
        explicit_dir = explicit_value(args, "hydra.run.dir")
        run_dir = compose_config(args, with_hydra=True).hydra.run.dir if explicit_dir else None
        ckpt = find_last_checkpoint(compose_config(args).experiment_name, run_dir)
    else:
        ckpt = Path(value).expanduser().resolve()
    args = [a for a in args if not a.startswith("ckpt_path=")] + [override("ckpt_path", ckpt)]
    run_dir = run_dir_of(ckpt)
    if run_dir is not None and explicit_value(args, "hydra.run.dir") is None:
        args.append(override("hydra.run.dir", run_dir))
        runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
        if runs and explicit_value(args, "logger.wandb.id") is None:
            args.append(f"logger.wandb.id={runs[-1].name.rsplit('-', 1)[-1]}")
    return args


def prepare_run_dir(args: list[str]) -> list[str]:
    """Check a resume and claim the run folder, before Hydra writes anything (single runs).

    A resume (``ckpt_path`` given) is compared with the composed model and datamodule first; a mismatch raises one
    line naming both sides, and nothing is written. Resuming inside the checkpoint's own run folder writes Hydra's
    record of the resume to ``.hydra/resume-N`` (the run's original ``.hydra/*.yaml`` are kept as written).
    Otherwise the run claims a folder no other run holds (:func:`seqlab.runs.claim_run_dir`): the configured
    ``hydra.run.dir``, or the same name with ``-1``, ``-2``, ... when it is taken. DDP ranks started by Lightning,
    torchrun or SLURM use the folder their launcher gave them."""
    from seqlab.runs import claim_marker, claim_resume_record, claim_run_dir, override, run_dir_of
    from seqlab.scale import launched_externally

    cfg = compose_checked(args)
    run_dir = Path(cfg.hydra.run.dir).absolute()
    ckpt_value = explicit_value(args, "ckpt_path")
    resumes_here = False
    if ckpt_value not in (None, "", "null"):
        from seqlab.runs import check_resume, resume_message
        from seqlab.train import model_options

        ckpt = Path(ckpt_value)
        config = OmegaConf.to_container(cfg.model, resolve=True)
        checkpoint = check_resume(ckpt, model_options(config), cfg.data.get("name"))
        resumes_here = run_dir_of(ckpt) is not None and run_dir_of(ckpt).resolve() == run_dir.resolve()
        print(resume_message(ckpt, checkpoint, resumes_here), flush=True)
    if launched_externally():
        return args
    if resumes_here:
        if cfg.hydra.output_subdir is not None:
            args = [*args, override("hydra.output_subdir", claim_resume_record(run_dir))]
        return args
    claimed = claim_run_dir(run_dir, claim_marker(cfg.hydra.output_subdir))
    if claimed != run_dir:
        print(f"seqlab: {run_dir} holds another run; this run writes to {claimed}", file=sys.stderr, flush=True)
    return [a for a in args if not a.startswith("hydra.run.dir=")] + [override("hydra.run.dir", claimed)]


def interrupt_message(err: BaseException | None) -> str:
    """One line for a Ctrl+C that the training loop did not turn into a checkpoint."""
    if type(err).__name__ == "ForcedStop":
        return ("interrupted twice (Ctrl+C): stopped at once without saving; the last checkpoint written before "
                "(if any) is in the run's checkpoints/ folder")
    return ("interrupted (Ctrl+C) outside the training loop (data preparation, model building or testing): "
            "no new checkpoint was written")


def exit_on_interrupt(signum: int, frame: object) -> None:
    """SIGINT outside the training loop (checks, imports, data preparation, model building, testing): leave at
    once with one line and status 130. Raising KeyboardInterrupt there instead can land inside an import and leave
    half-initialised modules (a RecursionError traceback later), or reach Lightning's handler (exit 1). Nothing is
    lost: no checkpoint is being written, and a half-built data cache is never reused. The training loop installs
    its own handler (:class:`~seqlab.callbacks.reliability.GracefulInterrupt`) and restores this one after."""
    sys.stdout.flush()
    print(f"seqlab: {interrupt_message(None)}", file=sys.stderr, flush=True)
    os._exit(130)


def os_error_message(err: OSError) -> str | None:
    """One line for a file-system refusal the user can fix (permission, read-only or full disk), naming the path;
    None for other OS errors (bugs keep their traceback)."""
    import errno

    if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT) or not err.filename:
        return None
    path = Path(str(err.filename))
    cache = os.environ.get("SEQLAB_CACHE_DIR")
    hint = ""
    if ".cache" in path.parts or (cache and str(path).startswith(cache)):
        hint = ("; prepared data is written under paths.cache_dir (SEQLAB_CACHE_DIR): make it writable or point it "
                "elsewhere")
    return f"{path}: {err.strerror or err}{hint}"


def _task(cfg) -> float | None:
    """One Hydra job. In a multirun a failing job (any exception, or a NaN objective) leaves ``error.txt`` in its
    folder and returns the worst value, so the sweep goes on (see :mod:`seqlab.scale`)."""
    from seqlab import scale
    from seqlab.callbacks.reliability import ForcedStop
    from seqlab.errors import one_line, user_errors
    from seqlab.plugins import load_plugins

    load_plugins()  # joblib/submitit workers run jobs in fresh processes that never went through main()
    try:
        from seqlab import train

        value = train.run(cfg)
    except user_errors() as err:
        if scale.in_multirun():
            return scale.record_failed_job(one_line(err))
        print(f"seqlab: error: {one_line(err)}", file=sys.stderr, flush=True)
        sys.exit(1)
    except (KeyboardInterrupt, ForcedStop) as err:  # interrupts also stop a sweep
        print(f"seqlab: {interrupt_message(err)}", file=sys.stderr, flush=True)
        sys.exit(130)
    except OSError as err:
        message = os_error_message(err)
        if message is None:
            raise
        if scale.in_multirun():
            return scale.record_failed_job(message)
        print(f"seqlab: error: {message}", file=sys.stderr, flush=True)
        sys.exit(1)
    except SystemExit as err:  # a run that stopped itself (e.g. a non-finite loss); an interrupt stops the sweep
        if not scale.in_multirun() or err.code in (None, 0, 130, 143):
            raise
        return scale.record_failed_job(f"the run stopped with exit status {err.code} (its message is in the log)")
    except Exception as err:
        if not scale.in_multirun():
            raise
        return scale.record_failed_job(f"{type(err).__name__}: {one_line(err)}", err)
    problem = scale.check_sweep_result(value, cfg.get("optimized_metric")) if scale.in_multirun() else None
    return scale.record_failed_job(problem) if problem else value


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["generate"]:
        from seqlab.generate import main as generate_main

        sys.argv = [f"{sys.argv[0]} generate", *argv[1:]]
        return generate_main()
    if argv[:1] == ["plugins"]:
        from seqlab.plugins import main as plugins_main

        return plugins_main()
    import signal

    signal.signal(signal.SIGINT, exit_on_interrupt)
    from seqlab.errors import user_errors
    from seqlab.plugins import load_plugins

    load_plugins()
    error = check_group_overrides(argv, search_dirs())
    if error is None:
        try:
            argv = resume_overrides(argv)
            error = check_composes(argv)
            if error is None and single_run(argv):
                argv = prepare_run_dir(argv)
        except user_errors() as err:
            error = explain(err, argv)
    if error:
        print(f"seqlab: error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *argv]
    import hydra

    hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(_task)()
