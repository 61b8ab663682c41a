"""Validation of a composed config, before torch or the data are loaded: each component's node against its schema
(:mod:`seqlab.schema`; a plugin's option against its config file), ``trainer.*`` against Lightning's Trainer, callback
settings against the ``callbacks`` group, and the run's top-level keys against :data:`RULES`. Each problem is one line
naming the key, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from seqlab import schema
from seqlab.errors import ConfigError
from seqlab.run import memory
from seqlab.run.allocator import CHOICES as ALLOCATORS
from seqlab.run.compose import GROUP_NODES, group_options, option_defaults
from seqlab.schema.callbacks import CALLBACKS, LIGHTNING
from seqlab.schema.trainer import class_options, trainer_options

_MISSING = object()


@dataclass(frozen=True)
class Rule:
    key: str
    types: tuple[type, ...]
    check: Callable[[Any], bool] = lambda v: True
    allowed: str = ""
    optional: bool = False  # None is allowed
    required: bool = True  # the key must exist


def positive(v: Any) -> bool:
    return v > 0


def one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: v in choices


def safe_name(value: str) -> bool:
    """A name that stays one folder: no path separator, not ``.``/``..``, not empty."""
    return bool(value.strip()) and not any(sep in value for sep in ("/", "\\", "\0")) and value not in (".", "..")


def split_fractions(value: Any) -> bool:
    """``[train, validation, test]`` fractions: three numbers >= 0 that sum to 1."""
    numbers = list(value)
    if len(numbers) != 3 or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in numbers):
        return False
    return all(x >= 0 for x in numbers) and abs(sum(numbers) - 1) < 1e-6


INT, NUM, BOOL, STR = (int,), (int, float), (bool,), (str,)


RULES = [
    # numpy's seed range (pl.seed_everything seeds numpy too)
    Rule("seed", INT, lambda v: 0 <= v <= 2**32 - 1, "an integer from 0 to 4294967295 (2**32 - 1)"),
    Rule("experiment_name", STR, safe_name,
         "a name without '/', '\\' or '..' (it names one folder under outputs/)", required=False),
    Rule("paths.min_free_mb", NUM, lambda v: v >= 0, "a number of MB >= 0", required=False),
    Rule("cpu_allocator", STR, one_of(*ALLOCATORS), "retain or system", required=False),
    Rule("experiment_name", STR, lambda v: len(v.encode()) <= 128,
         "at most 128 bytes (it names a folder, with room for suffixes and wandb)", required=False),
    Rule("trainer.max_steps", INT, lambda v: v == -1 or v > 0, "-1 (no limit) or a positive integer"),
    Rule("trainer.max_epochs", INT, lambda v: v == -1 or v > 0, "null, -1 (no limit) or a positive integer",
         optional=True, required=False),
    Rule("trainer.val_check_interval", NUM, lambda v: v > 0 and (isinstance(v, int) or v <= 1),
         "a positive number of steps, or a fraction of an epoch in (0, 1]", optional=True, required=False),
    Rule("trainer.accumulate_grad_batches", INT, positive, "an integer >= 1", required=False),
    Rule("check_memory", BOOL, allowed="true or false", required=False),
    Rule("trainer.gradient_clip_val", NUM, lambda v: v >= 0, "null or a number >= 0", optional=True),
    Rule("trainer.gradient_clip_algorithm", STR, one_of("norm", "value"), "norm or value", optional=True),
    Rule("trainer.log_every_n_steps", INT, positive, "a positive integer", required=False),
    Rule("data.split", (ListConfig,), split_fractions,
         "three non-negative fractions summing to 1, e.g. [0.9,0.05,0.05]", required=False),
]


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=True)


def check_rule(cfg: DictConfig, rule: Rule) -> str | None:
    value = _get(cfg, rule.key)
    if value is _MISSING:
        return f"{rule.key} is required ({rule.allowed})" if rule.required else None
    if value is None:
        return None if rule.optional else f"{rule.key}=null: expected {rule.allowed}"
    ok_type = isinstance(value, rule.types) and not (isinstance(value, bool) and bool not in rule.types)
    if not ok_type or not rule.check(value):
        shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:40]}… ({len(str(value))} characters)"
        return f"{rule.key}={shown}: expected {rule.allowed}"
    return None


def group_option_error(cfg: DictConfig, search_dirs: list[Path], group: str, where: str) -> str | None:
    """An option at ``where`` that the chosen option of ``group`` does not declare (``+model.cell.forget_bais=1``),
    or a value of the wrong type or out of bounds: by its schema, or by a plugin's config file (its defaults' types)."""
    node = _get(cfg, where)
    if not isinstance(node, DictConfig):
        return None
    if group == "callbacks":
        return callback_option_error(node, search_dirs)
    if where == "model":
        node = {k: v for k, v in node.items() if k not in ("encoder", "cell", "head")}
        return schema.check_node("model", "default", node, where)
    if "name" in node:
        name = node.name
    elif "_target_" in node:
        name = next((n for (g, n), c in schema.all_components().items()
                     if g == group and c.fixed.get("_target_") == node._target_), None)
    else:
        return None
    if (group, name) in schema.all_components():
        return schema.check_node(group, name, node, where)
    choice = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}", default=None) or name
    if choice not in group_options(group, search_dirs):
        return None
    defaults = option_defaults(group, choice, where, tuple(str(d) for d in search_dirs))
    if unknown := sorted(set(node) - set(defaults)):
        return schema.unknown_key(where, unknown[0], sorted(set(defaults) - {"name"}), f"{group} '{choice}'")
    for key, default in defaults.items():
        value = OmegaConf.select(node, key, throw_on_resolution_failure=False)
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if value is None:
            continue
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{where}.{key}={value!r}: expected a number (default {default})"
        if isinstance(default, bool) and not isinstance(value, bool):
            return f"{where}.{key}={value!r}: expected true or false"
    return None  # registered in code without a config file: its constructor checks the options


def trainer_option_error(cfg: DictConfig) -> str | None:
    """A ``trainer.*`` key that ``pytorch_lightning.Trainer`` does not take (``+trainer.max_step=10``)."""
    known = trainer_options()
    node = _get(cfg, "trainer")
    if not known or not isinstance(node, DictConfig):
        return None
    unknown = sorted(set(node) - set(known))
    return unknown_key_of_trainer(unknown[0]) if unknown else None


def unknown_key_of_trainer(key: str) -> str:
    return schema.unknown_key("trainer", key, sorted(trainer_options()), "the Trainer")


def callback_option_error(node: DictConfig, search_dirs: list[Path]) -> str | None:
    """A callback setting its schema, Lightning's class (for Lightning's callbacks) or its config file (a plugin's
    ``callbacks/NAME.yaml``) does not know, or a value of the wrong type: ``+callbacks.samples.temprature=0.5``."""
    declared: dict[tuple[str, str], set[str]] = {}
    for root in search_dirs:
        for path in sorted((root / "callbacks").glob("*.yaml")):
            for name, entry in OmegaConf.to_container(OmegaConf.load(path) or {}, resolve=False).items():
                if isinstance(entry, dict) and "_target_" in entry:
                    declared.setdefault((str(name), entry["_target_"]), set()).update(entry)
    for name in node:
        entry = node._get_node(name)
        if not OmegaConf.is_dict(entry) or "_target_" not in entry:
            continue
        where, what = f"callbacks.{name}", f"callback '{name}'"
        if name in CALLBACKS and CALLBACKS[name][0] == entry._target_:
            error = schema.check_options(CALLBACKS[name][1], entry, where, what, {"_target_"})
        else:
            if name in LIGHTNING and LIGHTNING[name]["_target_"] == entry._target_:
                known = set(class_options(*LIGHTNING_CLASSES[name])) | set(LIGHTNING[name])
            else:
                known = declared.get((str(name), entry._target_), set())
            unknown = sorted(set(entry) - known) if known else []
            error = schema.unknown_key(where, unknown[0], sorted(known - {"_target_"}), what) if unknown else None
        if error:
            return error
    return None


#: where Lightning defines the callbacks seqlab configures: (module file under pytorch_lightning, class)
LIGHTNING_CLASSES = {"model_checkpoint": ("callbacks/model_checkpoint.py", "ModelCheckpoint"),
                     "last_checkpoint": ("callbacks/model_checkpoint.py", "ModelCheckpoint"),
                     "lr_monitor": ("callbacks/lr_monitor.py", "LearningRateMonitor")}


#: config group → the node its option fills, checked against the option's schema
SCHEMA_NODES = {"data": "data", "callbacks": "callbacks", "model": "model", **GROUP_NODES}


def validate(cfg: DictConfig, search_dirs: list[Path] | None = None) -> None:
    """Raise :class:`ConfigError` for the first key whose type or value is wrong."""
    if error := next((problem for problem in problems(cfg, search_dirs or []) if problem), None):
        raise ConfigError(error)


def problems(cfg: DictConfig, search_dirs: list[Path]) -> Iterator[str | None]:
    """Each check's problem (None where it holds), in order, each computed when asked for."""
    yield from (check_rule(cfg, rule) for rule in RULES)
    yield from (group_option_error(cfg, search_dirs, group, where) for group, where in SCHEMA_NODES.items())
    yield trainer_option_error(cfg)
    if _get(cfg, "check_memory") is not False:
        config = OmegaConf.to_container(cfg, resolve=False)
        yield memory.check({k: config.get(k) or {} for k in ("model", "optimizer", "data", "trainer")})


def check_output_dir(path: Path, min_free_mb: float, key: str = "hydra.run.dir") -> None:
    """Fail early when the run's output folder cannot be written or its disk is (nearly) full."""
    import shutil
    import tempfile

    probe = Path(path).expanduser().absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{key}={path}: {probe} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".seqlab-write-test-"):
            pass
    except OSError as err:
        raise ConfigError(f"{key}={path}: cannot write in {probe} ({err.strerror or err})") from None
    if (free_mb := shutil.disk_usage(probe).free / 2**20) < min_free_mb:
        raise ConfigError(
            f"{key}={path}: only {free_mb:.0f} MB free on {probe}, below paths.min_free_mb={min_free_mb:g}; "
            "free some space or write elsewhere (hydra.run.dir=...)"
        )
