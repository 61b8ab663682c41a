"""The schema's building blocks: :func:`option` (a field with bounds and help), :func:`component` (registers a class
of option fields as the options of ``group=name``) and :func:`check_options`; :mod:`seqlab.schema` gathers them."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal

#: (group, option) → its :class:`Component`
SCHEMAS: dict[tuple[str, str], Component] = {}


def option(default: Any, *, ge: float | None = None, gt: float | None = None, lt: float | None = None,
           le: float | None = None, help: str = "") -> Any:
    """A dataclass field with bounds and a one-line help (a list's default is written as a tuple: immutable)."""
    return field(default=default, metadata={"ge": ge, "gt": gt, "lt": lt, "le": le, "help": help})


@dataclass(frozen=True)
class Component:
    group: str
    name: str
    options: type
    #: the node the option fills (``model.cell``), its ``# @package``; None: the group's own name (``data``)
    package: str | None
    #: keys every node of the option carries (``name``, ``_target_``, ``_partial_``)
    fixed: dict[str, Any]

    def defaults(self) -> dict[str, Any]:
        return {**self.fixed, **dataclasses.asdict(self.options())}

    def fields(self) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in fields(self.options)}


def component(group: str, name: str, *, package: str | None, target: str | None = None, partial: bool = False,
              named: bool | str = True):
    """Make a class of :func:`option` fields a dataclass and register it as the options of ``group=name``.
    ``named``: the node carries ``name: <name>`` (a text: another name, as ``encoder=bidirectional`` is ``name:
    recurrent``); ``target``: its ``_target_`` (optimizers)."""

    def add(cls: type) -> type:
        cls = dataclass(cls)
        fixed: dict[str, Any] = {"name": named if isinstance(named, str) else name} if named else {}
        if target:
            fixed["_target_"] = target
        if partial:
            fixed["_partial_"] = True
        key = (group, name)
        if key in SCHEMAS and SCHEMAS[key].options.__qualname__ != cls.__qualname__:
            first = SCHEMAS[key].options.__qualname__
            raise ValueError(f"{group}={name} is defined twice: {first}, {cls.__qualname__}")
        SCHEMAS[key] = Component(group, name, cls, package, fixed)
        return cls

    return add


# -- validation -----------------------------------------------------------------------------------------------------
def describe(hint: Any, f: dataclasses.Field) -> str:
    """What a field accepts, in words (``a number >= 0``, ``last, mean or max``, ``null or an integer > 0``)."""
    members = [a for a in typing.get_args(hint) if a is not type(None)] if _is_union(hint) else [hint]
    words = []
    for member in members:
        if typing.get_origin(member) is Literal:
            words += [str(c).lower() if isinstance(c, bool) else str(c) for c in typing.get_args(member)]
            continue
        if member is bool:
            words += ["true", "false"]
            continue
        word = {bool: "true or false", int: "an integer", float: "a number", str: "a text"}.get(member, "a list")
        bounds = [f"{op} {f.metadata[k]:g}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                  if f.metadata.get(k) is not None and member in (int, float)]
        words.append(word + (" " + " and ".join(bounds) if bounds else ""))
    if _is_union(hint) and type(None) in typing.get_args(hint):
        words.insert(0, "null")
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _accepts(hint: Any, value: Any) -> bool:
    if _is_union(hint):
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is Literal:
        return any(value == c and type(value) is type(c) for c in typing.get_args(hint))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(hint) is list or hint is list:
        return isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig"
    return isinstance(value, hint)


def _in_bounds(value: Any, f: dataclasses.Field) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return True
    m = f.metadata
    return (isinstance(value, int) or math.isfinite(value)) and not (
        (m.get("ge") is not None and value < m["ge"]) or (m.get("gt") is not None and value <= m["gt"])
        or (m.get("le") is not None and value > m["le"]) or (m.get("lt") is not None and value >= m["lt"]))


def unknown_key(where: str, key: str, known: list[str], what: str) -> str:
    """``model.cell.forget_bais: cell 'lstm' has no option 'forget_bais' (did you mean forget_bias?); …``"""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{where}.{key}: {what} has no option '{key}'{hint}; its options are: {', '.join(known) or 'none'}"


def check_options(options: type, node: Any, where: str, what: str, fixed: set[str] = frozenset()) -> str | None:
    """The first key of ``node`` the dataclass ``options`` lacks, or value of the wrong type or bounds, as one line."""
    known, hints = {f.name: f for f in fields(options)}, typing.get_type_hints(options)
    for key in node:
        if key not in known and key not in fixed:
            return unknown_key(where, str(key), sorted(known), what)
    for key, f in known.items():
        if key not in node:
            continue
        try:
            value = node[key]
        except Exception:  # an interpolation that resolves only in a run (${hydra:runtime.output_dir}): Hydra's
            continue
        if not _accepts(hints[key], value) or not _in_bounds(value, f):
            shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:40]}…"
            help_ = f" ({f.metadata['help']})" if f.metadata.get("help") else ""
            return f"{where}.{key}={shown}: expected {describe(hints[key], f)}{help_}"
    return None

