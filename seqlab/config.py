"""Validation of a composed config before any work: each rule names the key, the value and what is allowed.

Runs in well under a second and imports nothing heavy, so ``python -m seqlab model.encoder.hidden_size=-3``
fails before torch or the data are loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from seqlab.allocator import CHOICES as ALLOCATORS
from seqlab.errors import ConfigError

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
    Rule("model.embedding_dim", INT, positive, "a positive integer"),
    Rule("model.encoder.hidden_size", INT, positive, "a positive integer"),
    Rule("model.encoder.num_layers", INT, positive, "an integer >= 1", required=False),
    Rule("model.encoder.dropout", NUM, lambda v: 0 <= v < 1, "a number in [0, 1)", required=False),
    Rule("model.encoder.bidirectional", BOOL, allowed="true or false", required=False),
    Rule("model.encoder.path", STR, one_of("auto", "fused", "structured", "step", "scan"),
         "auto, fused, structured, step or scan", required=False),
    Rule("model.encoder.compile", BOOL, allowed="true or false", required=False),
    Rule("trainer.max_steps", INT, lambda v: v == -1 or v > 0, "-1 (no limit) or a positive integer"),
    Rule("trainer.gradient_clip_val", NUM, lambda v: v >= 0, "null or a number >= 0", optional=True),
    Rule("trainer.gradient_clip_algorithm", STR, one_of("norm", "value"), "norm or value", optional=True),
    Rule("trainer.log_every_n_steps", INT, positive, "a positive integer", required=False),
    Rule("data.batch_size", INT, positive, "a positive integer"),
    Rule("data.seq_len", INT, positive, "a positive integer", required=False),
    Rule("data.bptt", INT, positive, "a positive integer", required=False, optional=True),
    Rule("data.num_workers", INT, lambda v: v >= 0, "an integer >= 0", required=False),
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
        return f"{rule.key}={value!r}: expected {rule.allowed}"
    return None


def group_option_error(cfg: DictConfig, search_dirs: list[Path], group: str) -> str | None:
    """An option under ``model.<group>`` that the chosen config file (``conf/<group>/<name>.yaml``) does not declare
    (e.g. ``+model.cell.forget_bais=1``, ``+model.encoder.hiden_size=3``), or a value of the wrong type."""
    import difflib

    node = _get(cfg, f"model.{group}")
    if not isinstance(node, DictConfig) or "name" not in node:
        return f"model.{group}.name is required (choose one with {group}=NAME)"
    name = node.name
    for root in search_dirs:
        path = root / group / f"{name}.yaml"
        if path.is_file():
            defaults = OmegaConf.load(path) or {}
            declared = set(defaults)
            unknown = sorted(set(node) - declared)
            if unknown:
                close = difflib.get_close_matches(unknown[0], sorted(declared - {"name"}), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                return (f"model.{group}.{unknown[0]}: {group} '{name}' has no option '{unknown[0]}'{hint}; "
                        f"its options are: {', '.join(sorted(declared - {'name'})) or 'none'}")
            for key, default in defaults.items():
                value = node[key]
                numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
                if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    return f"model.{group}.{key}={value!r}: expected a number (default {default})"
                if isinstance(default, bool) and not isinstance(value, bool):
                    return f"model.{group}.{key}={value!r}: expected true or false"
            return None
    return None  # registered in code without a config file: its constructor checks the options


def validate(cfg: DictConfig, search_dirs: list[Path] | None = None) -> None:
    """Raise :class:`ConfigError` for the first key whose type or value is wrong."""
    for rule in RULES:
        error = check_rule(cfg, rule)
        if error:
            raise ConfigError(error)
    for group in ("encoder", "cell") if search_dirs else ():
        error = group_option_error(cfg, search_dirs, group)
        if error:
            raise ConfigError(error)


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
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < min_free_mb:
        raise ConfigError(
            f"{key}={path}: only {free_mb:.0f} MB free on {probe}, below paths.min_free_mb={min_free_mb:g}; "
            "free some space or write elsewhere (hydra.run.dir=...)"
        )
