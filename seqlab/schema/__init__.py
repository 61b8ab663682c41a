"""The options of every component, each defined once: name, type, default, bounds.

A component's options are a dataclass registered with :func:`component` (``seqlab.schema.model`` holds cells,
encoders, heads, optimizers and schedulers; ``seqlab.schema.trainer`` reads the Trainer's options from Lightning).
Everything else derives from it: the group option in Hydra's ConfigStore (no YAML copy of the defaults), pre-flight
validation (:func:`check_node`) and ``seqlab options``. Neither torch nor the components are imported.

>>> @component("cell", "demo", package="model.cell")
... class Demo:
...     scale: float = option(1.0, ge=0, help="a scale")
>>> check_node("cell", "demo", {"name": "demo", "scale": -1.0}, "model.cell")
'model.cell.scale=-1.0: expected a number >= 0 (a scale)'
>>> del SCHEMAS[("cell", "demo")]
"""

from __future__ import annotations

from typing import Any

from seqlab.schema import callbacks, data, model  # noqa: F401  (each registers its components on import)
from seqlab.schema.core import (
    SCHEMAS,
    Component,
    check_options,
    component,
    describe,
    option,
    unknown_key,
)

__all__ = ["SCHEMAS", "Component", "all_components", "check_node", "check_options", "component", "defaults",
           "describe", "names", "option", "store", "unknown_key"]


def defaults(group: str, name: str) -> dict[str, Any]:
    return SCHEMAS[(group, name)].defaults()


def names(group: str) -> list[str]:
    return sorted([n for g, n in SCHEMAS if g == group] + (list(callbacks.GROUP) if group == "callbacks" else []))


def all_components() -> dict[tuple[str, str], Component]:
    return dict(SCHEMAS)


def store() -> None:
    """Put every component's defaults into Hydra's ConfigStore as the config group options (``cell=lstm``)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for (group, name), comp in SCHEMAS.items():
        cs.store(group=group, name=name, node=comp.defaults(), package=comp.package, provider="seqlab")
    for name in callbacks.GROUP:  # the group's default package ("callbacks"), as a plugin's callbacks/NAME.yaml has
        cs.store(group="callbacks", name=name, node=callbacks.group_option(name), provider="seqlab")


def check_node(group: str, name: str, node: Any, where: str) -> str | None:
    """The first problem of a composed node against ``group=name``'s schema, as one line, or None."""
    comp = SCHEMAS.get((group, name))
    if comp is None:
        return None
    problem = check_options(comp.options, node, where, f"{group} '{name}'", set(comp.fixed))
    return problem + auto_head_hint() if problem and (group, name) == ("head", "auto") else problem


def auto_head_hint() -> str:
    """head=auto has no options: the data's task picks the head only when the data is built."""
    return f"; choose the head to set its options (head={'|'.join(n for n in names('head') if n != 'auto')})"
