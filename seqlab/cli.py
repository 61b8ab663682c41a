"""The ``seqlab`` command: Hydra-driven training with one-line errors, plus the ``generate`` subcommand."""

from __future__ import annotations

import re
import sys
from pathlib import Path

_GROUP_OVERRIDE = re.compile(r"^[+~]?(?P<group>[A-Za-z_][\w/]*)=(?P<value>.*)$")


def conf_dir() -> Path:
    """The config root: ``seqlab/conf`` inside an installed wheel, ``conf/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if packaged.is_dir() else here.parent / "conf"


def search_dirs() -> list[Path]:
    """Config roots Hydra searches: seqlab's own and every plugin's."""
    from seqlab.plugins import plugin_conf_dirs

    return [conf_dir(), *plugin_conf_dirs()]


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


def check_composes(args: list[str]) -> str | None:
    """Compose the config once before Hydra runs, so a bad override fails fast with one line (single runs only)."""
    if any(a in ("-m", "--multirun") or a.startswith("-") for a in args):
        return None  # sweeps, --help, --cfg ... are Hydra's own business
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.errors import one_line, user_errors

    overrides = [a for a in args if not a.startswith("hydra.") and not a.startswith("hydra/")]
    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            compose("train", overrides=overrides)
    except user_errors() as err:
        return one_line(err)
    finally:
        GlobalHydra.instance().clear()
    return None


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
    from seqlab.plugins import load_plugins

    load_plugins()
    error = check_group_overrides(argv, search_dirs()) or check_composes(argv)
    if error:
        print(f"seqlab: error: {error}", file=sys.stderr)
        sys.exit(2)
    import hydra

    hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(_task)()
