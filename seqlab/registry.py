"""Name → class registries for cells, heads and datamodules: what ``cell=NAME`` and friends select."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
    """A user-facing configuration problem. The CLI prints its message as one line, without a traceback."""


class Registry:
    """A named collection of classes. Built-ins and plugins register the same way; names never collide silently.

    >>> cells = Registry("cell")
    >>> @cells.register("mine")
    ... class Mine: ...
    >>> cells.get("mine") is Mine
    True
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._owners: dict[str, str] = {}

    def register(self, name: str, obj: Any = None, *, owner: str = "seqlab") -> Callable:
        """Register ``obj`` under ``name`` (usable as a decorator). A name taken by another owner is refused."""

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
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} '{name}'; choose one of: {', '.join(sorted(self._entries))}"
            ) from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


CELLS = Registry("cell")
HEADS = Registry("head")
DATAMODULES = Registry("datamodule")
