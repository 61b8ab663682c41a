"""The datamodule base class (the public plugin API): its options and cache identity, the one way a source's
splits are read, and the loaders. (``DataSpec``, what the model reads, is in :mod:`seqlab.spec`.)"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from seqlab.data.batching import BucketBatchSampler, column_array
from seqlab.data.cache import (
    CACHE_FORMAT,
    SKIPPED_FILE,
    build_folder,
    cache_complete,
    constructor_options,
    default_cache_dir,
    plain,
    write_arrow_batches,
)
from seqlab.data.resumable import EpochSampler, ResumableDataLoader
from seqlab.data.sources import is_remote_or_builtin, load_hf, resolve_files, source_signature
from seqlab.data.splits import ALL_SPLITS, SPLIT_NAMES, SPLITS_FILE, save_split_report, split_by_seed, split_report
from seqlab.errors import DataError
from seqlab.schema import data as schema
from seqlab.spec import DataSpec

log = logging.getLogger("seqlab.data")


class SeqDataModule(pl.LightningDataModule):
    """Base class of seqlab datamodules (public plugin API).

    Subclasses implement :meth:`build` (read the source with :meth:`read_splits` and its ``read_*`` hooks, write
    Arrow datasets per split and ``spec.json``) and :meth:`collate`. The base class caches what ``build`` writes,
    keyed by :meth:`cache_key`, so a subclass's own options key its cache with no code. Splits with a ``length``
    column are batched by :class:`BucketBatchSampler`. A malformed example is skipped and counted with
    :meth:`malformed` unless ``strict=True``, which makes it an error.

    Example — the parity of 8-bit strings as a classification task (docs/plugins.md has a CSV one)::

        >>> import tempfile, datasets, torch
        >>> from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
        >>> class Parity(SeqDataModule):
        ...     name = "parity"
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
    #: bump when what this class's ``build`` writes changes meaning, so its older caches are rebuilt, not reused
    version: ClassVar[int] = 1
    #: options that cannot change what ``build`` writes (they serve batches, or the class's build never reads them):
    #: left out of :meth:`cache_key`; a subclass extends the tuple, e.g. ``(*SeqDataModule.unkeyed_options, "bptt")``
    unkeyed_options: ClassVar[tuple[str, ...]] = ("batch_size", "num_workers", "cache_dir", "bucket")
    #: the ``builtin:`` sources a subclass offers (read by :meth:`read_builtin`), listed when another is asked for
    builtin_sources: ClassVar[tuple[str, ...]] = ()
    #: suffixes of the files :meth:`read_splits` reads from a folder source (empty: every file)
    file_suffixes: ClassVar[tuple[str, ...]] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> SeqDataModule:
        self = super().__new__(cls)
        #: every option this datamodule was built with, defaults included: the identity of its cache
        self.constructor_options = constructor_options(cls, SeqDataModule, args, kwargs)
        return self

    def __init__(
        self,
        source: str,
        batch_size: int = schema.Examples.batch_size,
        num_workers: int = schema.Examples.num_workers,
        seed: int = 1234,
        cache_dir: str | None = None,
        strict: bool = schema.Examples.strict,
        bucket: bool = schema.Examples.bucket,
    ):
        super().__init__()
        if not source:
            raise DataError("data.source is empty; give a file, folder, glob, builtin:<name> or hf:<name>")
        self.source, self.batch_size, self.num_workers, self.seed = str(source), batch_size, num_workers, seed
        self.strict, self.bucket, self.cache_dir = strict, bucket, Path(cache_dir or default_cache_dir())
        self.splits: dict[str, Any] = {}
        #: the splits seqlab made (by :meth:`split`) when reading the source; the rest came with it
        self.made_splits: tuple[str, ...] = ()
        self._spec: DataSpec | None = None
        self.skipped: int = 0
        self._skipped_what: str = "examples"
        self._first_skipped: str = ""

    # -- what subclasses provide ----------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        """Read the source and write ``out_dir/<split>`` Arrow datasets and ``out_dir/spec.json``."""
        raise NotImplementedError

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def unread_options(self) -> tuple[str, ...]:
        """Options this instance's ``build`` does not read, left out of :meth:`cache_key` too (none by default: an
        option left in costs a rebuild, never a wrong cache)."""
        return ()

    def read_builtin(self, out_dir: Path) -> dict[str, list[Any]]:
        """The examples per split of ``builtin:<name>``; ``out_dir``: the build folder, for generated files."""
        raise self.unknown_builtin()

    def read_file(self, file: Path) -> list[Any]:
        raise NotImplementedError

    def read_hf_split(self, part: Any, where: str) -> list[Any]:
        """The examples of one split of a hub dataset; ``where`` (``hf:name[split]``) names it in errors."""
        raise NotImplementedError

    def split_key(self, example: Any) -> Hashable:
        """An example as the model sees it (normalised), so exact duplicates go to one split (:func:`split_by_seed`)."""
        return example

    # -- reading a source -----------------------------------------------------------------------------------------
    def read_splits(self, out_dir: Path) -> dict[str, list[Any]]:
        """The source's examples per split: ``builtin:`` → :meth:`read_builtin`; ``hf:`` → :meth:`read_hf_split` per
        split (train cut by seed without a validation split); a folder whose files name their split
        (:meth:`split_files`) → each in its split; otherwise :meth:`read_file` of every file, split by seed."""
        self.made_splits = ()
        if self.source.startswith("builtin:"):
            if self.source not in self.builtin_sources:
                raise self.unknown_builtin()
            return self.read_builtin(out_dir)
        if self.source.startswith("hf:") and is_remote_or_builtin(self.source):
            dataset = load_hf(self.source)
            parts = [name for name in dataset if name in SPLIT_NAMES]
            out = {SPLIT_NAMES[name]: self.read_hf_split(dataset[name], f"{self.source}[{name}]") for name in parts}
            if "validation" in out or "train" not in out:
                return out
            made = ("train", "validation") if "test" in out else ALL_SPLITS
            return self.split(out["train"], made) | ({"test": out["test"]} if "test" in out else {})
        path = Path(self.source).expanduser()
        named = self.split_files(path) if path.is_dir() else {}
        if named:
            return self.read_split_files(named)
        files = resolve_files(self.source, self.file_suffixes if path.is_dir() else ())
        return self.split([example for file in files for example in self.read_file(file)])

    def split_files(self, folder: Path) -> dict[str, list[Path]]:
        """A folder source's files named after a split (``dev.conllu``, ``valid.tsv``; :data:`SPLIT_NAMES`)."""
        named: dict[str, list[Path]] = {}
        for file in resolve_files(str(folder), self.file_suffixes):
            named.setdefault(SPLIT_NAMES.get(file.stem.lower(), ""), []).append(file)
        return {split: files for split, files in named.items() if split}

    def read_split_files(self, named: dict[str, list[Path]]) -> dict[str, list[Any]]:
        """The examples of :meth:`split_files`' files, each in the split its name says."""
        return {split: [e for file in files for e in self.read_file(file)] for split, files in named.items()}

    def split(self, examples: list[Any], made: tuple[str, ...] = ALL_SPLITS) -> dict[str, list[Any]]:
        """:func:`split_by_seed` of ``examples`` by ``data.split`` (``self.split_fractions``), duplicates by
        :meth:`split_key` grouped; ``made`` names the splits this makes, for the split report."""
        self.made_splits = made
        return split_by_seed(examples, self.split_fractions, self.seed, key=self.split_key)

    def unknown_builtin(self) -> DataError:
        available = ", ".join(self.builtin_sources) or "none"
        return DataError(f"data.source: unknown built-in '{self.source}'; available: {available}")

    # -- what a build writes --------------------------------------------------------------------------------------
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
        """Save :func:`split_report` of ``keys`` and ``made`` into the build folder, with ``near``
        (:func:`seqlab.data.overlap.near_duplicates`, or None)."""
        (out_dir / SPLITS_FILE).write_text(json.dumps({**split_report(keys, made), "near_duplicates": near}))

    def save_split_report(self, run_dir: Path) -> dict[str, Any]:
        """Write ``<run_dir>/data_splits.json`` (:func:`~seqlab.data.splits.save_split_report`)."""
        sizes = {split: len(data) for split, data in self.splits.items()}
        return save_split_report(self.cache_path / SPLITS_FILE, run_dir, sizes, self.name, self.source)

    def write_split_batches(self, out_dir: Path, split: str, features: dict, batches: Iterable[dict]) -> None:
        """Save one split from ``batches`` of columns as they come (:func:`~seqlab.data.cache.write_arrow_batches`)."""
        write_arrow_batches(out_dir / split, features, batches)

    def write_spec(self, out_dir: Path, spec: DataSpec) -> None:
        """Save the spec (and the vocabulary, for people reading the cache) into the build folder."""
        (out_dir / "spec.json").write_text(json.dumps(spec.to_dict(), ensure_ascii=False), encoding="utf-8")
        spec.vocab.save(out_dir / "vocab.json")
        if spec.target_vocab is not None:
            spec.target_vocab.save(out_dir / "target_vocab.json")

    # -- caching and loaders --------------------------------------------------------------------------------------
    def cache_key(self) -> dict[str, Any]:
        """What the cache is keyed by: the class, :attr:`version` and every constructor option but the
        :attr:`unkeyed_options` and :meth:`unread_options` — ``source`` as its files' paths, sizes and times."""
        left_out = {*self.unkeyed_options, *self.unread_options()}
        options = {k: v for k, v in self.constructor_options.items() if k not in left_out}
        if "source" in options:
            options["source"] = source_signature(self.source)
        name = f"{type(self).__module__}.{type(self).__qualname__}"
        return {"class": name, "version": self.version, "format": CACHE_FORMAT, "options": plain(options)}

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
        self.skipped = 0
        with build_folder(target, cache_complete) as tmp:
            self.build(tmp)
            skipped = {"skipped": self.skipped, "what": self._skipped_what, "first": self._first_skipped}
            (tmp / SKIPPED_FILE).write_text(json.dumps(skipped, ensure_ascii=False), encoding="utf-8")

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
        self.skipped, self._skipped_what, self._first_skipped = skipped["skipped"], skipped["what"], skipped["first"]
        if self.skipped and self.replica()[1] == 0:  # every run that uses the cache says what it lacks, once
            log.warning(
                "%s: skipped %d malformed %s in %s (first: %s); data.strict=true makes this an error",
                self.name,
                self.skipped,
                self._skipped_what,
                self.source,
                self._first_skipped,
            )
        for split in ALL_SPLITS:
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
        return (1, 0) if trainer is None else (trainer.world_size, trainer.global_rank)

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
