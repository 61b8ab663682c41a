"""Language-modelling text: character- or word-level, cut into fixed windows of a token stream."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.base import DataError, DataSpec, SeqDataModule, read_text, resolve_files
from seqlab.data.vocab import Tokenizer, Vocabulary

SPLITS = ("train", "validation", "test")


def builtin_corpus(name: str) -> str:
    """Offline corpora that exist on every machine with Python.

    ``python_reference``: the Python Language Reference topics that CPython ships for ``help()``
    (``pydoc_data.topics``, ~460 kB of English prose with code) — real text, no download.
    """
    if name == "python_reference":
        from pydoc_data.topics import topics

        return "\n\n".join(topics[k].strip() for k in sorted(topics))
    raise DataError(
        f"data.source: unknown built-in corpus 'builtin:{name}'; available: builtin:python_reference"
    )


def load_hf_text(spec: str, column: str = "text") -> dict[str, list[str]]:
    """``hf:<name>[:<config>]`` → the text column of each split of a Hugging Face hub dataset."""
    import datasets

    parts = spec.split(":")
    name, config = parts[1], (parts[2] if len(parts) > 2 else None)
    try:
        ds = datasets.load_dataset(name, config)
    except Exception as err:  # the hub or the cache: report in one line
        raise DataError(f"data.source={spec}: cannot load from the Hugging Face hub ({err})") from None
    names = {"train": "train", "validation": "validation", "valid": "validation", "test": "test"}
    out = {names[k]: [t for t in ds[k][column] if t] for k in ds if k in names}
    if column not in ds[next(iter(ds))].column_names:
        raise DataError(f"data.source={spec}: the dataset has no column '{column}'")
    return out


class TextDataModule(SeqDataModule):
    """Text for language modelling (task ``language_model``, head ``many_to_many``).

    Sources (``data.source``): ``builtin:python_reference`` (the offline default), a text file, a folder or glob
    of text files, a folder with WikiText/PTB-style ``train.txt``/``valid.txt``/``test.txt``, or ``hf:<name>``.
    Without predefined splits, paragraphs (blank-line separated) are assigned to train/validation/test by a
    seeded shuffle with fractions ``data.split``. Each split's tokens are joined into one stream and cut into
    windows of ``seq_len + 1`` tokens (``stride`` apart, ``seq_len`` by default).

    Batches: ``inputs (B, T)``, ``targets (B, T)`` (the inputs shifted by one), ``lengths (B,)``.
    """

    name = "text_char"
    tokenizer_kind = "char"

    def __init__(
        self,
        source: str = "builtin:python_reference",
        seq_len: int = 100,
        stride: int | None = None,
        split: tuple[float, float, float] = (0.9, 0.05, 0.05),
        lowercase: bool = False,
        min_freq: int = 1,
        max_vocab: int | None = None,
        text_column: str = "text",
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if seq_len <= 0:
            raise DataError(f"data.seq_len must be positive, got {seq_len}")
        if len(split) != 3 or any(f < 0 for f in split) or abs(sum(split) - 1.0) > 1e-6:
            raise DataError(
                f"data.split must be three non-negative fractions summing to 1, got {list(split)}"
            )
        self.seq_len = seq_len
        self.stride = stride or seq_len
        self.split_fractions = tuple(split)
        self.tokenizer = Tokenizer(self.tokenizer_kind, lowercase=lowercase)
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.text_column = text_column

    def cache_key(self) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "seq_len": self.seq_len,
            "stride": self.stride,
            "split": self.split_fractions,
            "tokenizer": self.tokenizer.to_dict(),
            "min_freq": self.min_freq,
            "max_vocab": self.max_vocab,
            "text_column": self.text_column,
        }

    # -- reading --------------------------------------------------------------------------------------------------
    def read_splits(self) -> dict[str, list[str]]:
        """The source as documents per split."""
        if self.source.startswith("builtin:"):
            return self.split_documents(builtin_corpus(self.source.split(":", 1)[1]))
        if self.source.startswith("hf:"):
            return load_hf_text(self.source, self.text_column)
        folder = Path(self.source).expanduser()
        named = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
        if folder.is_dir() and (folder / "train.txt").is_file():
            return {s: self.lines(folder / f) for s, f in named.items() if (folder / f).is_file()}
        text = "\n\n".join(read_text(f) for f in resolve_files(self.source))
        return self.split_documents(text)

    def lines(self, path: Path) -> list[str]:
        return [line for line in read_text(path).splitlines() if line.strip()]

    def split_documents(self, text: str) -> dict[str, list[str]]:
        docs = [d.strip("\n") for d in text.split("\n\n") if d.strip()]
        if not docs:
            raise DataError(f"data.source={self.source}: no text (the source is empty)")
        order = list(range(len(docs)))
        random.Random(self.seed).shuffle(order)
        n_train = round(self.split_fractions[0] * len(docs))
        n_val = round(self.split_fractions[1] * len(docs))
        cuts = {
            "train": order[:n_train],
            "validation": order[n_train : n_train + n_val],
            "test": order[n_train + n_val :],
        }
        return {s: [docs[i] for i in sorted(idx)] for s, idx in cuts.items() if idx}

    # -- building -------------------------------------------------------------------------------------------------
    def join(self, docs: list[str]) -> str:
        return "\n\n".join(docs)

    def build(self, out_dir: Path) -> None:
        import datasets

        docs = self.read_splits()
        if "train" not in docs or not docs["train"]:
            raise DataError(f"data.source={self.source}: no training text")
        if "validation" not in docs:
            raise DataError(
                f"data.source={self.source}: no validation text (add valid.txt or change data.split)"
            )
        tokenize = self.tokenizer.tokenize
        vocab = Vocabulary.build([tokenize(self.join(docs["train"]))], self.min_freq, self.max_vocab)
        for split, split_docs in docs.items():
            ids = np.asarray(vocab.encode(tokenize(self.join(split_docs))), dtype=np.int32)
            windows = self.windows(ids, split)
            ds = datasets.Dataset.from_dict({"ids": windows})
            ds.save_to_disk(str(out_dir / split))
        spec = DataSpec(task="language_model", vocab=vocab, tokenizer=self.tokenizer, max_length=self.seq_len)
        (out_dir / "spec.json").write_text(json.dumps(spec.to_dict()))
        vocab.save(out_dir / "vocab.json")

    def windows(self, ids: np.ndarray, split: str) -> np.ndarray:
        width = self.seq_len + 1
        if len(ids) < width:
            raise DataError(
                f"data.source={self.source}: the {split} split has {len(ids)} tokens, fewer than "
                f"data.seq_len + 1 = {width}; lower data.seq_len"
            )
        starts = np.arange(0, len(ids) - width + 1, self.stride)
        return np.stack([ids[s : s + width] for s in starts])

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = torch.from_numpy(np.stack([e["ids"] for e in examples]).astype(np.int64))
        return {
            "inputs": ids[:, :-1],
            "targets": ids[:, 1:],
            "lengths": torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long),
        }


class CharTextDataModule(TextDataModule):
    """Character-level language modelling (``data=text_char``)."""

    name = "text_char"
    tokenizer_kind = "char"


class WordTextDataModule(TextDataModule):
    """Word-level language modelling (``data=text_word``); lines end with ``<eos>`` as in WikiText/PTB setups."""

    name = "text_word"
    tokenizer_kind = "word"

    def join(self, docs: list[str]) -> str:
        return " <eos> ".join(docs) + " <eos>"
