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
                return f"{group}={item}: no such option in config group '{group}'; choose one of: {', '.join(options)}"
    return None


def _task(cfg) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from seqlab.errors import one_line, user_errors

    try:
        from seqlab import train

        return train.run(cfg)
    except user_errors() as err:
        message = f"seqlab: error: {one_line(err)}"
        print(message, file=sys.stderr, flush=True)
        if HydraConfig.get().mode.name == "MULTIRUN":
            raise SystemExit(1) from None
        sys.exit(1)


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
    error = check_group_overrides(argv, search_dirs())
    if error:
        print(f"seqlab: error: {error}", file=sys.stderr)
        sys.exit(2)
    import hydra

    hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(_task)()
