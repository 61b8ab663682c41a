"""The one pre-flight module: a run's config from the command line to the job Hydra starts.

Group options, override checks, composition, validation (each rule names the key, the value and what is allowed),
resume checks and the run folder, all before torch or the data are loaded, so ``python -m seqlab
model.encoder.hidden_size=-3`` fails at once in one line; then :func:`run_job` hands the composed config to
:func:`seqlab.train.run`.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from seqlab import scale
from seqlab.allocator import CHOICES as ALLOCATORS
from seqlab.errors import SIGNAL_EXIT, ConfigError, RunInterrupted, one_line, user_errors
from seqlab.paths import conf_dir
from seqlab.plugins import discover, explain_missing_option, load_plugins, load_plugins_for, search_dirs

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
        shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:40]}… ({len(str(value))} characters)"
        return f"{rule.key}={shown}: expected {rule.allowed}"
    return None


def group_option_error(cfg: DictConfig, search_dirs: list[Path], group: str, where: str) -> str | None:
    """An option at ``where`` that the chosen option of ``group`` does not declare (``+model.cell.forget_bais=1``),
    or a value of the wrong type or out of bounds: checked against the component's schema (:mod:`seqlab.schema`), or
    for a plugin's option against its config file (types from its defaults)."""
    from seqlab import schema

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
    defaults = option_defaults(group, choice, where)
    unknown = sorted(set(node) - set(defaults))
    if unknown:
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
    from seqlab.schema.trainer import trainer_options

    known = trainer_options()
    node = _get(cfg, "trainer")
    if not known or not isinstance(node, DictConfig):
        return None
    unknown = sorted(set(node) - set(known))
    return unknown_key_of_trainer(unknown[0]) if unknown else None


def missing_key_message(message: str, args: list[str]) -> str | None:
    """Hydra's "Could not override 'trainer.max_step'" (a key the config does not hold, given without ``+``) as
    one line with the valid options and a did-you-mean; for a real Trainer option the config leaves out, the ``+``
    form to use."""
    from seqlab import schema
    from seqlab.schema.trainer import trainer_options

    match = re.search(r"Could not override '([\w.]+)'", message)
    if not match or "." not in match[1]:
        return None
    parent, _, key = match[1].rpartition(".")
    value = explicit_value(args, match[1])
    if parent == "trainer":
        if key in trainer_options():
            return f"trainer.{key} is a Trainer option this config does not set: add it with +trainer.{key}={value}"
        return unknown_key_of_trainer(key)
    kept = [a for a in args if not a.startswith(f"{match[1]}=")]
    try:
        node = OmegaConf.select(compose_config(kept, with_hydra=True), parent)
    except Exception:  # the rest does not compose either: Hydra's message stands
        return None
    if not isinstance(node, DictConfig):
        return None
    known = sorted(k for k in node if k not in ("name", "_target_", "_partial_")
                   and not OmegaConf.is_dict(node._get_node(k)))
    what = f"{parent.rpartition('.')[2]} '{node.name}'" if "name" in node else parent
    return schema.unknown_key(parent, key, known, what)


def unknown_key_of_trainer(key: str) -> str:
    from seqlab.schema import unknown_key
    from seqlab.schema.trainer import trainer_options

    return unknown_key("trainer", key, sorted(trainer_options()), "the Trainer")


def callback_option_error(node: DictConfig, search_dirs: list[Path]) -> str | None:
    """A callback setting no config of the ``callbacks`` group declares for that callback (same name and
    ``_target_``): ``+callbacks.samples.temprature=0.5``."""
    from seqlab import schema

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
        known = declared.get((str(name), entry._target_))
        unknown = sorted(set(entry) - known) if known else []
        if unknown:
            return schema.unknown_key(f"callbacks.{name}", unknown[0], sorted(known - {"_target_"}),
                                      f"callback '{name}'")
    return None


#: config group → the node its option fills, checked against the option's schema
SCHEMA_NODES = {"data": "data", "callbacks": "callbacks", "model": "model", "cell": "model.cell",
                "encoder": "model.encoder", "head": "model.head",
                "optimizer": "optimizer", "scheduler": "scheduler"}


def validate(cfg: DictConfig, search_dirs: list[Path] | None = None) -> None:
    """Raise :class:`ConfigError` for the first key whose type or value is wrong."""
    for rule in RULES:
        error = check_rule(cfg, rule)
        if error:
            raise ConfigError(error)
    for group, where in SCHEMA_NODES.items():
        error = group_option_error(cfg, search_dirs or [], group, where)
        if error:
            raise ConfigError(error)
    error = trainer_option_error(cfg)
    if error:
        raise ConfigError(error)
    if _get(cfg, "check_memory") is not False:
        from seqlab import memory

        config = OmegaConf.to_container(cfg, resolve=False)
        error = memory.check({k: config.get(k) or {} for k in ("model", "optimizer", "data", "trainer")})
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


# -- pre-flight: from the command line to a composed, checked config ------------------------------------------------
_GROUP_OVERRIDE = re.compile(r"^[+~]?(?P<group>[A-Za-z_][\w/]*)=(?P<value>.*)$")


def group_options(group: str, roots: list[Path]) -> list[str]:
    from seqlab import schema

    names = set(schema.names(group))
    for root in roots:
        folder = root / group
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def check_group_overrides(args: list[str], roots: list[Path]) -> str | None:
    """Find a ``group=value`` override whose value is not an option of that config group (before Hydra runs)."""
    for arg in args:
        match = _GROUP_OVERRIDE.match(arg)
        if not match or arg.startswith("~"):
            continue
        group, value = match["group"], match["value"]
        if group.startswith("hydra/") or not group_options(group, roots):
            continue
        options = group_options(group, roots)
        if value in ("null", "") or re.match(
            r"^\w+\(", value
        ):  # removal or a sweep function like choice(...)
            continue
        for item in value.split(","):
            if item not in options:
                missing = f"{group}={item}: no such option in config group '{group}'"
                return explain_missing_option(group, item) or f"{missing}; choose one of: {', '.join(options)}"
    return None


def compose_config(args: list[str], with_hydra: bool = False):
    """Compose ``train.yaml`` with command-line overrides, outside a Hydra run (for checks before it starts)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = [a for a in args if with_hydra or not (a.startswith("hydra.") or a.startswith("hydra/"))]
    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            return compose("train", overrides=overrides, return_hydra_config=with_hydra)
    finally:
        GlobalHydra.instance().clear()


def single_run(args: list[str]) -> bool:
    """True for one training run (not a sweep, ``--help``, ``--cfg`` ...: those are Hydra's business)."""
    return not any(a.startswith("-") or a.startswith("hparams_search=") for a in args)


def is_sweep(args: list[str]) -> bool:
    """True for ``-m``/``--multirun`` (not for ``--help``, ``--cfg`` ... which run nothing)."""
    return any(a in ("-m", "--multirun") for a in args) and not any(
        a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--shell-completion", "-sc") for a in args
    )


def compose_checked(args: list[str]):
    """Compose and validate the config of a single run (with its ``hydra`` node); user errors raise."""
    cfg = compose_config(args, with_hydra=True)
    validate(cfg, search_dirs())
    load_plugins_for({g: c for g, c in cfg.hydra.runtime.choices.items() if isinstance(c, str)})
    check_output_dir(Path(cfg.hydra.run.dir), cfg.paths.min_free_mb)
    return cfg


def check_composes(args: list[str]) -> str | None:
    """Compose and validate the config before Hydra runs, so a bad override or value fails fast with one line,
    before torch or the data are loaded (single runs; each job of a sweep is validated when it starts)."""
    if not single_run(args):
        return None
    from seqlab.errors import user_errors

    try:
        compose_checked(args)
    except user_errors() as err:
        return explain(err, args)
    return None


def explain(err: BaseException, args: list[str]) -> str:
    """:func:`~seqlab.errors.one_line`, plus a hint where Hydra's own message does not say what to do."""
    from seqlab.errors import one_line

    message = one_line(err)
    if "Could not override" in message:
        return missing_key_message(message, args) or message
    if "LexerNoViableAlt" in message or "mismatched input" in message:
        odd = next((a for a in args if not a.isascii() or " " in a), None)
        if odd and "=" in odd:
            key, value = odd.split("=", 1)
            message += f"; quote a value with spaces or non-ASCII characters: {key}='{value}'"
    return message


def explicit_value(args: list[str], key: str) -> str | None:
    """The value of the last ``key=value`` on the command line (quotes removed), or None."""
    given = [a.split("=", 1)[1] for a in args if a.startswith(f"{key}=")]
    return given[-1].strip("'\"") if given else None


def resume_overrides(args: list[str]) -> list[str]:
    """``ckpt_path=last`` → the ``last.ckpt`` of the run folder given (``hydra.run.dir=D``), else of the
    experiment's newest run (see :func:`seqlab.runs.find_last_checkpoint`); a checkpoint inside a run folder
    resumes in that folder (same CSV/TensorBoard logs, same wandb run)."""
    from seqlab.runs import find_last_checkpoint, override, run_dir_of

    value = explicit_value(args, "ckpt_path")
    if value in (None, "", "null") or not single_run(args):
        return args
    if value == "last":
        explicit_dir = explicit_value(args, "hydra.run.dir")
        run_dir = compose_config(args, with_hydra=True).hydra.run.dir if explicit_dir else None
        ckpt = find_last_checkpoint(compose_config(args).experiment_name, run_dir)
    else:
        ckpt = Path(value).expanduser().resolve()
    args = [a for a in args if not a.startswith("ckpt_path=")] + [override("ckpt_path", ckpt)]
    run_dir = run_dir_of(ckpt)
    if run_dir is not None and explicit_value(args, "hydra.run.dir") is None:
        args.append(override("hydra.run.dir", run_dir))
        runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
        if runs and explicit_value(args, "logger.wandb.id") is None:
            args.append(f"logger.wandb.id={runs[-1].name.rsplit('-', 1)[-1]}")
    return args


def prepare_run_dir(args: list[str], cfg: DictConfig | None = None) -> list[str]:
    """Check a resume and claim the run folder, before Hydra writes anything (single runs).

    A resume (``ckpt_path`` given) is compared with the composed model and datamodule first; a mismatch raises one
    line naming both sides, and nothing is written. Resuming inside the checkpoint's own run folder writes Hydra's
    record of the resume to ``.hydra/resume-N`` (the run's original ``.hydra/*.yaml`` are kept as written).
    Otherwise the run claims a folder no other run holds (:func:`seqlab.runs.claim_run_dir`): the configured
    ``hydra.run.dir``, or the same name with ``-1``, ``-2``, ... when it is taken. DDP ranks started by Lightning,
    torchrun or SLURM use the folder their launcher gave them."""
    from seqlab.runs import (
        claim_marker,
        claim_resume_record,
        claim_run_dir,
        claimed_fresh,
        lock_folder,
        override,
        run_dir_of,
    )
    from seqlab.scale import launched_externally

    cfg = cfg if cfg is not None else compose_checked(args)
    run_dir = Path(cfg.hydra.run.dir).absolute()
    ckpt_value = explicit_value(args, "ckpt_path")
    resumes_here = False
    if ckpt_value not in (None, "", "null"):
        from seqlab.models.builder import model_options
        from seqlab.runs import check_resume, resume_message

        ckpt = Path(ckpt_value)
        config = OmegaConf.to_container(cfg.model, resolve=True)
        checkpoint = check_resume(ckpt, model_options(config), cfg.data.get("name"))
        resumes_here = run_dir_of(ckpt) is not None and run_dir_of(ckpt).resolve() == run_dir.resolve()
        print(resume_message(ckpt, checkpoint, resumes_here), flush=True)
    if launched_externally():
        return args
    if resumes_here:
        lock_folder(run_dir)  # refused while another process (the run itself, another resume) writes it
        if cfg.hydra.output_subdir is not None:
            args = [*args, override("hydra.output_subdir", claim_resume_record(run_dir))]
        return args
    claimed = claim_run_dir(run_dir, claim_marker(cfg.hydra.output_subdir))
    lock_folder(claimed)
    claimed_fresh(claimed)
    if claimed != run_dir:
        print(f"seqlab: {run_dir} holds another run; this run writes to {claimed}", file=sys.stderr, flush=True)
    return [a for a in args if not a.startswith("hydra.run.dir=")] + [override("hydra.run.dir", claimed)]


def sweep_overrides_removed(args: list[str]) -> list[str]:
    """``args`` without the sweep overrides (``cell=lstm,gru``, ``seed=range(3)``) and flags, to compose one config."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    kept = []
    parser = OverridesParser.create()
    for arg in args:
        if arg.startswith(("-", "hydra/", "hydra.")) or "=" not in arg:  # the default sweep dir is what counts
            continue
        try:
            [parsed] = parser.parse_overrides([arg])
        except Exception:  # a malformed override: Hydra itself reports it
            continue
        if not parsed.is_sweep_override():
            kept.append(arg)
    return kept


def prepare_sweep_dir(args: list[str]) -> list[str]:
    """Claim the sweep's folder before Hydra starts (``-m``), as a single run claims its own: sweeps started in the
    same second, or a rerun into an existing ``hydra.sweep.dir``, get a folder of their own (``<dir>-1`` ...), so no
    two sweeps share job folders. ``ckpt_path=last`` instead continues a sweep — the one ``hydra.sweep.dir`` names,
    else the experiment's newest: jobs that finished are skipped, each other job resumes from its own ``last.ckpt``
    (or starts, if it never saved one). The sweep folder is locked while the sweep runs."""
    from seqlab.runs import SWEEP_MARKER, claim_run_dir, find_last_sweep, lock_folder, override

    explicit = explicit_value(args, "hydra.sweep.dir")
    continuing = explicit_value(args, "ckpt_path") == "last"
    if explicit and not continuing:
        sweep_dir = Path(explicit)
    else:
        composed = compose_config(sweep_overrides_removed(args), with_hydra=True)
        if continuing:
            sweep_dir = Path(explicit) if explicit else find_last_sweep(composed.experiment_name)
            if not (sweep_dir / "multirun.yaml").is_file():
                raise ConfigError(f"ckpt_path=last: {sweep_dir} holds no sweep to continue (no multirun.yaml)")
        else:
            sweep_dir = Path(composed.hydra.sweep.dir)
    sweep_dir = sweep_dir.absolute()
    if continuing:
        lock_folder(sweep_dir, "sweep")
        print(f"seqlab: continuing the sweep {sweep_dir}: finished jobs are skipped, the others resume", flush=True)
        claimed = sweep_dir
    else:
        claimed = claim_run_dir(sweep_dir, SWEEP_MARKER, marker_is_file=True)  # a file: job folders are the dirs
        lock_folder(claimed, "sweep")
        if claimed != sweep_dir:
            print(f"seqlab: {sweep_dir} holds another sweep; this sweep writes to {claimed}", file=sys.stderr,
                  flush=True)
    return [a for a in args if not a.startswith("hydra.sweep.dir=")] + [override("hydra.sweep.dir", claimed)]


def interrupt_message(err: BaseException | None, signal_name: str = "SIGINT") -> str:
    """One line for a signal that the training loop did not turn into a checkpoint."""
    if type(err).__name__ == "ForcedStop":
        return ("interrupted twice (Ctrl+C): stopped at once without saving; the last checkpoint written before "
                "(if any) is in the run's checkpoints/ folder")
    if isinstance(err, RunInterrupted):
        return (f"interrupted by {err.signal_name} during {err.phase}; the run did not finish (no metrics.json): "
                "the same command plus ckpt_path=last finishes it")
    return (f"interrupted by {signal_name} before training (imports, checks, data preparation, model building): "
            "nothing to save")


def exit_on_interrupt(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM outside the training loop and before it (checks, imports, data preparation, model building):
    leave at once with one line and status 130/143. Raising KeyboardInterrupt there instead can land inside an
    import and leave half-initialised modules (a RecursionError traceback later), or reach Lightning's handler (exit
    1). Nothing is lost: no checkpoint is being written, and a half-built data cache is never reused. A fresh run's
    folder, which holds nothing yet, is removed. The training loop installs its own handler
    (:class:`~seqlab.callbacks.reliability.GracefulInterrupt`), and so do the phases after it."""
    name = signal.Signals(signum).name
    sys.stdout.flush()
    print(f"seqlab: {interrupt_message(None, name)}", file=sys.stderr, flush=True)
    from seqlab.runs import forget_unstarted_run

    forget_unstarted_run()
    if _SWEEP:  # a job of a sweep that runs in this process (the basic launcher): the sweep ends here
        print_sweep_summary(**_SWEEP)
    os._exit(SIGNAL_EXIT[name])


#: the sweep this process runs (its folder and expected jobs), for the summary an interrupt prints
_SWEEP: dict[str, Any] = {}


def print_sweep_summary(sweep_dir: Path, argv: list[str]) -> bool:
    """Print the sweep's one-line summary (stderr when a job did not finish); True when every job finished."""
    from seqlab.runs import expected_jobs, sweep_summary

    line, complete = sweep_summary(sweep_dir, expected_jobs(argv))
    print(line, file=sys.stdout if complete else sys.stderr, flush=True)
    return complete


def os_error_message(err: OSError, output_dir: str | Path | None = None) -> str | None:
    """One line for a file-system refusal the user can fix (permission, read-only or full disk), naming the path
    (a full disk with no file named — a library writing through an open file — names the run's folder); None for
    other OS errors (bugs keep their traceback)."""
    import errno

    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    if full and not err.filename and output_dir is not None:
        return (f"{output_dir}: no space left on the device while writing the run's files; free some space, or "
                "write elsewhere (hydra.run.dir=...)")
    if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT) or not err.filename:
        return None
    path = Path(str(err.filename))
    cache = os.environ.get("SEQLAB_CACHE_DIR")
    hint = ""
    if ".cache" in path.parts or (cache and str(path).startswith(cache)):
        hint = ("; prepared data is written under paths.cache_dir (SEQLAB_CACHE_DIR): make it writable or point it "
                "elsewhere")
    return f"{path}: {err.strerror or err}{hint}"


def run_job(cfg: DictConfig) -> float | None:
    """One Hydra job: the task function ``hydra.main`` calls. A single run was composed and validated before
    Hydra started (:func:`preflight`); each job of a sweep is validated here, when it starts. In a multirun a
    failing job (any exception, or a NaN objective) leaves ``error.txt`` in its folder and returns the worst value,
    so the sweep goes on (see :mod:`seqlab.scale`); a job of a continued sweep (``ckpt_path=last``) that finished is
    skipped and one with a ``last.ckpt`` resumes from it. A single run that fails before training starts leaves no
    run folder behind."""
    # imported when a job starts, not at pre-flight: a bad override fails before torch and Lightning are loaded
    from seqlab import train
    from seqlab.callbacks.reliability import ForcedStop
    from seqlab.runs import forget_unstarted_run

    load_plugins()  # joblib/submitit workers run jobs in fresh processes that never went through main()
    try:
        if scale.in_multirun():
            skipped, value = start_sweep_job(cfg)
            if skipped:
                return value
            validate(cfg, search_dirs())
            check_output_dir(Path(cfg.paths.output_dir), cfg.paths.get("min_free_mb", 0), key="paths.output_dir")
        value = train.run(cfg)
    except user_errors() as err:
        if scale.in_multirun():
            return scale.record_failed_job(one_line(err))
        forget_unstarted_run()
        print(f"seqlab: error: {one_line(err)}", file=sys.stderr, flush=True)
        sys.exit(1)
    except (KeyboardInterrupt, ForcedStop) as err:  # interrupts also stop a sweep
        print(f"seqlab: {interrupt_message(err)}", file=sys.stderr, flush=True)
        sys.exit(130)
    except RunInterrupted as err:
        print(f"seqlab: {interrupt_message(err)}", file=sys.stderr, flush=True)
        sys.exit(err.exit_code)
    except OSError as err:
        message = os_error_message(err, OmegaConf.select(cfg, "paths.output_dir", default=None))
        if message is None:
            raise
        if scale.in_multirun():
            return scale.record_failed_job(message)
        forget_unstarted_run()
        print(f"seqlab: error: {message}", file=sys.stderr, flush=True)
        sys.exit(1)
    except SystemExit as err:  # a run that stopped itself (e.g. a non-finite loss); an interrupt stops the sweep
        if not scale.in_multirun() or err.code in (None, 0, 130, 143):
            raise
        return scale.record_failed_job(f"the run stopped with exit status {err.code} (its message is in the log)")
    except Exception as err:
        if not scale.in_multirun():
            forget_unstarted_run()
            raise
        return scale.record_failed_job(f"{type(err).__name__}: {one_line(err)}", err)
    problem = scale.check_sweep_result(value, cfg.get("optimized_metric")) if scale.in_multirun() else None
    return scale.record_failed_job(problem) if problem else value


def start_sweep_job(cfg: DictConfig) -> tuple[bool, float | None]:
    """Before a sweep job trains: lock its folder (no second writer), drop a stale ``error.txt``, and — in a
    continued sweep (``ckpt_path=last``) — skip a finished job (returning its objective from ``metrics.json``) or
    point ``ckpt_path`` at the job's own ``last.ckpt``. Returns ``(skipped, the skipped job's objective)``."""
    import json

    from seqlab.runs import job_state, lock_folder

    job_dir = Path(cfg.paths.output_dir)
    lock_folder(job_dir)
    state = job_state(job_dir)
    if cfg.get("ckpt_path") == "last":
        if state == "finished":
            hydra = scale.hydra_config()
            print(f"seqlab: sweep job {hydra.job.num} finished before: skipped ({job_dir})", flush=True)
            metrics = json.loads((job_dir / "metrics.json").read_text(encoding="utf-8"))
            metric = cfg.get("optimized_metric")
            return True, (metrics.get(metric) if metric else None)
        cfg.ckpt_path = str(job_dir / "checkpoints" / "last.ckpt") if state == "resumable" else None
    elif state != "not started" and cfg.get("ckpt_path") is None:
        raise ConfigError(f"{job_dir}: holds a run already; sweep job folders are never shared")
    (job_dir / scale.ERROR_FILE).unlink(missing_ok=True)  # this attempt writes its own, if it fails
    return False, None


def preflight(argv: list[str]) -> list[str]:
    """Everything before Hydra starts a single run, each failure one line (a :func:`~seqlab.errors.user_errors`
    exception): group options exist, ``ckpt_path`` resolves, the config composes (once) and validates, a group
    swapped after a recipe sheds the recipe's options for the replaced choice, a resume matches its checkpoint, and
    the run folder is claimed. Returns the overrides Hydra is to run with."""
    error = check_group_overrides(argv, search_dirs())
    if error:
        raise ConfigError(error)
    argv = resume_overrides(argv)
    if is_sweep(argv):
        return prepare_sweep_dir(argv)
    if not single_run(argv):
        return argv
    argv = argv + recipe_leftovers(argv)
    cfg = compose_checked(argv)
    return prepare_run_dir(argv, cfg)


@functools.cache
def option_defaults(group: str, choice: str, node: str) -> dict[str, Any]:
    """What ``group=choice`` alone puts at its node (defaults lists followed, interpolations kept as written)."""
    composed = OmegaConf.select(compose_config([f"{group}={choice}"]), node)
    return OmegaConf.to_container(composed, resolve=False) if composed is not None else {}


@functools.cache
def option_keys(group: str, choice: str, roots: tuple[str, ...]) -> frozenset[str]:
    """The keys ``group=choice`` alone puts at its node (one composition per option and config search path)."""
    return frozenset(OmegaConf.select(compose_config([f"{group}={choice}"]), GROUP_NODES[group]) or {})


#: config groups whose options land at one config node, which a recipe (``+experiment=X``) may fill in
GROUP_NODES = {"cell": "model.cell", "encoder": "model.encoder", "head": "model.head", "optimizer": "optimizer",
               "scheduler": "scheduler", "callbacks": "callbacks"}


def recipe_leftovers(argv: list[str], composed: DictConfig | None = None) -> list[str]:
    """Deletion overrides (``~model.cell.forget_bias``) for what a recipe set for the option a command line swaps
    out (``+experiment=word_lm cell=gru``: the recipe's LSTM ``forget_bias`` means nothing to a GRU), each named in
    one note line. Keys the command line sets itself are kept (and validated as usual). ``composed``: ``argv``'s
    config when the caller has it already (one composition fewer)."""
    if not any(a.startswith("+experiment=") for a in argv):
        return []
    swapped = {g: explicit_value(argv, g) for g in GROUP_NODES if explicit_value(argv, g) not in (None, "", "null")}
    if not swapped:
        return []
    composed = compose_config(argv) if composed is None else composed
    deletions = []
    for group, choice in swapped.items():
        node_key = GROUP_NODES[group]
        node = OmegaConf.select(composed, node_key) or {}
        alone = option_keys(group, choice, tuple(str(d) for d in search_dirs()))
        given = {a.lstrip("+~").split("=", 1)[0].removeprefix(f"{node_key}.") for a in argv if "=" in a}
        leftovers = sorted(k for k in node if k not in alone and k not in given)
        if group == "callbacks":  # a callback the recipe adds (it has a _target_) stays; settings of a dropped one go
            leftovers = [k for k in leftovers if not (OmegaConf.is_dict(node[k]) and "_target_" in node[k])]
        if leftovers:
            shown = ", ".join(f"{k}={node[k]}" for k in leftovers)
            print(f"seqlab: the recipe's {node_key} options {shown} do not apply to {group}={choice}; dropped",
                  file=sys.stderr, flush=True)
            deletions += [f"~{node_key}.{k}" for k in leftovers]
    return deletions


def main(argv: list[str] | None = None) -> None:
    """``seqlab [train] [overrides]`` / ``python -m seqlab [overrides]``: pre-flight, then Hydra runs the job."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, exit_on_interrupt)
    signal.signal(signal.SIGTERM, exit_on_interrupt)
    discover()  # names and config folders only: a plugin is imported when the run selects one of its options
    try:
        argv = preflight(argv)
    except user_errors() as err:
        print(f"seqlab: error: {explain(err, argv)}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *argv]
    if not is_sweep(argv):
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(run_job)()
        return
    code = 0
    _SWEEP.update(sweep_dir=Path(explicit_value(argv, "hydra.sweep.dir") or "."), argv=argv)
    try:
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")(run_job)()
    except SystemExit as err:  # an interrupted job stops the sweep
        code = err.code if isinstance(err.code, int) else 1
    complete = print_sweep_summary(**_SWEEP)
    sys.exit(code or (0 if complete else 1))
