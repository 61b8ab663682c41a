"""Name → class registries for cells, heads, datamodules and encoders: what ``cell=NAME`` and friends select."""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from seqlab.errors import ConfigError

__all__ = ["CELLS", "DATAMODULES", "ENCODERS", "HEADS", "ConfigError", "Registry", "registering_as"]

#: the plugin whose import is running: registrations without an explicit ``owner`` are attributed to it
_current_owner: contextvars.ContextVar[str] = contextvars.ContextVar("seqlab_registry_owner", default="seqlab")
#: plugins that failed to load (name → one-line error), named when an unknown option is asked for
FAILED_PLUGINS: dict[str, str] = {}


class Registry:
    """A named collection of classes. Built-ins and plugins register the same way; names never collide silently.

    >>> cells = Registry("cell")
    >>> @cells.register("mine")
    ... class Mine: ...
    >>> cells.get("mine") is Mine
    True
    """

    def __init__(self, kind: str, builtins: str | None = None):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._owners: dict[str, str] = {}
        #: the package whose import registers the built-ins; imported on first use, so start-up stays light
        self._builtins = builtins

    def _load_builtins(self) -> None:
        if self._builtins is not None:
            module, self._builtins = self._builtins, None
            importlib.import_module(module)

    def register(self, name: str, obj: Any = None, *, owner: str | None = None) -> Callable:
        """Register ``obj`` under ``name`` (usable as a decorator). A name taken by another owner is refused.
        ``owner``: the plugin being loaded (:func:`registering_as`), else ``seqlab``."""
        owner = owner or _current_owner.get()
        if owner != "seqlab":
            self._load_builtins()  # so a plugin's name that collides with a built-in is caught here

        def add(target: Any) -> Any:
            if name in self._entries and self._entries[name] is not target:
                raise ConfigError(
                    f"{self.kind} '{name}' from {owner} collides with the {self.kind} '{name}' of "
                    f"{self._owners[name]}; rename one of them"
                )
            self._entries[name] = target
            self._owners[name] = owner
            return target

        return add(obj) if obj is not None else add

    def get(self, name: str) -> Any:
        self._load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            failed = ""
            if name in FAILED_PLUGINS:
                failed = f"; plugin '{name}' failed to load ({FAILED_PLUGINS[name]})"
            elif FAILED_PLUGINS:
                failed = f"; plugins that failed to load: {', '.join(FAILED_PLUGINS)} (see `seqlab plugins`)"
            raise ConfigError(
                f"unknown {self.kind} '{name}'; choose one of: {', '.join(sorted(self._entries))}{failed}"
            ) from None

    def owner(self, name: str) -> str:
        self._load_builtins()
        return self._owners[name]

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._entries


CELLS = Registry("cell", builtins="seqlab.cells")
HEADS = Registry("head", builtins="seqlab.heads")
DATAMODULES = Registry("datamodule", builtins="seqlab.data.builtins")
ENCODERS = Registry("encoder", builtins="seqlab.encoders")
REGISTRIES = {registry.kind: registry for registry in (CELLS, HEADS, DATAMODULES, ENCODERS)}


@contextlib.contextmanager
def registering_as(owner: str) -> Iterator[None]:
    """Attribute registrations inside the block to ``owner`` (a plugin); if the block raises, undo them all.
    Built-ins are registered first: they stay seqlab's even if the plugin imports ``seqlab.cells``."""
    for registry in REGISTRIES.values():
        registry._load_builtins()
    saved = [(registry, dict(registry._entries), dict(registry._owners)) for registry in REGISTRIES.values()]
    token = _current_owner.set(owner)
    try:
        yield
    except BaseException:
        for registry, entries, owners in saved:
            registry._entries, registry._owners = entries, owners
        raise
    finally:
        _current_owner.reset(token)
