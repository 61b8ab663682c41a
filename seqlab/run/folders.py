"""Run folders: each new run claims a folder of its own, atomically (:func:`claim_run_dir`); ``ckpt_path=last`` finds
the run to resume, checked against the composed config before anything is written (torch only reads checkpoints).

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> [claim_run_dir(root / "12-00-00").name for _ in range(3)]
['12-00-00', '12-00-00-1', '12-00-00-2']
"""

from __future__ import annotations

import contextlib
import itertools
import re
from pathlib import Path
from typing import Any

from seqlab.errors import CheckpointError, ConfigError

#: Hydra's record folder of a run (``hydra.output_subdir``): its creation is the claim on the folder
RECORD = ".hydra"
#: what a run writes besides its record: a folder holding any of these belongs to a run even without ``.hydra``
RUN_FILES = ("checkpoints", "metrics.json", "csv", "vocab.json", "multirun.yaml")
#: the record folder of the N-th resume of a run, inside ``.hydra`` (the original record is never rewritten)
RESUME_RECORD = "resume-{n}"


def claim_run_dir(path: Path, marker: str = RECORD, marker_is_file: bool = False) -> Path:
    """Create and return the first of ``path``, ``path-1``, ``path-2``, ... that no run holds yet.

    The claim, ``os.mkdir(<folder>/<marker>)`` (``marker_is_file``: an exclusive create), is atomic: of any processes
    (or machines sharing the disk) trying one name, exactly one gets it. A folder of :data:`RUN_FILES` is skipped."""
    import os

    path = Path(path)
    for n in itertools.count():
        candidate = path if n == 0 else path.with_name(f"{path.name}-{n}")
        candidate.mkdir(parents=True, exist_ok=True)
        try:
            if marker_is_file:
                os.close(os.open(candidate / marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            else:
                (candidate / marker).mkdir()
        except FileExistsError:
            continue
        if any((candidate / name).exists() for name in RUN_FILES):  # an older run written without a record
            (candidate / marker).unlink() if marker_is_file else (candidate / marker).rmdir()
            continue
        return candidate


def claim_resume_record(run_dir: Path) -> str:
    """``.hydra/resume-N`` (relative to the run folder, the first free N, created atomically): a resume's record."""
    for n in itertools.count(1):
        name = f"{RECORD}/{RESUME_RECORD.format(n=n)}"
        with contextlib.suppress(FileExistsError):
            (run_dir / name).mkdir(parents=True)
            return name


def run_folders(root: Path) -> list[Path]:
    """Run folders under ``root`` (holding ``.hydra`` or ``checkpoints/last.ckpt``), oldest start first."""
    found = {p.parent for p in root.rglob(RECORD) if p.is_dir() and p.parent.name != RECORD}
    found |= {p.parent.parent for p in root.rglob("checkpoints/last.ckpt")}
    found = {d for d in found if RECORD not in d.relative_to(root).parts}
    # by when each was last started (or resumed): the time its record folder last changed
    return sorted(found, key=lambda d: (d / RECORD if (d / RECORD).is_dir() else d).stat().st_mtime)


def find_last_checkpoint(experiment_name: str, run_dir: str | None = None, outputs: Path = Path("outputs")) -> Path:
    """What ``ckpt_path=last`` resumes: ``<run_dir>/checkpoints/last.ckpt`` when a run folder is given
    (``hydra.run.dir=D``), else the newest run's. A newest run without one (stopped before its first checkpoint) is an
    error naming the run that has one: resuming an older run silently would report its old results as new."""
    if run_dir:
        ckpt = Path(run_dir) / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise ConfigError(f"ckpt_path=last: no {ckpt} (hydra.run.dir={run_dir} names the run to resume)")
        return ckpt.resolve()
    root = outputs / experiment_name
    runs = run_folders(root) if root.is_dir() else []
    with_checkpoint = [d for d in runs if (d / "checkpoints" / "last.ckpt").is_file()]
    if not with_checkpoint:
        raise ConfigError(f"ckpt_path=last: no {root}/**/checkpoints/last.ckpt to resume from")
    newest, resumable = runs[-1], with_checkpoint[-1]
    if newest != resumable:
        raise ConfigError(
            f"ckpt_path=last: the newest run of {experiment_name}, {newest}, has no checkpoints/last.ckpt (it stopped "
            f"before its first checkpoint); the newest run with one is {resumable}: resume it with "
            f"hydra.run.dir={resumable} ckpt_path=last, or start afresh without ckpt_path"
        )
    return (resumable / "checkpoints" / "last.ckpt").resolve()


def run_dir_of(ckpt: Path) -> Path | None:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/x.ckpt``), or None for a checkpoint elsewhere."""
    run_dir = ckpt.parent.parent
    return run_dir if ckpt.parent.name == "checkpoints" and (run_dir / RECORD).is_dir() else None


# -- checking a resume ------------------------------------------------------------------------------------------------
_SHORT = {"model.cell.name": "cell", "model.encoder.name": "encoder", "model.head.name": "head", "data.name": "data"}


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"<prefix>.a.b": 1}`` (lists stay values)."""
    if not isinstance(value, dict):
        return {prefix: value}
    return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}.{key}").items()}


_ABSENT = object()


def describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{_SHORT.get(k, k)}={'(none)' if v is _ABSENT else v}" for k, v in values.items())


def config_mismatch(saved: dict[str, Any], asked: dict[str, Any]) -> str | None:
    """``None`` when two flattened configs agree, else ``checkpoint has X; the config asks Y`` over the keys that
    differ (names first: a different cell explains its other differences)."""
    keys = sorted(set(saved) | set(asked), key=lambda k: (k not in _SHORT, k))
    differ = [k for k in keys if saved.get(k, _ABSENT) != asked.get(k, _ABSENT)]
    renamed = [k[: -len("name")] for k in differ if k.endswith(".name")]  # e.g. "model.cell." when cells differ
    differ = [k for k in differ if k.endswith(".name") or not k.startswith(tuple(renamed))]
    if not differ:
        return None
    return (
        f"checkpoint has {describe({k: saved.get(k, _ABSENT) for k in differ})}; "
        f"the config asks {describe({k: asked.get(k, _ABSENT) for k in differ})}"
    )


def check_resume(ckpt: Path, model_options: dict[str, Any], data_name: str | None) -> dict[str, Any]:
    """Read ``ckpt`` (weights only); refuse in one line a model or datamodule unlike the config's; return it."""
    from seqlab.models.module import CHECKPOINT_KEY, load_checkpoint

    checkpoint = load_checkpoint(ckpt)
    meta = checkpoint[CHECKPOINT_KEY]
    saved = flatten(meta.get("model_config", {}), "model")
    saved_data = (checkpoint.get("hyper_parameters", {}).get("config") or {}).get("data", {}).get("name")
    asked = flatten(model_options, "model")
    if saved_data is not None and data_name is not None:
        saved["data.name"], asked["data.name"] = saved_data, data_name
    if problem := config_mismatch(saved, asked):
        raise CheckpointError(
            f"ckpt_path={ckpt}: does not match the config: {problem}. Resume with the run's own options, or start "
            "a new run without ckpt_path"
        )
    return checkpoint


def spec_mismatch(saved: dict[str, Any], built: dict[str, Any]) -> str | None:
    """What differs between a checkpoint's data spec and the spec the data gives now (vocabulary, classes, task)."""
    for key in ("task", "vocab", "classes", "target_vocab", "num_features"):
        a, b = saved.get(key), built.get(key)
        if a == b:
            continue
        if key in ("vocab", "target_vocab") and a and b:
            sa, sb = a.get("itos", []), b.get("itos", [])
            if len(sa) != len(sb):
                return f"{key}: checkpoint has {len(sa)} tokens, the data gives {len(sb)}"
            i = next(i for i, (x, y) in enumerate(zip(sa, sb, strict=True)) if x != y)
            return f"{key}: token {i} is {sa[i]!r} in the checkpoint, {sb[i]!r} in the data"
        if key == "classes" and isinstance(a, list) and isinstance(b, list):
            return f"classes: checkpoint has {len(a)} ({', '.join(map(str, a[:5]))}...), the data gives {len(b)}"
        return f"{key}: checkpoint has {a!r}, the data gives {b!r}"
    return None


def resume_message(ckpt: Path, checkpoint: dict[str, Any], in_place: bool) -> str:
    """The line that says what a run continues from: its own folder (``in_place``) or a checkpoint a new run starts."""
    step = checkpoint.get("global_step", "?")
    if in_place:
        return f"seqlab: resuming run {run_dir_of(ckpt)} from {ckpt.name} (step {step})"
    return f"seqlab: a new run starts from {ckpt} (step {step})"


_PLAIN = re.compile(r"^[\w./:+@-]+$")


def override(key: str, value: str | Path) -> str:
    """A Hydra override ``key=value`` that survives any path (spaces, quotes, non-ASCII): quoted unless plain."""
    text = str(value)
    if _PLAIN.match(text) and text.isascii():
        return f"{key}={text}"
    return f"{key}='" + text.replace("'", "\\'") + "'"


# -- one writer per folder --------------------------------------------------------------------------------------------
#: the lock file of a run (or sweep) folder: an OS lock on it says a live process is writing the folder
LOCK_FILE = ".seqlab.lock"
_held: dict[Path, Any] = {}  # folder → the open lock file (the lock lives as long as this process keeps it open)
_fresh: dict[str, Path | None] = {"run": None}  # the new run folder this process claimed, until training starts


def lock_folder(folder: Path, what: str = "run") -> None:
    """Hold an exclusive OS lock (``flock``) on ``<folder>/.seqlab.lock`` for the rest of this process, so a second
    process (a resume, a new run, a sweep's job) cannot write the folder. The kernel releases it however the process
    ends (SIGKILL, the OOM killer): a dead run never blocks its resume. Refused in one line naming the holder's PID."""
    import fcntl
    import os

    folder = Path(folder).absolute()
    if folder in _held:
        return
    folder.mkdir(parents=True, exist_ok=True)
    file = open(folder / LOCK_FILE, "a+")  # noqa: SIM115  (held open on purpose)
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.seek(0)
        holder = file.read().strip() or "?"
        file.close()
        raise ConfigError(
            f"{folder}: another process (PID {holder}) is writing this {what} folder; wait until it ends "
            f"(or stop it), then try again"
        ) from None
    file.seek(0)
    file.truncate()
    file.write(f"{os.getpid()}\n")
    file.flush()
    _held[folder] = file


def claimed_fresh(folder: Path) -> None:
    """Remember that this process created ``folder`` for a new run (see :func:`forget_unstarted_run`)."""
    _fresh["run"] = Path(folder).absolute()


def training_started() -> None:
    """From now on the run folder holds a run's record, whatever happens next."""
    _fresh["run"] = None


def forget_unstarted_run() -> None:
    """Remove the new run folder of a run that ends before training started (a bad ``data.source``, a hub failure,
    a signal in data preparation), which would mislead ``ckpt_path=last`` and the report. A resumed run's is kept."""
    import shutil

    folder, _fresh["run"] = _fresh["run"], None
    kept = folder is None or not folder.is_dir() or any((folder / n).exists() for n in ("checkpoints", "metrics.json"))
    if not kept:
        shutil.rmtree(folder, ignore_errors=True)


# -- sweeps -----------------------------------------------------------------------------------------------------------
#: the marker whose creation claims a sweep folder
SWEEP_MARKER = ".seqlab-sweep"


def find_last_sweep(experiment_name: str, outputs: Path = Path("outputs")) -> Path:
    """The newest sweep folder (``outputs/<experiment>/multirun/<date>/<time>``), for ``-m … ckpt_path=last``."""
    root = outputs / experiment_name / "multirun"
    sweeps = [p.parent for p in root.glob("*/*/multirun.yaml")] if root.is_dir() else []
    if not sweeps:
        raise ConfigError(f"ckpt_path=last: no sweep of {experiment_name} under {root} to continue")
    return max(sweeps, key=lambda p: p.stat().st_mtime).absolute()


def job_state(job_dir: Path) -> str:
    """``finished`` (metrics.json), ``failed`` (error.txt), ``resumable`` (a last.ckpt), or ``not started``."""
    if (job_dir / "metrics.json").is_file():
        return "finished"
    if (job_dir / "checkpoints" / "last.ckpt").is_file():
        return "resumable"
    if (job_dir / "error.txt").is_file():
        return "failed"
    return "not started"


def expected_jobs(args: list[str]) -> list[list[str]] | None:
    """The jobs (override lists) a basic-sweeper multirun of ``args`` runs, in order; None for Optuna's and others."""
    if any(a.startswith("hparams_search=") or a.startswith("hydra/sweeper=") for a in args):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if "=" in a and not a.startswith(("-", "hydra.", "hydra/"))]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except Exception:  # Hydra reports a malformed override itself
        return None


def sweep_summary(sweep_dir: Path, expected: list[list[str]] | None) -> tuple[str, bool]:
    """The sweep's line (jobs finished, failed or not run, naming the unfinished) and whether all finished."""
    jobs = sorted((p.parent for p in Path(sweep_dir).glob("*/.hydra")), key=lambda p: int(p.name.split("_")[0])
                  if p.name.split("_")[0].isdigit() else 0)
    states = {job: job_state(job) for job in jobs}
    finished = [j for j, s in states.items() if s == "finished"]
    unfinished = [f"{j.name} ({s})" for j, s in states.items() if s != "finished"]
    started = {int(j.name.split("_")[0]) for j in jobs if j.name.split("_")[0].isdigit()}
    if expected is not None:
        swept = {o.split("=", 1)[0] for job in expected for o in job if any(o not in other for other in expected)}
        unfinished += [f"#{n} {' '.join(o for o in job if o.split('=', 1)[0] in swept)} (did not run)"
                       for n, job in enumerate(expected) if n not in started]
    total = len(expected) if expected is not None else len(jobs)
    line = f"seqlab: sweep {sweep_dir}: {len(finished)} of {total} jobs finished"
    if unfinished:
        shown = "; ".join(unfinished[:10]) + (f"; … {len(unfinished) - 10} more" if len(unfinished) > 10 else "")
        line += f"; not finished: {shown}. The same command plus ckpt_path=last (hydra.sweep.dir={sweep_dir}) " \
                "finishes them"
    return line, not unfinished
