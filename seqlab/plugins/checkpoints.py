"""What a checkpoint records of the plugins its run used, and the advice when this environment lacks one (the
checkpoint is untrusted text)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from seqlab.errors import CheckpointError
from seqlab.plugins.discovery import LOCAL_FOLDER, Plugin, discover, load_plugins
from seqlab.registry import REGISTRIES


def plugin_requirements(used: dict[str, str | None]) -> list[dict[str, Any]]:
    """The plugins a run depends on, for the checkpoint: ``used`` maps a kind to the name selected.

    >>> plugin_requirements({"cell": "lstm", "head": "many_to_many", "datamodule": "text_char"})
    []

    A plugin entry reads ``{"plugin": "mgu", "package": "seqlab-mgu", "version": "0.1.0", "provides": {"cell":
    "mgu"}}``; built-ins (owner ``seqlab``) need nothing.
    """
    plugins = discover().plugins
    needed: dict[str, dict[str, Any]] = {}
    for kind, name in used.items():
        if not name or name not in REGISTRIES[kind]:
            continue
        owner = REGISTRIES[kind].owner(name)
        if owner == "seqlab":
            continue
        plugin = plugins.get(owner)
        package, version = (plugin.package, plugin.version) if plugin else (owner, "unknown")
        needed.setdefault(owner, {"plugin": owner, "package": package, "version": version, "provides": {}})
        needed[owner]["provides"][kind] = name
    return list(needed.values())


def require_plugins(requirements: list[dict[str, Any]], source: str) -> None:
    """Check that the plugins a checkpoint records for its model (cells, heads, encoders) are loaded; say what to
    install if not: a :class:`~seqlab.errors.CheckpointError`, ``ckpt_path=run.ckpt: needs cell 'mgu' from plugin
    'mgu'; install it: pip install seqlab-mgu==0.1.0``."""
    plugins = load_plugins()
    for requirement in requirements:
        for kind, name in requirement["provides"].items():
            if kind in ("cell", "head", "encoder") and name not in REGISTRIES[kind]:
                raise CheckpointError(f"{source}: {missing_plugin_advice(kind, name, requirement, plugins)}")


_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")  # a PyPI distribution / plugin name
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,62}$")  # a PEP 440 version's characters
_LOCAL_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,98}$")  # a local plugin's file or folder name


def _printable(value: Any, limit: int = 60) -> str:
    """``value`` as text without control characters (no terminal escape sequences), cut to ``limit``."""
    text = "".join(ch for ch in str(value) if ch.isprintable())
    return text if len(text) <= limit else text[:limit] + "…"


def missing_plugin_advice(kind: str, name: str, requirement: dict[str, Any], plugins: dict[str, Plugin]) -> str:
    """What to do about a plugin a checkpoint needs and this environment lacks. The checkpoint is untrusted text:
    an install command is shown only for a plain ``name==version``; anything else is "unreadable plugin metadata"
    (never echoed as advice: a tampered file could carry ``--extra-index-url …`` or terminal escapes)."""
    plugin_name, package, version = (requirement.get(k) for k in ("plugin", "package", "version"))
    where = f"{kind} '{_printable(name)}' from plugin '{_printable(plugin_name)}'"
    loaded = plugins.get(plugin_name) if isinstance(plugin_name, str) else None
    if loaded is not None and loaded.error:
        return f"needs {where}, which failed to load: {loaded.error}"
    if version == "local":
        file = Path(str(package)).name
        if not _LOCAL_FILE.match(file):
            return f"needs {where}: unreadable plugin metadata"
        return (f"needs {where}, a local plugin ({file}, in the {LOCAL_FOLDER}/ folder of the run that saved it); "
                f"copy {file} into ./{LOCAL_FOLDER}/ here")
    if not (isinstance(package, str) and _NAME.match(package)):
        return f"needs {where}: unreadable plugin metadata"
    if version in ("unknown", ""):
        return f"needs {where}; install it: pip install {package}"
    if not (isinstance(version, str) and _VERSION.match(version)):
        return f"needs {where}: unreadable plugin metadata"
    return f"needs {where}; install it: pip install {package}=={version}"
