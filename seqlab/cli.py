"""The ``seqlab`` command: Hydra-driven training with one-line errors, plus the ``generate`` subcommand."""

from __future__ import annotations

import re
import sys
from pathlib import Path

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


def check_composes(args: list[str]) -> str | None:
    """Compose and validate the config before Hydra runs, so a bad override or value fails fast with one line,
    before torch or the data are loaded (single runs; each job of a sweep is validated when it starts)."""
    if any(a.startswith("-") or a.startswith("hparams_search=") for a in args):
        return None  # sweeps (-m, or a search preset that sweeps by itself), --help, --cfg ... are Hydra's business
    from seqlab.config import check_output_dir, validate
    from seqlab.errors import one_line, user_errors

    try:
        cfg = compose_config(args, with_hydra=True)
        validate(cfg, search_dirs())
        check_output_dir(Path(cfg.hydra.run.dir), cfg.paths.min_free_mb)
    except user_errors() as err:
        return one_line(err)
    return None


def resume_overrides(args: list[str]) -> list[str]:
    """``ckpt_path=last`` → the newest ``last.ckpt`` of the experiment; a checkpoint inside a run folder resumes in
    that folder (same CSV/TensorBoard logs, same wandb run)."""
    from seqlab.errors import ConfigError

    given = [a for a in args if a.startswith("ckpt_path=")]
    if not given or any(a.startswith("-") for a in args):
        return args
    value = given[-1].split("=", 1)[1]
    if value in ("", "null"):
        return args
    if value == "last":
        name = compose_config(args).experiment_name
        found = sorted((Path("outputs") / name).rglob("checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise ConfigError(f"ckpt_path=last: no outputs/{name}/**/checkpoints/last.ckpt to resume from")
        ckpt = found[-1].resolve()
    else:
        ckpt = Path(value).expanduser().resolve()
    args = [a for a in args if not a.startswith("ckpt_path=")] + [f"ckpt_path={ckpt}"]
    run_dir = ckpt.parent.parent
    if (run_dir / ".hydra").is_dir() and not any(a.startswith("hydra.run.dir=") for a in args):
        args.append(f"hydra.run.dir={run_dir}")
        runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
        if runs and not any(a.startswith("logger.wandb.id=") for a in args):
            args.append(f"logger.wandb.id={runs[-1].name.rsplit('-', 1)[-1]}")
    return args


def _task(cfg) -> float | None:
    """One Hydra job. In a multirun a failing job (any exception, or a NaN objective) leaves ``error.txt`` in its
    folder and returns the worst value, so the sweep goes on (see :mod:`seqlab.scale`)."""
    from seqlab import scale
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
    from seqlab.errors import ConfigError
    from seqlab.plugins import load_plugins

    load_plugins()
    error = check_group_overrides(argv, search_dirs())
    if error is None:
        try:
            argv = resume_overrides(argv)
        except ConfigError as err:
            error = str(err)
    error = error or check_composes(argv)
    if error:
        print(f"seqlab: error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *argv]
    import hydra

    hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(_task)()
