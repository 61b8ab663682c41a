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
from seqlab.registry import CELLS, DATAMODULES, ENCODERS, HEADS
from seqlab.schema.callbacks import CALLBACKS

REGISTRIES = {"cell": CELLS, "encoder": ENCODERS, "head": HEADS, "data": DATAMODULES}
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
    parameters = {name: p for owner in reversed(cls.__mro__) if "__init__" in owner.__dict__
                  and owner.__module__.startswith("seqlab.")  # a datamodule passes **options on to SeqDataModule
                  for name, p in inspect.signature(owner.__init__).parameters.items()
                  if p.kind is not inspect.Parameter.VAR_KEYWORD} or dict(inspect.signature(cls).parameters)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    options = set(comp.fields())
    assert takes_any or options <= set(parameters), f"{cls.__name__} does not take {options - set(parameters)}"
    if group in REGISTRIES:  # seqlab's own classes: the schema holds the only default
        framework = FRAMEWORK_ARGS | ({"hidden_size"} if group == "cell" else set())
        own = inspect.signature(next(c for c in cls.__mro__ if "__init__" in c.__dict__)).parameters
        user_args = {n for n, p in own.items() if n not in framework and p.kind is not inspect.Parameter.VAR_KEYWORD}
        assert user_args <= options, f"{cls.__name__} takes options the schema lacks: {user_args - options}"
        # every constructor on the way (a datamodule's and SeqDataModule's); None means "the class decides", and a
        # default of the run's own (${seed}) is wiring
        literal = {k for k, f in comp.fields().items() if not (isinstance(f.default, str) and "${" in f.default)}
        for owner in (c for c in cls.__mro__ if "__init__" in c.__dict__ and c.__module__.startswith("seqlab.")):
            twice = {k: v for k, v in literal_defaults(owner).items() if k in literal and v != "None"}
            assert not twice, f"{owner.__name__} writes a default the schema defines: {twice}"


def test_a_default_written_twice_is_found():
    class Twice:
        def __init__(self, input_size, hidden_size, forget_bias: float = 1.0, scale=schema.option):
            pass

    assert literal_defaults(Twice) == {"forget_bias": "1.0"}


def test_every_group_option_comes_from_the_schema():
    from seqlab.paths import conf_dir

    for group in ("cell", "encoder", "head", "optimizer", "scheduler", "model", "data"):
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


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["data=abc_music", "data.mode=bars"], "data.mode='bars': expected tunes or windows"),
        (["data=abc_music", "data.seq_len=0"], "data.seq_len=0: expected an integer >= 1"),
        (["data=timeseries", "data.window=0"], "data.window=0: expected an integer >= 1"),
        (["data=timeseries", "data.transform=log"], "data.transform='log': expected none or difference"),
        (["data=tagging", "data.format=iob"], "data.format='iob': expected auto, conllu or conll"),
        (["data=adding", "data.seq_len=1"], "data.seq_len=1: expected an integer >= 2"),
        (["data=tweets", "data.urls=hide"], "data.urls='hide': expected replace, remove or keep"),
        (["data.batch_size=0"], "data.batch_size=0: expected an integer >= 1"),
    ],
)
def test_a_datamodule_option_out_of_its_schema_is_one_line_before_anything_is_built(overrides, line):
    from seqlab.run.preflight import check_composes

    assert check_composes(overrides).startswith(line)
