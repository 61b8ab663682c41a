"""What every datamodule shares: the datamodule base class and caching. (``DataSpec``, what the model reads, is in
:mod:`seqlab.spec`; imported here for the datamodules.)"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import random
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from seqlab.data.batching import BucketBatchSampler
from seqlab.data.resumable import EpochSampler, ResumableDataLoader
from seqlab.errors import DataError
from seqlab.paths import write_json
from seqlab.spec import DataSpec

log = logging.getLogger("seqlab.data")

#: bumped when what ``build`` writes changes meaning (2: duplicates grouped into one split, data_splits.json,
#: WikiText blank lines kept, spec.start_ids; 3: near-duplicate overlap in data_splits.json), so older caches are
#: rebuilt rather than reused
CACHE_FORMAT = 3

def default_cache_dir() -> Path:
    """Where prepared datasets go when a datamodule's config gives no ``cache_dir``: the same place as
    ``paths.cache_dir`` — ``$SEQLAB_CACHE_DIR``, else ``outputs/.cache`` of the working directory."""
    return Path(os.environ.get("SEQLAB_CACHE_DIR") or Path.cwd() / "outputs" / ".cache")


class SeqDataModule(pl.LightningDataModule):
    """Base class of seqlab datamodules (public plugin API).

    Subclasses implement :meth:`build` (read the source, tokenize with a batched ``datasets.map``, write Arrow
    datasets per split and ``spec.json``) and :meth:`collate`. The base class caches what ``build`` writes under
    ``cache_dir`` keyed by :meth:`cache_key` (only rank 0 builds, in ``prepare_data``; a build is written to a
    temporary folder and renamed when complete, so an interrupted or failed build leaves nothing behind), then
    serves loaders. Splits with a ``length`` column are batched by :class:`BucketBatchSampler` (similar lengths
    together, shuffled buckets, deterministic from ``seed``). Batches are dicts of tensors; see each datamodule.

    A malformed single example (a line, a record, a tune) is skipped and counted with :meth:`malformed` — reported
    at the end of ``prepare_data`` as ``skipped N malformed …`` — unless ``strict=True``, which makes it an error.

    Example — the parity of 8-bit strings as a classification task (docs/plugins.md has a CSV one)::

        >>> import tempfile, datasets, torch
        >>> from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
        >>> class Parity(SeqDataModule):
        ...     name = "parity"
        ...     def cache_key(self):  # nothing is read: the options alone decide what build() writes
        ...         return {"datamodule": self.name, "seed": self.seed}
        ...     def build(self, out_dir):
        ...         vocab = Vocabulary([*SPECIALS, "0", "1"])
        ...         bits = [format(n, "08b") for n in range(256)]
        ...         rows = [{"ids": vocab.encode(list(b)), "label": b.count("1") % 2} for b in bits]
        ...         for split, part in split_by_seed(rows, (0.8, 0.1, 0.1), self.seed).items():
        ...             self.write_split(out_dir, split, datasets.Dataset.from_list(part))
        ...         spec = DataSpec("classification", vocab, Tokenizer("char"), classes=["even", "odd"])
        ...         self.write_spec(out_dir, spec)
        ...     def collate(self, examples):
        ...         return {"inputs": torch.tensor([list(e["ids"]) for e in examples]),
        ...                 "targets": torch.tensor([e["label"] for e in examples]),
        ...                 "lengths": torch.full((len(examples),), 8)}
        >>> data = Parity(source="generated", batch_size=16, cache_dir=tempfile.mkdtemp())
        >>> data.prepare_data(); data.setup("fit")
        >>> batch = next(iter(data.train_dataloader()))
        >>> tuple(batch["inputs"].shape), data.spec.num_classes, sorted(data.splits)
        ((16, 8), 2, ['test', 'train', 'validation'])
    """

    #: name of the registered datamodule (``data=NAME``); set by subclasses
    name: ClassVar[str] = ""

    def __init__(
        self,
        source: str,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 1234,
        cache_dir: str | None = None,
        strict: bool = False,
        bucket: bool = True,
    ):
        super().__init__()
        if batch_size <= 0:
            raise DataError(f"data.batch_size must be positive, got {batch_size}")
        if not source:
            raise DataError("data.source is empty; give a file, folder, glob, builtin:<name> or hf:<name>")
        self.source = str(source)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.strict = strict
        self.bucket = bucket
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self.splits: dict[str, Any] = {}
        self._spec: DataSpec | None = None
        self.skipped: int = 0
        self._skipped_what: str = "examples"
        self._first_skipped: str = ""

    # -- what subclasses provide ----------------------------------------------------------------------------------
    def cache_key(self) -> dict[str, Any]:
        """Everything that changes what :meth:`build` produces. Subclasses extend it with their options."""
        return {
            "datamodule": self.name,
            "source": source_signature(self.source),
            "seed": self.seed,
            "strict": self.strict,  # a strict run never reuses what a lenient one built by skipping bad examples
            "format": CACHE_FORMAT,
        }

    def build(self, out_dir: Path) -> None:
        """Read the source and write ``out_dir/<split>`` Arrow datasets and ``out_dir/spec.json``."""
        raise NotImplementedError

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def malformed(self, where: str, reason: str, what: str = "examples") -> None:
        """Count one malformed example at ``where`` (``file:line``); with ``strict`` it is an error instead."""
        if self.strict:
            raise DataError(f"{where}: {reason} (data.strict=true; set data.strict=false to skip such {what})")
        if not self.skipped:
            self._first_skipped = f"{where}: {reason}"
        self.skipped += 1
        self._skipped_what = what

    def write_split(self, out_dir: Path, split: str, dataset: Any) -> None:
        """Save one split's Arrow dataset into the build folder."""
        dataset.save_to_disk(str(out_dir / split))

    def write_split_report(
        self,
        out_dir: Path,
        keys: dict[str, list[Hashable]],
        made: tuple[str, ...],
        near: dict[str, Any] | None = None,
    ) -> None:
        """Save :func:`split_report` of the splits into the build folder (``keys``: normalised text per example;
        ``made``: the splits seqlab made, see :func:`split_by_seed`; ``near``: the near-duplicate measure,
        :func:`seqlab.data.overlap.near_duplicates`, or None where none applies)."""
        (out_dir / SPLITS_FILE).write_text(json.dumps({**split_report(keys, made), "near_duplicates": near}))

    def save_split_report(self, run_dir: Path) -> dict[str, Any]:
        """Write ``<run_dir>/data_splits.json`` and warn in one line when val/test texts also occur in train.

        A datamodule that recorded no report (a plugin's) gets the split sizes with ``null`` for the rest.
        """
        recorded = self.cache_path / SPLITS_FILE
        if recorded.exists():
            report = json.loads(recorded.read_text())
        else:
            sizes = {"train": "train", "val": "validation", "test": "test"}
            report = {k: len(self.splits[s]) if s in self.splits else 0 for k, s in sizes.items()}
            report.update(duplicates_grouped=None, val_overlap=None, test_overlap=None, near_duplicates=None)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / SPLITS_FILE, report, indent=2)
        if report["val_overlap"] or report["test_overlap"]:
            # a built-in corpus's splits are fixed: a note in config.log; a source's own splits: kept (figures on
            # them compare with published ones), so the warning says how to have seqlab split it instead
            builtin = str(self.source).startswith("builtin:")
            advice = ("a built-in corpus's fixed splits" if builtin else "the source's own splits, kept as given; "
                      "for splits with duplicates grouped give one file and data.split")
            (log.info if builtin else log.warning)(
                "%s: %.1f %% of the validation and %.1f %% of the test examples of %s also occur in train "
                "(%s; see %s)",
                self.name,
                100 * report["val_overlap"],
                100 * report["test_overlap"],
                self.source,
                advice,
                run_dir / SPLITS_FILE,
            )
        return report

    def write_split_batches(
        self, out_dir: Path, split: str, features: dict[str, Any], batches: Iterable[dict[str, Any]]
    ) -> None:
        """Save one split's Arrow dataset from ``batches`` (dicts of columns) as they come, so the split is never
        held in memory whole. ``features``: ``datasets`` feature types per column. The layout is ``save_to_disk``'s
        (it writes the first batch with the folder's metadata; the rest is streamed into its shard)."""
        import datasets
        from datasets.arrow_writer import ArrowWriter

        types = datasets.Features(features)
        batches = iter(batches)
        first = next(batches, None)
        folder = out_dir / split
        datasets.Dataset.from_dict(first or {name: [] for name in types}, features=types).save_to_disk(str(folder))
        if first is None:
            return
        (shard,) = folder.glob("data-*.arrow")
        with ArrowWriter(features=types, path=str(shard)) as writer:
            writer.write_batch(first)
            for batch in batches:
                writer.write_batch(batch)
            writer.finalize()

    def write_spec(self, out_dir: Path, spec: DataSpec) -> None:
        """Save the spec (and the vocabulary, for people reading the cache) into the build folder."""
        (out_dir / "spec.json").write_text(json.dumps(spec.to_dict(), ensure_ascii=False), encoding="utf-8")
        spec.vocab.save(out_dir / "vocab.json")
        if spec.target_vocab is not None:
            spec.target_vocab.save(out_dir / "target_vocab.json")

    # -- caching and loaders --------------------------------------------------------------------------------------
    @property
    def cache_path(self) -> Path:
        digest = hashlib.sha256(json.dumps(self.cache_key(), sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / f"{self.name}-{digest}"

    def prepare_data(self) -> None:
        """Build the cache once (rank 0). A build is written to a temporary folder and renamed when complete."""
        target = self.cache_path
        if cache_complete(target):
            return
        import datasets

        datasets.disable_progress_bars()
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_builds(target.parent)
        tmp = make_build_dir(target)
        self.skipped = 0
        try:
            self.build(tmp)
            skipped = {"skipped": self.skipped, "what": self._skipped_what, "first": self._first_skipped}
            (tmp / SKIPPED_FILE).write_text(json.dumps(skipped, ensure_ascii=False), encoding="utf-8")
            publish_dir(tmp, target, cache_complete)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def setup(self, stage: str | None = None) -> None:
        if self._spec is not None:
            return
        import datasets

        datasets.disable_progress_bars()
        path = self.cache_path
        if not (path / "spec.json").exists():
            self.prepare_data()
        self._spec = DataSpec.from_dict(json.loads((path / "spec.json").read_text(encoding="utf-8")))
        skipped = json.loads((path / SKIPPED_FILE).read_text(encoding="utf-8"))
        self.skipped, self._skipped_what = skipped["skipped"], skipped["what"]
        self._first_skipped = skipped.get("first", "")
        if self.skipped and self.replica()[1] == 0:  # every run that uses the cache says what it lacks, once
            log.warning(
                "%s: skipped %d malformed %s in %s (first: %s); data.strict=true makes this an error",
                self.name,
                self.skipped,
                self._skipped_what,
                self.source,
                self._first_skipped,
            )
        for split in ("train", "validation", "test"):
            if (path / split).exists():
                self.splits[split] = datasets.load_from_disk(str(path / split)).with_format("numpy")

    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            self.setup()
        assert self._spec is not None
        return self._spec

    def replica(self) -> tuple[int, int]:
        """``(world_size, rank)`` of the attached trainer; ``(1, 0)`` before a trainer is attached."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.splits[split]
        common = dict(num_workers=self.num_workers, collate_fn=self.collate, persistent_workers=self.num_workers > 0)
        sampler = EpochSampler(len(dataset), self.seed, shuffle)
        if self.bucket and "length" in dataset.column_names:
            world_size, rank = self.replica()
            batches = BucketBatchSampler(
                sampler,
                self.batch_size,
                column_array(dataset, "length"),
                shuffle=shuffle,
                seed=self.seed,
                num_replicas=world_size,
                rank=rank,
            )
            return ResumableDataLoader(dataset, batch_sampler=batches, **common)
        return ResumableDataLoader(dataset, batch_size=self.batch_size, sampler=sampler, **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=not self.spec.stateful)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if "test" in self.splits else "validation", shuffle=False)


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


def make_build_dir(target: Path) -> Path:
    """A fresh folder next to ``target`` to build into, named after this host and process, so a later run can tell
    the folder of a killed build (its process is gone) from one still being written."""
    prefix = f".{target.name}.build-{socket.gethostname()}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))


def remove_stale_builds(folder: Path) -> None:
    """Remove build folders in ``folder`` left by killed builds: this host's whose process is gone, and any older
    than :data:`STALE_BUILD_HOURS` (another host's, or one whose pid was reused)."""
    host = socket.gethostname()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
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


def publish_dir(tmp: Path, target: Path, complete: Callable[[Path], bool]) -> bool:
    """Move the finished build ``tmp`` to ``target`` atomically; True if this build was published.

    Two builders may finish together: ``rename`` is atomic, so exactly one wins; the loser's rename fails with
    ``ENOTEMPTY``/``EEXIST`` because the winner's complete folder is there — it drops its own copy and uses that one.
    """
    try:
        os.rename(tmp, target)
        return True
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    if not complete(target):
        raise DataError(f"{target}: an incomplete folder is in the way of the finished build; remove it")
    return False


def column_array(dataset: Any, column: str) -> np.ndarray:
    """One column of an Arrow dataset as a numpy array, read straight from Arrow (no per-row Python)."""
    return dataset.data.column(column).to_numpy()


def source_signature(source: str) -> dict[str, Any]:
    """Identify a source's content cheaply: for local files their paths, sizes and modification times."""
    if source.startswith("hf:") and Path(parse_hf(source)[0]).expanduser().is_dir():  # a local copy of a hub dataset
        files = resolve_files(str(Path(parse_hf(source)[0]).expanduser()))
        return {"source": source, "files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]}
    if is_remote_or_builtin(source):
        return {"source": source}
    files = resolve_files(source)
    return {"files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]}


def is_remote_or_builtin(source: str) -> bool:
    """``hf:<name>`` and ``builtin:<name>`` sources (unless a local path of that name exists)."""
    return ":" in source and source.split(":", 1)[0] in ("hf", "builtin") and not Path(source).exists()


def resolve_files(source: str, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """A file, a folder (its files, recursively) or a glob → the list of files. Raises a clear DataError.

    Symlinks are followed, but never into a folder already visited (a link to an ancestor is a loop), and a file
    reached by several paths is listed once (by its real path), so every file is read exactly once.
    """
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = unique_files(
            p for p in walk_files(path) if not p.name.startswith(".") and (not suffixes or p.suffix in suffixes)
        )
        if not files:
            raise DataError(f"data.source: folder {path} holds no {'/'.join(suffixes) or ''} files")
        return files
    matches = unique_files(glob_files(str(path)))
    if not matches:
        raise DataError(
            f"data.source: {source} does not exist (expected a file, folder, glob, builtin:<name> or hf:<name>)"
        )
    return matches


def walk_files(root: Path) -> Iterator[Path]:
    """Every file under ``root``, following symlinked folders but entering each real folder once, so a symlink
    loop (or two) ends instead of recursing until the path is too long."""
    seen: set[tuple[int, int]] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        here = os.stat(folder)
        seen.add((here.st_dev, here.st_ino))
        kept = []
        # real folders before links to them, so files are listed under their own path where possible
        for name in sorted(dirnames, key=lambda d: (os.path.islink(os.path.join(folder, d)), d)):
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:  # a dangling link or a link loop: nothing to read there
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            file = Path(folder, name)
            if file.is_file():
                yield file


def glob_files(pattern: str) -> Iterator[Path]:
    """Files matching a glob. ``**`` (any number of folders) is matched over :func:`walk_files`, which does not
    follow symlink loops (``glob.glob(recursive=True)`` does, until the path is too long); like ``glob``, ``*`` and
    ``**`` do not match names starting with a dot."""
    import glob

    if "**" not in pattern:
        yield from (Path(p) for p in glob.glob(pattern) if Path(p).is_file())
        return
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:fixed]) if fixed else Path(".")
    if not root.is_dir():
        return
    for file in walk_files(root):
        relative = file.relative_to(root).parts
        if _glob_match(relative, parts[fixed:]):
            yield Path(*parts[:fixed], *relative) if fixed else Path(*relative)


def _glob_match(names: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether path components ``names`` match glob components ``pattern`` (``**``: zero or more components)."""
    import fnmatch

    if not pattern:
        return not names
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob_match(names[i:], rest) for i in range(len(names) + 1) if not _hidden(names[:i]))
    if not names or (names[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], head) and _glob_match(names[1:], rest)


def _hidden(names: tuple[str, ...]) -> bool:
    return any(name.startswith(".") for name in names)


def unique_files(paths: Iterable[Path]) -> list[Path]:
    """``paths`` sorted, each real file once (the first path that reaches it)."""
    out, seen = [], set()
    for path in sorted(paths):
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


def read_text(path: Path) -> str:
    """Read a non-empty UTF-8 text file; an empty file or non-UTF-8 bytes are reported with the file and line."""
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); "
            "convert the file to UTF-8"
        ) from None


#: seconds the hub may take to accept a connection before a hub source is reported as unreachable (instead of
#: huggingface_hub's five retries with back-off, ~25 s)
HUB_PROBE_TIMEOUT = 3.0


def parse_hf(source: str) -> tuple[str, str | None]:
    """``hf:<name>[:<config>]`` → ``(name, config)``; the name may be a hub id or a local copy's folder."""
    parts = source.split(":")
    if len(parts) < 2 or not parts[1]:
        raise DataError(f"data.source={source}: expected hf:<name>[:<config>]")
    return parts[1], (parts[2] if len(parts) > 2 and parts[2] else None)


def hub_unreachable(name: str = "") -> str | None:
    """Why the Hugging Face hub cannot serve a dataset now (None when it can, or when ``HF_HUB_OFFLINE`` is set and
    the datasets cache is to be used): one HTTP request for the dataset's record (``HF_ENDPOINT/api/datasets/<name>``,
    through the environment's proxies) within :data:`HUB_PROBE_TIMEOUT` seconds, name lookup included (run in a
    thread, since ``getaddrinfo`` has no timeout of its own). A refused or timed-out connection, or a server error
    (a proxy's ``502 Bad Gateway``), is a reason; an answer of the hub itself (200, or 401/403/404 for a gated or
    missing dataset, which ``datasets`` then reports) is not."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    endpoint = constants.ENDPOINT.rstrip("/")
    url = f"{endpoint}/api/datasets/{name}" if name else endpoint

    def request() -> None:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=HUB_PROBE_TIMEOUT).close()

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(request).result(timeout=HUB_PROBE_TIMEOUT + 0.5)
    except FutureTimeout:
        return f"{endpoint} did not answer within {HUB_PROBE_TIMEOUT:g} s"
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code == 407:
            return f"{endpoint} answered HTTP {err.code} {err.reason}"
    except urllib.error.URLError as err:
        reason = err.reason
        return f"{endpoint}: {getattr(reason, 'strerror', None) or reason}"
    except OSError as err:
        return f"{endpoint}: {err.strerror or err}"
    finally:
        pool.shutdown(wait=False)
    return None


def load_hf(source: str) -> Any:
    """``hf:<name>[:<config>]`` → the ``DatasetDict`` from the Hugging Face hub, its local cache, or a local copy.

    ``name`` is a hub id (``Salesforce/wikitext``) or the folder of a local copy laid out as on the hub (a clone of
    the dataset repository: ``<config>/<split>-*.parquet``, or the config's folder itself); both go through
    ``datasets.load_dataset``. When the hub cannot be reached the source fails within seconds (not after
    huggingface_hub's retries), saying how to use a local copy.
    """
    import datasets
    from huggingface_hub import constants

    name, config = parse_hf(source)
    local = Path(name).expanduser().is_dir()
    copy = f"hf:/path/to/{Path(name).name}" + (f":{config}" if config else "")
    fetch = f"download the dataset where there is network (git clone https://huggingface.co/datasets/{name})"
    if not local:
        reason = hub_unreachable(name)
        if reason:
            raise DataError(
                f"data.source={source}: cannot reach the Hugging Face hub ({reason}); {fetch} and set "
                f"data.source={copy}, or set HF_HUB_OFFLINE=1 to use the datasets cache"
            )
    if local:  # a copy of the hub repository keeps each config's files in a folder named after it
        folder = Path(name).expanduser()
        name, config = (str(folder / config), None) if config and (folder / config).is_dir() else (str(folder), config)
    try:
        return datasets.load_dataset(name, config)
    except Exception as err:  # the hub, the network or the cache: report in one line
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "LocalEntryNotFoundError" in reason and not local and not constants.HF_HUB_OFFLINE:
            raise DataError(  # the hub failed mid-way (after the probe): huggingface_hub's message names no cause
                f"data.source={source}: the Hugging Face hub ({constants.ENDPOINT}) did not serve it and it is not in "
                f"the datasets cache; {fetch} and set data.source={copy}, or set HF_HUB_OFFLINE=1 to use the "
                "datasets cache"
            ) from None
        if constants.HF_HUB_OFFLINE and not local:
            raise DataError(
                f"data.source={source}: not in the datasets cache and HF_HUB_OFFLINE is set ({reason}); {fetch} "
                f"and set data.source={copy}"
            ) from None
        raise DataError(f"data.source={source}: cannot load with datasets.load_dataset ({reason})") from None


#: Hugging Face split names → seqlab's
HF_SPLITS = {"train": "train", "validation": "validation", "valid": "validation", "dev": "validation", "test": "test"}


def split_by_seed(
    items: list[Any], fractions: tuple[float, ...], seed: int, key: Callable[[Any], Hashable] | None = None
) -> dict[str, list[Any]]:
    """Assign items to train/validation/test by a seeded shuffle (the same seed, the same split; order kept).

    With ``key`` (the datamodule's normalised text of an item), items with equal keys — exact duplicates after
    normalisation — form one group that goes to one split as a whole, so no validation or test example also
    occurs in train. The groups (in order of first appearance) are shuffled and cut by ``fractions`` of their
    count; without duplicates this is the same split as one without ``key``.
    """
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item) if key else i, []).append(i)
    members = list(groups.values())
    order = list(range(len(members)))
    random.Random(seed).shuffle(order)
    n_train = round(fractions[0] * len(members))
    n_val = round(fractions[1] * len(members))
    cuts = {"train": order[:n_train], "validation": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {
        s: [items[i] for i in sorted(i for g in idx for i in members[g])] for s, idx in cuts.items() if idx
    }


#: the run file (and the cache file) that says how the splits were made and how much of val/test occurs in train
SPLITS_FILE = "data_splits.json"
ALL_SPLITS = ("train", "validation", "test")


def split_report(keys: dict[str, list[Hashable]], made: tuple[str, ...] = ()) -> dict[str, Any]:
    """How the splits look: ``{"train": N, "val": N, "test": N, "duplicates_grouped": K, "val_overlap": x,
    "test_overlap": y}``.

    ``keys`` holds each split's examples as normalised texts; ``made`` names the splits seqlab made with
    :func:`split_by_seed` (the rest came with the source). ``K`` = examples of those splits that duplicate
    another one there (kept in the same split as it); ``x``/``y`` = share of val/test examples whose normalised
    text also occurs in train — 0.0 when seqlab made the splits. Empty texts (a WikiText blank line) are not
    examples of text and count in neither share.
    """
    train = set(keys.get("train", []))

    def overlap(split: str) -> float:
        texts = [k for k in keys.get(split, []) if k != ""]
        return round(sum(k in train for k in texts) / len(texts), 6) if texts else 0.0

    made_keys = [k for split in made for k in keys.get(split, [])]
    return {
        "train": len(keys.get("train", [])),
        "val": len(keys.get("validation", [])),
        "test": len(keys.get("test", [])),
        "duplicates_grouped": len(made_keys) - len(set(made_keys)),
        "val_overlap": overlap("validation"),
        "test_overlap": overlap("test"),
    }


def check_fractions(split: Any) -> tuple[float, float, float]:
    """Validate ``data.split`` (three non-negative fractions summing to 1)."""
    values = tuple(float(f) for f in split)
    if len(values) != 3 or any(f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-6:
        raise DataError(f"data.split must be three non-negative fractions summing to 1, got {list(split)}")
    return values  # type: ignore[return-value]


def required_splits(source: str, splits: dict[str, Any]) -> None:
    """Training needs a train and a validation split."""
    if not splits.get("train"):
        raise DataError(f"data.source={source}: no training examples")
    if not splits.get("validation"):
        total = sum(len(part) for part in splits.values() if part is not None)
        if total < 3:  # no split fractions can make three non-empty splits from fewer than three examples
            raise DataError(f"data.source={source}: only {total} example(s) in all, too few to split into train, "
                            "validation and test; add more text or give a validation file")
        raise DataError(f"data.source={source}: no validation examples (add a validation file or change data.split)")


def stream_windows(ids: np.ndarray, seq_len: int, stride: int, where: str) -> np.ndarray:
    """A split's token stream ``(N,)`` → windows ``(W, seq_len + 1)`` starting ``stride`` apart (inputs and their
    next-token targets); ``where`` names the source and split in the one-line error for a too-short split."""
    width = seq_len + 1
    if len(ids) < width:
        raise DataError(f"{where} has {len(ids)} tokens, fewer than data.seq_len + 1 = {width}; lower data.seq_len")
    return np.lib.stride_tricks.sliding_window_view(ids, width)[::stride].copy()
