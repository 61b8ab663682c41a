"""Every component's options are defined once, in seqlab.schema: the config group option Hydra composes comes from
it, its class takes exactly those options, and the class does not write a default of its own."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap

import pytest

from seqlab import schema
from seqlab.registry import CELLS, ENCODERS, HEADS
from seqlab.schema.callbacks import CALLBACKS

REGISTRIES = {"cell": CELLS, "encoder": ENCODERS, "head": HEADS}
#: constructor arguments the framework passes itself (not options a user sets)
FRAMEWORK_ARGS = {"self", "input_size", "ctx", "cell", "causal", "params", "optimizer", "num_states", "cell_options"}
COMPONENTS = sorted(schema.all_components().items())


def constructor(group: str, comp: schema.Component):
    if group in REGISTRIES:  # head=auto is a choice made from the data, not a class
        return REGISTRIES[group].get(comp.fixed["name"]) if comp.fixed["name"] in REGISTRIES[group] else None
    if "_target_" in comp.fixed:
        module, _, name = comp.fixed["_target_"].rpartition(".")
        return getattr(importlib.import_module(module), name)
    return None


def literal_defaults(cls) -> dict[str, str]:
    """Parameters of ``cls.__init__`` whose default is written as a literal in its source (a second definition)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls.__init__))
    except (OSError, TypeError):
        return {}
    init = ast.parse(source).body[0]
    args = init.args
    positional = args.args[len(args.args) - len(args.defaults):]
    pairs = [*zip(positional, args.defaults), *zip(args.kwonlyargs, args.kw_defaults)]
    return {a.arg: ast.unparse(d) for a, d in pairs if d is not None and isinstance(d, ast.Constant | ast.List)}


@pytest.mark.parametrize(("key", "comp"), COMPONENTS, ids=lambda v: "=".join(v) if isinstance(v, tuple) else "")
def test_every_option_is_a_constructor_argument_defined_once(key, comp):
    group, _ = key
    cls = constructor(group, comp)
    if cls is None:
        pytest.skip("no class behind this option (model.*, head=auto and scheduler=none are read by the builder)")
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    options = set(comp.fields())
    assert takes_any or options <= set(parameters), f"{cls.__name__} does not take {options - set(parameters)}"
    if group in REGISTRIES:  # seqlab's own classes: the schema holds the only default
        framework = FRAMEWORK_ARGS | ({"hidden_size"} if group == "cell" else set())
        user_args = {n for n in parameters if n not in framework}
        assert user_args <= options, f"{cls.__name__} takes options the schema lacks: {user_args - options}"
        twice = {k: v for k, v in literal_defaults(cls).items() if k in options}
        assert not twice, f"{cls.__name__} writes a default the schema defines: {twice}"


def test_a_default_written_twice_is_found():
    class Twice:
        def __init__(self, input_size, hidden_size, forget_bias: float = 1.0, scale=schema.option):
            pass

    assert literal_defaults(Twice) == {"forget_bias": "1.0"}


def test_every_group_option_comes_from_the_schema():
    from seqlab.paths import conf_dir

    for group in ("cell", "encoder", "head", "optimizer", "scheduler", "model"):
        assert not (conf_dir() / group).exists(), f"conf/{group}/ repeats what seqlab.schema defines"
        assert schema.names(group)


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_every_callback_option_is_a_constructor_argument_defined_once(name):
    target, options = CALLBACKS[name]
    module, _, class_name = target.rpartition(".")
    cls = getattr(importlib.import_module(module), class_name)
    parameters = set(inspect.signature(cls).parameters)
    fields = {f.name: f for f in dataclasses.fields(options)}
    assert set(fields) == parameters, f"{class_name} takes {sorted(parameters)}, its schema has {sorted(fields)}"
    # a default of the run's own (${seed}, ${paths.output_dir}) is wiring, not a second definition
    literal = {k for k, f in fields.items() if not (isinstance(f.default, str) and f.default.startswith("${"))}
    twice = {k: v for k, v in literal_defaults(cls).items() if k in literal}
    assert not twice, f"{class_name} writes a default the schema defines: {twice}"


def test_callback_group_options_come_from_the_schema():
    from seqlab.paths import conf_dir

    assert not list((conf_dir() / "callbacks").glob("*.yaml")), "conf/callbacks/ repeats seqlab.schema.callbacks"
    assert schema.names("callbacks") == ["default", "music"]
