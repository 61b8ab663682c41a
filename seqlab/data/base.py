"""What every datamodule shares: the ``DataSpec`` the model reads, the datamodule base class, and caching."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from seqlab.data.vocab import Tokenizer, Vocabulary

TASKS = ("language_model", "classification", "translation", "conditional_generation", "tagging")


@dataclass
class DataSpec:
    """Everything the model needs to know about the data — the model never reads the data's config.

    ``task`` is one of :data:`TASKS`; the default head follows it. ``vocab`` is the input vocabulary;
    ``target_vocab`` the output one where it differs (translation, tagging); ``classes`` names the labels.
    """

    task: str
    vocab: Vocabulary
    tokenizer: Tokenizer
    target_vocab: Vocabulary | None = None
    target_tokenizer: Tokenizer | None = None
    classes: list[str] = field(default_factory=list)
    max_length: int | None = None
    #: consecutive training batches continue the same streams (truncated BPTT: the module carries state)
    stateful: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task '{self.task}'; tasks are {', '.join(TASKS)}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return self.vocab.pad_id

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def encode(self, text: str) -> list[int]:
        """Text → input ids (no ``<bos>``/``<eos>`` added)."""
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def decode(self, ids: list[int], target: bool = False) -> str:
        """Ids → text, special tokens dropped; ``target=True`` uses the target vocabulary where there is one."""
        vocab = self.target_vocab if target and self.target_vocab else self.vocab
        tokenizer = self.target_tokenizer if target and self.target_tokenizer else self.tokenizer
        return tokenizer.detokenize(vocab.decode(ids, skip_specials=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, strings, numbers) — what checkpoints store."""
        out = asdict(self)
        out["vocab"] = self.vocab.to_dict()
        out["tokenizer"] = self.tokenizer.to_dict()
        out["target_vocab"] = self.target_vocab.to_dict() if self.target_vocab else None
        out["target_tokenizer"] = self.target_tokenizer.to_dict() if self.target_tokenizer else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        data = dict(data)
        data["vocab"] = Vocabulary.from_dict(data["vocab"])
        data["tokenizer"] = Tokenizer.from_dict(data["tokenizer"])
        if data.get("target_vocab"):
            data["target_vocab"] = Vocabulary.from_dict(data["target_vocab"])
        if data.get("target_tokenizer"):
            data["target_tokenizer"] = Tokenizer.from_dict(data["target_tokenizer"])
        return cls(**data)


class DataError(ValueError):
    """Bad input data. Its message names the file (and line) and what is wrong; the CLI prints it as one line."""


class SeqDataModule(pl.LightningDataModule):
    """Base class of seqlab datamodules (public plugin API).

    Subclasses implement :meth:`build` (read the source, tokenize, return Arrow datasets per split and the spec's
    parts), and :meth:`collate`. The base class caches what ``build`` returns under ``cache_dir`` keyed by
    :meth:`cache_key` (only rank 0 builds, in ``prepare_data``; an interrupted build leaves nothing behind), then
    serves loaders. Batches are dicts of tensors; see each datamodule for its keys.
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
    ):
        super().__init__()
        if batch_size <= 0:
            raise DataError(f"data.batch_size must be positive, got {batch_size}")
        self.source = source
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.strict = strict
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "seqlab-cache")
        self.splits: dict[str, Any] = {}
        self._spec: DataSpec | None = None
        self.skipped: int = 0

    # -- what subclasses provide ----------------------------------------------------------------------------------
    def cache_key(self) -> dict[str, Any]:
        """Everything that changes what :meth:`build` produces. Subclasses extend it with their options."""
        return {"datamodule": self.name, "source": source_signature(self.source), "seed": self.seed}

    def build(self, out_dir: Path) -> None:
        """Read the source and write ``out_dir/<split>`` Arrow datasets and ``out_dir/spec.json``."""
        raise NotImplementedError

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- caching and loaders --------------------------------------------------------------------------------------
    @property
    def cache_path(self) -> Path:
        digest = hashlib.sha256(json.dumps(self.cache_key(), sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / f"{self.name}-{digest}"

    def prepare_data(self) -> None:
        """Build the cache once (rank 0). A build is written to a temporary folder and renamed when complete."""
        target = self.cache_path
        if (target / "spec.json").exists():
            return
        import datasets

        datasets.disable_progress_bars()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            self.build(tmp)
            (tmp / "skipped.json").write_text(json.dumps({"skipped": self.skipped}))
            os.replace(tmp, target) if not target.exists() else shutil.rmtree(tmp)
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
        self._spec = DataSpec.from_dict(json.loads((path / "spec.json").read_text()))
        self.skipped = json.loads((path / "skipped.json").read_text())["skipped"]
        for split in ("train", "validation", "test"):
            if (path / split).exists():
                self.splits[split] = datasets.load_from_disk(str(path / split)).with_format("numpy")

    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            self.setup()
        assert self._spec is not None
        return self._spec

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=self.collate,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=not self.spec.stateful)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if "test" in self.splits else "validation", shuffle=False)


def source_signature(source: str) -> dict[str, Any]:
    """Identify a source's content cheaply: for local files their paths, sizes and modification times."""
    if ":" in source and not Path(source).exists() and source.split(":", 1)[0] in ("hf", "builtin"):
        return {"source": source}
    files = resolve_files(source)
    return {"files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]}


def resolve_files(source: str, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """A file, a folder (its files, recursively) or a glob → the list of files. Raises a clear DataError."""
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and (not suffixes or p.suffix in suffixes))
        if not files:
            raise DataError(f"data.source: folder {path} holds no {'/'.join(suffixes) or ''} files")
        return files
    import glob

    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not matches:
        raise DataError(f"data.source: {source} does not exist (expected a file, folder, glob or hf:<name>)")
    return matches


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; non-UTF-8 bytes are reported with the file and line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start})"
        ) from None
