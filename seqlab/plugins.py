"""Plugin discovery: entry points in the ``seqlab.plugins`` group and modules in ``./plugins/``.

A plugin is a module that registers cells, heads or datamodules (``seqlab.registry``) when imported, and may
ship a Hydra config folder (``conf/`` beside the module, or named by a module attribute ``SEQLAB_CONF_DIR``) that
joins Hydra's search path, so its options are selectable by name (``cell=mgu``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

log = logging.getLogger("seqlab.plugins")
ENTRY_POINT_GROUP = "seqlab.plugins"


@dataclass
class PluginInfo:
    name: str
    version: str
    module: ModuleType | None = None
    conf_dir: Path | None = None
    error: str | None = None
    added: dict[str, list[str]] = field(default_factory=dict)


_loaded: dict[str, PluginInfo] | None = None


def _conf_dir_of(module: ModuleType) -> Path | None:
    explicit = getattr(module, "SEQLAB_CONF_DIR", None)
    if explicit:
        return Path(explicit)
    origin = Path(module.__file__ or "").resolve()
    for folder in (origin.parent / "conf", origin.parent.parent / "conf"):
        if folder.is_dir():
            return folder
    return None


def load_plugins(local_dir: Path | None = None) -> dict[str, PluginInfo]:
    """Import every plugin once; a plugin that fails is reported by name and skipped."""
    global _loaded
    if _loaded is not None:
        return _loaded
    import seqlab.cells  # noqa: F401  built-ins first, so collisions name the plugin
    import seqlab.data  # noqa: F401
    import seqlab.heads  # noqa: F401

    _loaded = {}
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        version = ep.dist.version if ep.dist else "unknown"
        _loaded[ep.name] = _import(ep.name, version, lambda ep=ep: ep.load())
    folder = local_dir or Path.cwd() / "plugins"
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            _loaded.setdefault(path.stem, _import(path.stem, "local", lambda p=path: _import_file(p)))
    return _loaded


def _import_file(path: Path) -> ModuleType:
    name = f"seqlab_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import(name: str, version: str, load) -> PluginInfo:
    from seqlab.registry import CELLS, DATAMODULES, HEADS

    before = {r.kind: set(r.names()) for r in (CELLS, HEADS, DATAMODULES)}
    try:
        loaded = load()
    except Exception as err:
        message = f"{type(err).__name__}: {err}".splitlines()[0]
        print(f"seqlab: plugin '{name}' failed to load and is skipped ({message})", file=sys.stderr)
        return PluginInfo(name, version, error=message)
    module = (
        loaded if isinstance(loaded, ModuleType) else sys.modules.get(getattr(loaded, "__module__", ""), None)
    )
    added = {r.kind: sorted(set(r.names()) - before[r.kind]) for r in (CELLS, HEADS, DATAMODULES)}
    return PluginInfo(name, version, module, _conf_dir_of(module) if module else None, None, added)


def plugin_conf_dirs() -> list[Path]:
    return [info.conf_dir for info in load_plugins().values() if info.conf_dir is not None]


def main() -> None:
    """``seqlab plugins``: list each plugin, its version, and what it adds."""
    plugins = load_plugins()
    if not plugins:
        print("no seqlab plugins installed (entry-point group 'seqlab.plugins', or ./plugins/*.py)")
        return
    for name, info in plugins.items():
        if info.error:
            print(f"{name} {info.version}: FAILED ({info.error})")
            continue
        print(f"{name} {info.version}")
        for kind, names in info.added.items():
            if names:
                print(f"  {kind}s: {', '.join(names)}")
        if info.conf_dir:
            options = sorted(
                str(p.relative_to(info.conf_dir).with_suffix("")) for p in info.conf_dir.rglob("*.yaml")
            )
            print(f"  config options: {', '.join(options)}")


if __name__ == "__main__":
    main()
