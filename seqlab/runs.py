"""Run folders: each new run claims a folder of its own, atomically; ``ckpt_path=last`` finds the run to resume and
a resume is checked against the composed config before anything is written.

A run folder is *claimed* by creating its record folder (Hydra's ``output_subdir``, ``.hydra``) with ``os.mkdir``,
which succeeds in exactly one process. ``outputs/<exp>/<date>/<H-M-S>`` taken (two runs started in the same second,
or an explicit ``hydra.run.dir`` that already holds a run) → ``<H-M-S>-1``, ``-2``, ...

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> [claim_run_dir(root / "12-00-00").name for _ in range(3)]
['12-00-00', '12-00-00-1', '12-00-00-2']

This module imports nothing heavy; torch is imported only to read a checkpoint (resumes).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from seqlab.errors import CheckpointError, ConfigError

#: Hydra's record folder of a run (``hydra.output_subdir``): its creation is the claim on the folder
RECORD = ".hydra"
#: what a run writes besides its record: a folder holding any of these belongs to a run even without ``.hydra``
RUN_FILES = ("checkpoints", "metrics.json", "csv", "vocab.json")
#: the record folder of the N-th resume of a run, inside ``.hydra`` (the original record is never rewritten)
RESUME_RECORD = "resume-{n}"


def claim_run_dir(path: Path, marker: str = RECORD) -> Path:
    """Create and return the first of ``path``, ``path-1``, ``path-2``, ... that no run holds yet.

    The claim is ``os.mkdir(<folder>/<marker>)``: atomic, so of any number of processes (or machines sharing the
    disk) trying the same name, exactly one gets it. A folder already holding a run's files (:data:`RUN_FILES`)
    without a marker is skipped too."""
    path = Path(path)
    for n in itertools.count():
        candidate = path if n == 0 else path.with_name(f"{path.name}-{n}")
        candidate.mkdir(parents=True, exist_ok=True)
        try:
            (candidate / marker).mkdir()
        except FileExistsError:
            continue
        if any((candidate / name).exists() for name in RUN_FILES):  # an older run written without a record
            (candidate / marker).rmdir()
            continue
        return candidate
    raise AssertionError("unreachable")


def claim_resume_record(run_dir: Path) -> str:
    """``.hydra/resume-N`` (relative to the run folder), the first N not used yet, created atomically: where a
    resume's Hydra record goes, so the run's original ``.hydra/*.yaml`` stay as they were written."""
    for n in itertools.count(1):
        name = f"{RECORD}/{RESUME_RECORD.format(n=n)}"
        try:
            (run_dir / name).mkdir(parents=True)
        except FileExistsError:
            continue
        return name
    raise AssertionError("unreachable")


def run_started(run_dir: Path) -> float:
    """When a run folder was last started (or resumed): the time its record folder last changed."""
    record = run_dir / RECORD
    return (record if record.is_dir() else run_dir).stat().st_mtime


def run_folders(root: Path) -> list[Path]:
    """Run folders under ``root`` (holding ``.hydra`` or ``checkpoints/last.ckpt``), oldest start first."""
    found = {p.parent for p in root.rglob(RECORD) if p.is_dir() and p.parent.name != RECORD}
    found |= {p.parent.parent for p in root.rglob("checkpoints/last.ckpt")}
    found = {d for d in found if RECORD not in d.relative_to(root).parts}
    return sorted(found, key=run_started)


def find_last_checkpoint(experiment_name: str, run_dir: str | None = None, outputs: Path = Path("outputs")) -> Path:
    """What ``ckpt_path=last`` resumes: ``<run_dir>/checkpoints/last.ckpt`` when a run folder is given
    (``hydra.run.dir=D``), else the ``last.ckpt`` of the experiment's newest run. The newest run having none (it
    stopped before its first checkpoint, or is still starting) is an error naming the run that has one: resuming an
    older run silently would report its old results as if they were new."""
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
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flatten(item, f"{prefix}.{key}"))
    return out


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
    """Read ``ckpt`` (weights only) and refuse, in one line naming both sides, a checkpoint whose model or
    datamodule differs from the composed config's. Returns the checkpoint (for :func:`resume_message`)."""
    from seqlab.models.module import CHECKPOINT_KEY, load_checkpoint

    checkpoint = load_checkpoint(ckpt)
    meta = checkpoint[CHECKPOINT_KEY]
    saved = flatten(meta.get("model_config", {}), "model")
    saved_data = (checkpoint.get("hyper_parameters", {}).get("config") or {}).get("data", {}).get("name")
    asked = flatten(model_options, "model")
    if saved_data is not None and data_name is not None:
        saved["data.name"], asked["data.name"] = saved_data, data_name
    problem = config_mismatch(saved, asked)
    if problem:
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
    """The line that says what a run continues from: its own run folder (``in_place``), or a checkpoint that a new
    run folder starts from."""
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


def claim_marker(output_subdir: str | None) -> str:
    """The folder whose creation claims a run folder: Hydra's record folder, or a marker when it writes none."""
    return output_subdir or ".seqlab-run"
