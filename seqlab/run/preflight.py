"""Pre-flight: everything between the command line and the job Hydra starts, each failure one line — group options
exist, the config composes and validates, a recipe's options for a swapped-out choice are dropped, ``ckpt_path``
resolves and matches the composed model, and the run's (or sweep's) folder is claimed and locked."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seqlab import schema
from seqlab.errors import ConfigError, one_line, user_errors
from seqlab.plugins import load_plugins_for, search_dirs
from seqlab.run import folders
from seqlab.run.compose import (
    GROUP_NODES,
    check_group_overrides,
    compose_config,
    debug_overrides,
    explicit_value,
    is_sweep,
    option_defaults,
    single_run,
)
from seqlab.run.scale import launched_externally
from seqlab.run.validation import check_output_dir, unknown_key_of_trainer, validate
from seqlab.schema.trainer import trainer_options


def missing_key_message(message: str, args: list[str]) -> str | None:
    """Hydra's "Could not override 'trainer.max_step'" (a key the config does not hold, given without ``+``) as
    one line with the valid options and a did-you-mean, or for a Trainer option the config omits, the ``+`` form."""
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
    hint = schema.auto_head_hint() if what == "head 'auto'" else ""
    return schema.unknown_key(parent, key, known, what) + hint


def compose_checked(args: list[str]):
    """Compose and validate the config of a single run (with its ``hydra`` node); user errors raise."""
    cfg = compose_config(args, with_hydra=True)
    validate(cfg, search_dirs())
    load_plugins_for({g: c for g, c in cfg.hydra.runtime.choices.items() if isinstance(c, str)})
    check_output_dir(Path(cfg.hydra.run.dir), cfg.paths.min_free_mb)
    return cfg


def check_composes(args: list[str]) -> str | None:
    """Compose and validate a single run's config before Hydra and torch load, so a bad override fails in one line."""
    if not single_run(args):
        return None
    try:
        compose_checked(args)
    except user_errors() as err:
        return explain(err, args)
    return None


def explain(err: BaseException, args: list[str]) -> str:
    """:func:`~seqlab.errors.one_line`, plus a hint where Hydra's own message does not say what to do."""
    message = one_line(err)
    if "Could not override" in message:
        return missing_key_message(message, args) or message
    if "LexerNoViableAlt" in message or "mismatched input" in message:
        odd = next((a for a in args if not a.isascii() or " " in a), None)
        if odd and "=" in odd:
            key, value = odd.split("=", 1)
            message += f"; quote a value with spaces or non-ASCII characters: {key}='{value}'"
    return message


def resume_overrides(args: list[str]) -> list[str]:
    """``ckpt_path=last`` → the ``last.ckpt`` of the run folder given (``hydra.run.dir=D``), else of the newest run
    (:func:`seqlab.run.folders.find_last_checkpoint`); a run folder's checkpoint resumes in it (its logs, wandb run)."""
    value = explicit_value(args, "ckpt_path")
    if value in (None, "", "null") or not single_run(args):
        return args
    if value == "last":
        run_dir = compose_config(args, with_hydra=True).hydra.run.dir if explicit_value(args, "hydra.run.dir") else None
        ckpt = folders.find_last_checkpoint(compose_config(args).experiment_name, run_dir)
    else:
        ckpt = Path(value).expanduser().resolve()
    args = [a for a in args if not a.startswith("ckpt_path=")] + [folders.override("ckpt_path", ckpt)]
    run_dir = folders.run_dir_of(ckpt)
    if run_dir is not None and explicit_value(args, "hydra.run.dir") is None:
        args.append(folders.override("hydra.run.dir", run_dir))
        runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda p: p.stat().st_mtime)
        if runs and explicit_value(args, "logger.wandb.id") is None:
            args.append(f"logger.wandb.id={runs[-1].name.rsplit('-', 1)[-1]}")
    return args


def prepare_run_dir(args: list[str], cfg: DictConfig | None = None) -> list[str]:
    """Check a resume and claim the run folder, before Hydra writes anything (single runs).

    A resume (``ckpt_path``) must match the composed model and datamodule (else one line naming both sides, nothing
    written); resuming in the checkpoint's own folder records it in ``.hydra/resume-N``. Otherwise the run claims
    ``hydra.run.dir``, or ``-1``, ``-2``, ... when taken (:func:`~seqlab.run.folders.claim_run_dir`). DDP ranks
    started by Lightning, torchrun or SLURM use the folder their launcher gave them."""
    cfg = cfg if cfg is not None else compose_checked(args)
    run_dir = Path(cfg.hydra.run.dir).absolute()
    ckpt_value = explicit_value(args, "ckpt_path")
    resumes_here = False
    if ckpt_value not in (None, "", "null"):
        from seqlab.models.builder import model_options

        ckpt = Path(ckpt_value)
        config = OmegaConf.to_container(cfg.model, resolve=True)
        checkpoint = folders.check_resume(ckpt, model_options(config), cfg.data.get("name"))
        resumes_here = folders.run_dir_of(ckpt) is not None and folders.run_dir_of(ckpt).resolve() == run_dir.resolve()
        print(folders.resume_message(ckpt, checkpoint, resumes_here), flush=True)
    if launched_externally():
        return args
    if resumes_here:
        folders.lock_folder(run_dir)  # refused while another process (the run itself, another resume) writes it
        if cfg.hydra.output_subdir is not None:
            args = [*args, folders.override("hydra.output_subdir", folders.claim_resume_record(run_dir))]
        return args
    # the claim: creating Hydra's record folder, or a marker when it writes none
    claimed = folders.claim_run_dir(run_dir, cfg.hydra.output_subdir or ".seqlab-run")
    folders.lock_folder(claimed)
    folders.claimed_fresh(claimed)
    if claimed != run_dir:
        print(f"seqlab: {run_dir} holds another run; this run writes to {claimed}", file=sys.stderr, flush=True)
    return [a for a in args if not a.startswith("hydra.run.dir=")] + [folders.override("hydra.run.dir", claimed)]


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
    """Claim the sweep's folder before Hydra starts (``-m``), as a single run claims its own (``<dir>-1`` ... when
    taken), so no two sweeps share job folders. ``ckpt_path=last`` instead continues ``hydra.sweep.dir``'s sweep, else
    the newest: finished jobs are skipped, others resume from their ``last.ckpt`` (or start). Locked while it runs."""
    explicit = explicit_value(args, "hydra.sweep.dir")
    if explicit_value(args, "ckpt_path") == "last":
        composed = compose_config(sweep_overrides_removed(args), with_hydra=True)
        sweep_dir = Path(explicit) if explicit else folders.find_last_sweep(composed.experiment_name)
        if not (sweep_dir / "multirun.yaml").is_file():
            raise ConfigError(f"ckpt_path=last: {sweep_dir} holds no sweep to continue (no multirun.yaml)")
        claimed = sweep_dir.absolute()
        folders.lock_folder(claimed, "sweep")
        print(f"seqlab: continuing the sweep {claimed}: finished jobs are skipped, the others resume", flush=True)
    else:
        sweep_dir = explicit or compose_config(sweep_overrides_removed(args), with_hydra=True).hydra.sweep.dir
        sweep_dir = Path(sweep_dir).absolute()
        claimed = folders.claim_run_dir(sweep_dir, folders.SWEEP_MARKER, marker_is_file=True)  # a file: jobs are dirs
        folders.lock_folder(claimed, "sweep")
        if claimed != sweep_dir:
            print(f"seqlab: {sweep_dir} holds another sweep; this sweep writes to {claimed}", file=sys.stderr,
                  flush=True)
    return [a for a in args if not a.startswith("hydra.sweep.dir=")] + [folders.override("hydra.sweep.dir", claimed)]


def preflight(argv: list[str]) -> list[str]:
    """Everything before Hydra starts a single run (module docstring), failures in one line; returns the overrides."""
    if error := check_group_overrides(argv, search_dirs()):
        raise ConfigError(error)
    argv = resume_overrides(debug_overrides(argv))
    if is_sweep(argv):
        return prepare_sweep_dir(argv)
    if not single_run(argv):
        return argv
    argv = argv + recipe_leftovers(argv)
    cfg = compose_checked(argv)
    return prepare_run_dir(argv, cfg)


def recipe_leftovers(argv: list[str], composed: DictConfig | None = None) -> list[str]:
    """Deletion overrides (``~model.cell.forget_bias``) for what a recipe set for the option a command line swaps
    out (``+experiment=word_lm cell=gru``: LSTM's ``forget_bias``) or to a value the new choice refuses (``pool=none``
    for ``head=many_to_one``), each in a note line; not keys the command line sets. ``composed``: ``argv``'s config."""
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
        alone = option_defaults(group, choice, node_key, tuple(str(d) for d in search_dirs()))
        given = {a.lstrip("+~").split("=", 1)[0].removeprefix(f"{node_key}.") for a in argv if "=" in a}
        # keys the new choice lacks; values of the recipe its schema refuses (forecast's pool=none to many_to_one)
        leftovers = sorted(k for k in node if k not in given and (k not in alone or (
            not OmegaConf.is_interpolation(node, k)  # ${trainer.max_steps}: checked once resolved, by validate
            and schema.check_node(group, choice, {k: node._get_node(k)._value()}, node_key))))
        if group == "callbacks":  # a callback the recipe adds (it has a _target_) stays; settings of a dropped one go
            leftovers = [k for k in leftovers if not (OmegaConf.is_dict(node[k]) and "_target_" in node[k])]
        if leftovers:
            shown = ", ".join(f"{k}={node[k]}" for k in leftovers)
            print(f"seqlab: the recipe's {node_key} options {shown} do not apply to {group}={choice}; dropped",
                  file=sys.stderr, flush=True)
            deletions += [f"~{node_key}.{k}" for k in leftovers]
    return deletions
