"""Finding plugins (entry points, ``./plugins``) and their config folders without importing them, then importing
them, each failure contained and named (see :mod:`seqlab.plugins`)."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError
from seqlab.paths import conf_dir
from seqlab.registry import FAILED_PLUGINS, REGISTRIES, registering_as
from seqlab.schema import all_components

ENTRY_POINT_GROUP = "seqlab.plugins"
LOCAL_FOLDER = "plugins"
#: registry kinds as the checkpoint metadata and the listing name them
KINDS = ("cell", "head", "datamodule", "encoder")
#: config groups whose options name a registered class (``name:``) and pass their other keys to its constructor
CONSTRUCTED_GROUPS = {"cell": "cell", "head": "head", "data": "datamodule", "encoder": "encoder"}


@dataclass
class Plugin:
    """One plugin as found: what to install to get it, what it added, or why it failed.

    ``name`` is the entry-point name (or the local module's name) and owns what the plugin registers;
    ``package`` is the distribution to ``pip install`` (``seqlab-mgu``), or the path of a local module.
    """

    name: str
    package: str
    version: str
    location: Path | None = None
    conf_dir: Path | None = None
    error: str | None = None
    added: dict[str, list[str]] = field(default_factory=dict)
    #: imports the plugin: the entry point's ``load``, or the import of a local module
    load: Callable[[], Any] | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        """Where it comes from: ``seqlab-mgu 0.1.0``, or ``./plugins/janet.py`` for a local plugin."""
        return self.package if self.version == "local" else f"{self.package} {self.version}"


@dataclass
class _Found:
    """Everything discovery found, in load order. ``local_conf`` is ``plugins/conf`` (used unless it collides)."""

    local_conf: Path
    plugins: dict[str, Plugin] = field(default_factory=dict)
    local_conf_error: str | None = None
    conf_owners: dict[str, str] = field(default_factory=dict)  # "group/option" → who provides it
    claimed_dirs: set[Path] = field(default_factory=set)
    loaded: bool = False
    group_packages: dict[str, str | None] = field(default_factory=dict)  # group → the ``@package`` its options use


_found: _Found | None = None


def config_options(conf_dir: Path | None) -> list[str]:
    """``group/option`` for every YAML file under ``conf_dir`` (``cell/mgu`` for ``conf/cell/mgu.yaml``)."""
    if conf_dir is None or not conf_dir.is_dir():
        return []
    return sorted(p.relative_to(conf_dir).with_suffix("").as_posix() for p in conf_dir.rglob("*.yaml"))


def package_header(path: Path) -> str | None:
    """The ``# @package X`` of a config file, read as Hydra does: only from the lines before any other line."""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if match := re.match(r"^#\s*@package\s+(\S+)", line):
            return match[1]
        if line and not re.match(r"^#\s*@", line):  # blank lines and other header keys are read past
            return None
    return None


def seqlab_options() -> list[str]:
    """``group/option`` for seqlab's own options: its YAML files and the components of :mod:`seqlab.schema`."""
    from seqlab.schema.callbacks import GROUP

    return sorted({*config_options(conf_dir()), *(f"{g}/{n}" for g, n in all_components()),
                   *(f"callbacks/{n}" for n in GROUP)})


def group_packages(conf_root: Path) -> dict[str, str | None]:
    """For each config group of seqlab whose options agree, the ``@package`` they use (None: the default)."""
    headers: dict[str, set[str | None]] = {}
    for option in config_options(conf_root):
        headers.setdefault(option.rpartition("/")[0], set()).add(package_header(conf_root / f"{option}.yaml"))
    for (group, _), comp in all_components().items():
        headers.setdefault(group, set()).add(comp.package)
    headers.setdefault("callbacks", set()).add(None)  # seqlab.schema.callbacks: the group's default package
    return {group: found.pop() for group, found in headers.items() if len(found) == 1}


def discover(local_dir: Path | None = None) -> _Found:
    """Find the plugins and claim their config folders, without importing any plugin (pre-flight stays fast): names
    from entry points and ``./plugins``, options from their ``conf/`` folders. A folder that shadows an option or
    lacks the group's ``# @package`` line marks its plugin failed here; imports happen in :func:`load_plugins`."""
    global _found
    if _found is not None:
        return _found
    folder = (local_dir or Path.cwd() / LOCAL_FOLDER).resolve()
    found = _Found(folder / "conf", conf_owners=dict.fromkeys(seqlab_options(), "seqlab"),
                   group_packages=group_packages(conf_dir()))
    for plugin in _installed() + _local(folder):
        if plugin.name in found.plugins:
            plugin.error = f"the name is taken by plugin '{plugin.name}' from {found.plugins[plugin.name].package}"
            found.plugins[f"{plugin.name} ({plugin.package})"] = plugin
            continue
        found.plugins[plugin.name] = plugin
        try:
            _claim_options(plugin.conf_dir, f"plugin '{plugin.name}'", found)
        except ConfigError as err:
            _failed(plugin, err)
    try:
        _claim_options(found.local_conf, f"the local folder {_shown(found.local_conf)}", found)
    except ConfigError as err:
        found.local_conf_error = str(err)
    _found = found
    return found


def load_plugins(local_dir: Path | None = None, report: bool = True) -> dict[str, Plugin]:
    """Find and import every plugin once per process (later calls return the same result).

    ``local_dir`` defaults to ``./plugins``; ``report`` prints each failure to stderr in one line (on rank 0 only)."""
    found = discover(local_dir)
    if found.loaded:
        return found.plugins
    found.loaded = True
    for plugin in found.plugins.values():
        if plugin.error is None:
            _load(plugin)
    if found.local_conf_error is None:
        try:
            _check_folder(found.local_conf, f"the local folder {_shown(found.local_conf)}")
        except ConfigError as err:
            found.local_conf_error = str(err)
    if report and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        skipped = [f"plugin {_describe(p)} failed to load and is skipped: {p.error}" for p in found.plugins.values()
                   if p.error]
        if found.local_conf_error:
            skipped.append(f"config folder {_shown(found.local_conf)} is skipped: {found.local_conf_error}")
        for line in skipped:
            print(f"seqlab: {line}", file=sys.stderr)
    return found.plugins


def load_plugins_for(choices: dict[str, str]) -> None:
    """Import the plugins whose options the run selects (``cell=mgu``): a failure is one line before anything runs."""
    found = discover()
    used = {g: c for g, c in choices.items() if found.conf_owners.get(f"{g}/{c}", "seqlab") != "seqlab"}
    if not used:
        return
    load_plugins()
    for group, choice in used.items():
        if problem := explain_missing_option(group, choice):
            raise ConfigError(problem)


def _installed() -> list[Plugin]:
    from importlib.metadata import entry_points

    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        package, version = (ep.dist.name, ep.dist.version) if ep.dist else (ep.module.split(".")[0], "unknown")
        try:  # where the package is, without importing it: a plugin that fails to import still names its options
            top = importlib.util.find_spec(ep.module.split(".")[0])
        except (ImportError, ValueError):
            top = None
        folder = Path(top.origin).parent if top and top.origin else None
        conf = folder / "conf" if folder and top.submodule_search_locations and (folder / "conf").is_dir() else None
        found.append(Plugin(ep.name, package, version, folder, conf, load=ep.load))
    return found


def _local(folder: Path) -> list[Plugin]:
    """``plugins/<name>.py`` and ``plugins/<name>/__init__.py``, imported as top-level modules from ``folder``, which
    is appended to ``sys.path`` (DDP's processes import them too), never prepended (no shadowing an installed one)."""
    if not folder.is_dir():
        return []
    modules = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    packages = sorted(p.parent for p in folder.glob("*/__init__.py"))
    if (modules or packages) and str(folder) not in sys.path:
        sys.path.append(str(folder))
    paths = sorted(modules + packages, key=lambda p: p.stem)
    return [Plugin(p.stem, _shown(p), "local", p, p / "conf" if (p / "conf").is_dir() else None,
                   load=functools.partial(_import_local, p)) for p in paths]


def _import_local(path: Path) -> Any:
    name = path.stem
    module = importlib.import_module(name)
    origin = Path(module.__file__ or "").resolve()
    if origin not in (path.resolve(), (path / "__init__.py").resolve()):
        raise ConfigError(f"the module name '{name}' is taken by {origin}; rename {_shown(path)}")
    return module


def _failed(plugin: Plugin, err: BaseException) -> None:
    plugin.error = _error_line(err, plugin.location)
    FAILED_PLUGINS[plugin.name] = plugin.error


def _load(plugin: Plugin) -> None:
    """Import one plugin inside :func:`registering_as`, so its registrations are its own, or all undone."""
    try:
        with registering_as(plugin.name):
            before = {kind: set(registry.names()) for kind, registry in REGISTRIES.items()}
            loaded = plugin.load()
            if inspect.isfunction(loaded):
                loaded()
            _check_folder(plugin.conf_dir, f"plugin '{plugin.name}'")
    except (Exception, SystemExit, KeyboardInterrupt) as err:  # a plugin calling sys.exit() must not end seqlab
        _failed(plugin, err)
        return
    plugin.added = {kind: sorted(set(registry.names()) - before[kind]) for kind, registry in REGISTRIES.items()}


def _claim_options(conf_dir: Path | None, owner: str, found: _Found) -> None:
    """Refuse a config folder whose option exists already (Hydra uses the first found) or lacks its ``# @package``."""
    if conf_dir is None or conf_dir in found.claimed_dirs:
        return  # no config, or a folder shared by plugins of one package, checked once
    options = config_options(conf_dir)
    for option in options:
        if option in found.conf_owners:
            raise ConfigError(
                f"config {option}.yaml of {owner} collides with {option} of {found.conf_owners[option]}; "
                "rename one of them"
            )
        group = option.rpartition("/")[0]
        expected = found.group_packages.get(group)
        if group in found.group_packages and package_header(conf_dir / f"{option}.yaml") != expected:
            first_line = f"'# @package {expected}'" if expected else "no '# @package' line"
            raise ConfigError(
                f"config {option}.yaml of {owner} must start with {first_line}, as seqlab's {group} options do"
            )
    for option in options:
        _read_yaml(conf_dir / f"{option}.yaml", option, owner)
    found.conf_owners.update(dict.fromkeys(options, owner))
    found.claimed_dirs.add(conf_dir)


def _read_yaml(path: Path, option: str, owner: str) -> Any:
    """A plugin's config file as data; one line naming the file and the line when it is not valid YAML."""
    import yaml
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(OmegaConf.load(path)) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", err)
        raise ConfigError(f"config {option}.yaml of {owner} is not valid YAML{where}: {problem}") from None


def _check_folder(conf_dir: Path | None, owner: str) -> None:
    """Refuse, at load, a config key the registered class's constructor does not take (``betta: 1.0`` for ``beta``)."""
    for option in config_options(conf_dir):
        values = _read_yaml(conf_dir / f"{option}.yaml", option, owner)
        kind = CONSTRUCTED_GROUPS.get(option.rpartition("/")[0])
        if kind is None or not isinstance(values, dict) or not isinstance(values.get("name"), str):
            continue
        if values["name"] not in REGISTRIES[kind]:
            continue  # a name registered elsewhere (or nowhere): selecting it reports that
        cls = REGISTRIES[kind].get(values["name"])
        parameters = inspect.signature(cls.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        if unknown := sorted(set(values) - set(parameters) - {"name", "_target_", "causal"}):
            accepted = [p for p in parameters if p not in ("self", "input_size", "hidden_size", "ctx")]
            raise ConfigError(
                f"config {option}.yaml of {owner}: '{unknown[0]}' is not an option of {cls.__name__} "
                f"(its options: {', '.join(accepted) or 'none'})"
            )


def _error_line(err: BaseException, location: Path | None) -> str:
    """``Type: message (file:line)``: the innermost frame inside the plugin, when there is one."""
    if isinstance(err, ConfigError):
        return str(err).splitlines()[0]
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if isinstance(err, SystemExit):
        message = f"the plugin called sys.exit({err.code!r}) while being imported"
    line = f"{type(err).__name__}: {message}" if message else type(err).__name__
    if location is not None:
        if inside := [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).is_relative_to(location)]:
            line += f" ({_shown(Path(inside[-1].filename))}:{inside[-1].lineno})"
    return line


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return f"./{path.resolve().relative_to(Path.cwd().resolve()).as_posix()}"
    except ValueError:
        return str(path)


def _describe(plugin: Plugin) -> str:
    return f"'{plugin.name}' ({plugin.origin})"


def plugin_conf_dirs() -> list[Path]:
    """Hydra's extra search path: config folders of plugins not known to have failed, and ``plugins/conf``."""
    found = discover()
    dirs = [p.conf_dir for p in found.plugins.values() if p.conf_dir is not None and p.error is None]
    if found.local_conf_error is None and found.local_conf.is_dir():
        dirs.append(found.local_conf)
    return list(dict.fromkeys(dirs))


def search_dirs() -> list[Path]:
    """Config roots Hydra searches: seqlab's own and every plugin's."""
    return [conf_dir(), *plugin_conf_dirs()]


def explain_missing_option(group: str, value: str) -> str | None:
    """Why ``group=value`` is not an option, when a plugin that would provide it failed to load."""
    found = discover()
    option = f"{group}/{value}"
    for plugin in found.plugins.values():
        if plugin.error and (option in config_options(plugin.conf_dir) or plugin.name == value):
            return f"{group}={value}: plugin {_describe(plugin)} failed to load: {plugin.error}"
    if found.local_conf_error and option in config_options(found.local_conf):
        return f"{group}={value}: config folder {_shown(found.local_conf)} is skipped: {found.local_conf_error}"
    return None
