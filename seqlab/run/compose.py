"""Composing ``train.yaml`` with command-line overrides outside a Hydra run, and reading the command line: which
config group options exist (files of seqlab and its plugins, and the components of :mod:`seqlab.schema`), the value
of a ``key=value``, single runs versus sweeps."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from seqlab import schema
from seqlab.paths import conf_dir
from seqlab.plugins import explain_missing_option

# -- pre-flight: from the command line to a composed, checked config ------------------------------------------------
_GROUP_OVERRIDE = re.compile(r"^[+~]?(?P<group>[A-Za-z_][\w/]*)=(?P<value>.*)$")


def group_options(group: str, roots: list[Path]) -> list[str]:
    return sorted({*schema.names(group), *(p.stem for root in roots for p in (root / group).glob("*.yaml"))})


def check_group_overrides(args: list[str], roots: list[Path]) -> str | None:
    """Find a ``group=value`` override whose value is not an option of that config group (before Hydra runs)."""
    for arg in args:
        match = _GROUP_OVERRIDE.match(arg)
        if not match or arg.startswith("~"):
            continue
        group, value = match["group"], match["value"]
        options = [] if group.startswith("hydra/") else group_options(group, roots)
        if not options or value in ("null", "") or re.match(r"^\w+\(", value):  # removal, a sweep like choice(...)
            continue
        for item in value.strip("[]").split(","):  # a list selects several options: callbacks=[default,mine]
            if item not in options:
                missing = f"{group}={item}: no such option in config group '{group}'"
                return explain_missing_option(group, item) or f"{missing}; choose one of: {', '.join(options)}"
    return None


def debug_overrides(args: list[str]) -> list[str]:
    """``debug=NAME`` replaced by the settings of ``conf/debug/NAME.yaml`` where it stands, as if typed there: they
    win over a recipe and lose to the command line's own overrides of the same keys, wherever those stand."""
    given = [a for a in args if a.startswith("debug=")]
    if not given:
        return args
    own = {a.lstrip("+~").split("=", 1)[0] for a in args if "=" in a and not a.startswith("debug=")}
    try:  # the config without debug: a setting under a node the recipe switched off (gradient_flow: null) is skipped
        base = compose_config([a for a in args if not a.startswith("debug=") and "=" in a])
    except Exception:  # the composition below reports what is wrong
        base = None
    switched_off = {key for key in own | set(_settings(given)) if "." in key and base is not None
                    and OmegaConf.select(base, key.rsplit(".", 1)[0], default="") is None}
    expanded: list[str] = []
    for arg in args:
        if not arg.startswith("debug="):
            expanded.append(arg)
            continue
        # a dotted key is a value (set whether or not the config has it: ++); a bare one selects a group's option
        expanded += [f"{'++' if '.' in key else ''}{key}={_override_value(value)}"
                     for key, value in _settings([arg]).items() if key not in own and key not in switched_off]
    return expanded


def _settings(debug_args: list[str]) -> dict[str, Any]:
    """The settings of the ``debug=NAME`` options given, in order (``conf/debug/NAME.yaml``)."""
    import yaml

    settings: dict[str, Any] = {}
    for arg in debug_args:
        path = conf_dir() / "debug" / f"{arg.split('=', 1)[1]}.yaml"
        settings.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return settings


def _override_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    return str(value)


def compose_config(args: list[str], with_hydra: bool = False):
    """Compose ``train.yaml`` with overrides: before Hydra starts (pre-flight), or in a Hydra job (its search path)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    args = debug_overrides(args)
    overrides = [a for a in args if with_hydra or not (a.startswith("hydra.") or a.startswith("hydra/"))]
    if GlobalHydra.instance().is_initialized():
        return compose("train", overrides=overrides, return_hydra_config=with_hydra)
    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            return compose("train", overrides=overrides, return_hydra_config=with_hydra)
    finally:
        GlobalHydra.instance().clear()


def single_run(args: list[str]) -> bool:
    """True for one training run (not a sweep, ``--help``, ``--cfg`` ...: those are Hydra's business)."""
    return not any(a.startswith("-") or a.startswith("hparams_search=") for a in args)


def is_sweep(args: list[str]) -> bool:
    """True for ``-m``/``--multirun`` (not for ``--help``, ``--cfg`` ... which run nothing)."""
    return any(a in ("-m", "--multirun") for a in args) and not any(
        a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--shell-completion", "-sc") for a in args
    )


def explicit_value(args: list[str], key: str) -> str | None:
    """The value of the last ``key=value`` on the command line (quotes removed), or None."""
    given = [a.split("=", 1)[1] for a in args if a.startswith(f"{key}=")]
    return given[-1].strip("'\"") if given else None


@functools.cache
def option_defaults(group: str, choice: str, node: str, roots: tuple[str, ...]) -> dict[str, Any]:
    """What ``group=choice`` alone puts at its node (defaults lists followed, interpolations as written), cached."""
    composed = OmegaConf.select(compose_config([f"{group}={choice}"]), node)
    return OmegaConf.to_container(composed, resolve=False) if composed is not None else {}


#: config groups whose options land at one config node, which a recipe (``+experiment=X``) may fill in
GROUP_NODES = {"cell": "model.cell", "encoder": "model.encoder", "head": "model.head", "optimizer": "optimizer",
               "scheduler": "scheduler", "callbacks": "callbacks"}
