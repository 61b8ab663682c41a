"""Vocabularies and tokenizers shared by every datamodule. Vocabularies are plain data (JSON-able)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)


class Vocabulary:
    """Token ↔ id mapping with the special tokens ``<pad> <unk> <bos> <eos>`` at ids 0–3.

    >>> v = Vocabulary.build([["a", "b", "a"]])
    >>> v.encode(["a", "z"]), v.decode(v.encode(["b", "a"]))
    ([4, 1], ['b', 'a'])
    """

    def __init__(self, tokens: Iterable[str]):
        self.itos: list[str] = list(tokens)
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the special tokens {SPECIALS}")
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("a vocabulary lists a token twice")

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def build(
        cls, sequences: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Count tokens; keep those seen ``min_freq`` times, most frequent first (ties by first appearance)."""
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        kept = [t for t, n in counts.most_common() if n >= min_freq and t not in SPECIALS]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        unk = self.unk_id
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> list[str]:
        out = [self.itos[i] for i in ids]
        return [t for t in out if t not in SPECIALS] if skip_specials else out

    def to_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(data["itos"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class Tokenizer:
    """Splits text into tokens and joins them back. ``kind``: ``char`` or ``word``."""

    def __init__(self, kind: str = "char", lowercase: bool = False):
        if kind not in ("char", "word"):
            raise ValueError(f"tokenizer must be 'char' or 'word', got '{kind}'")
        self.kind, self.lowercase = kind, lowercase

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return list(text) if self.kind == "char" else text.split()

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens) if self.kind == "char" else " ".join(tokens)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        return cls(**data)
