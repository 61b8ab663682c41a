"""The cache of prepared datasets: its identity (derived from a datamodule's class, version and every option),
build folders published by an atomic rename, and the clean-up of builds a killed process left behind."""

from __future__ import annotations

import errno
import inspect
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seqlab.errors import DataError

#: in every cache key; bumped when what ``build`` writes changes meaning, so older caches are rebuilt, not reused
CACHE_FORMAT = 4


def default_cache_dir() -> Path:
    """Where prepared datasets go when a datamodule's config gives no ``cache_dir``: the same place as
    ``paths.cache_dir`` — ``$SEQLAB_CACHE_DIR``, else ``outputs/.cache`` of the working directory."""
    return Path(os.environ.get("SEQLAB_CACHE_DIR") or Path.cwd() / "outputs" / ".cache")


#: the cache file with the count of malformed examples skipped by the build (and the first one), for every run to report
SKIPPED_FILE = "skipped.json"
#: a build folder older than this is removed even when its builder cannot be checked (another host, a reused pid)
STALE_BUILD_HOURS = 24
_BUILD_DIR = re.compile(r"^\.(?P<name>.+)\.build-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]+$")
#: build folders of seqlab versions before the pid was in the name (``tempfile.mkdtemp``): removed by age only
_LEGACY_BUILD_DIR = re.compile(r"^\.[\w]+-[0-9a-f]{16}-[a-z0-9_]{8}$")


def cache_complete(path: Path) -> bool:
    """Whether ``path`` is a finished cache (the last files a build writes are there)."""
    return (path / "spec.json").is_file() and (path / SKIPPED_FILE).is_file()


def remove_stale_builds(folder: Path) -> None:
    """Remove build folders in ``folder`` left by killed builds: this host's whose process is gone, and any older
    than :data:`STALE_BUILD_HOURS` (another host's, or one whose pid was reused)."""
    host = socket.gethostname()
    for entry in list(os.scandir(folder)):  # build_folder made the folder
        found = _BUILD_DIR.match(entry.name)
        if not found and not _LEGACY_BUILD_DIR.match(entry.name):
            continue
        try:
            age_h = (time.time() - entry.stat(follow_symlinks=False).st_mtime) / 3600
        except OSError:
            continue
        dead = found is not None and found["host"] == host and not process_alive(int(found["pid"]))
        if dead or age_h > STALE_BUILD_HOURS:
            shutil.rmtree(entry.path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


@contextmanager
def build_folder(target: Path, complete: Callable[[Path], bool]) -> Iterator[Path]:
    """A fresh folder to build ``target`` in, published as ``target`` by an atomic rename when the block ends
    without error (killed builds' folders beside it are removed first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(target.parent)
    # named after this host and process, so a later run tells a killed build's folder from one being written
    prefix = f".{target.name}.build-{socket.gethostname()}-{os.getpid()}-"
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError as err:
            # two builders may finish together: the loser's rename fails (ENOTEMPTY/EEXIST); it uses the winner's
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            if not complete(target):
                raise DataError(
                    f"{target}: an incomplete folder is in the way of the finished build; remove it"
                ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_arrow_batches(folder: Path, features: dict[str, Any], batches: Iterable[dict[str, Any]]) -> None:
    """Save an Arrow dataset at ``folder`` from ``batches`` (dicts of columns) as they come, never holding it whole,
    in ``save_to_disk``'s layout; ``features``: the ``datasets`` feature type per column."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    types = datasets.Features(features)
    batches = iter(batches)
    first = next(batches, None)
    datasets.Dataset.from_dict(first or {name: [] for name in types}, features=types).save_to_disk(str(folder))
    if first is None:
        return
    (shard,) = folder.glob("data-*.arrow")
    with ArrowWriter(features=types, path=str(shard)) as writer:
        writer.write_batch(first)
        for batch in batches:
            writer.write_batch(batch)
        writer.finalize()


# -- the identity of a cache: class, version and every option ------------------------------------------------------
def constructor_options(cls: type, root: type, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every option an instance of ``cls`` (a subclass of ``root``) is built with: the arguments given, positional
    ones by name, and for the rest the default of the most derived ``__init__`` from ``cls`` up to ``root`` that
    declares the option (options a subclass passes on through ``**kwargs`` included).

    >>> class A:
    ...     def __init__(self, source, seed=1): ...
    >>> class B(A):
    ...     def __init__(self, source="x", own=2, **kwargs): ...
    >>> constructor_options(B, A, ("y",), {"seed": 5})
    {'seed': 5, 'source': 'y', 'own': 2}
    """
    options: dict[str, Any] = {}
    for klass in reversed([k for k in cls.__mro__ if issubclass(k, root)]):
        init = vars(klass).get("__init__")
        for param in list(inspect.signature(init).parameters.values())[1:] if init else ():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and param.default is not param.empty:
                options[param.name] = param.default
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    options.update(zip(positional, args))
    options.update(kwargs)
    return options


def plain(value: Any) -> Any:
    """``value`` as JSON data for a cache key: OmegaConf's containers as dicts and lists, tuples as lists (``split:
    [0.9, 0.05, 0.05]`` from a config is the default ``(0.9, 0.05, 0.05)``), paths and anything else as text."""
    def fallback(v: Any) -> Any:
        return dict(v) if isinstance(v, Mapping) else list(v) if isinstance(v, Sequence) else str(v)

    return json.loads(json.dumps(value, default=fallback))

