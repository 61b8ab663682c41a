"""Vocabularies and tokenizers shared by every datamodule. Both are plain data (JSON-able) and travel in checkpoints."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

from seqlab.paths import write_json

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
#: specials that :meth:`Vocabulary.decode` drops with ``skip_specials`` (an unknown token stays visible as ``<unk>``)
STRUCTURAL = (PAD, BOS, EOS)
TOKENIZER_KINDS = ("char", "word", "bpe")


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
    def build(cls, sequences: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """Count tokens; keep those seen ``min_freq`` times, most frequent first (ties by first appearance).

        ``max_size`` counts the specials."""
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        kept = [t for t, n in counts.most_common() if n >= min_freq and t not in SPECIALS]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> list[str]:
        """Ids → tokens; ``skip_specials`` drops ``<pad> <bos> <eos>`` (``<unk>`` stays, so a gap is visible)."""
        out = [self.itos[int(i)] for i in ids]
        return [t for t in out if t not in STRUCTURAL] if skip_specials else out

    def to_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(data["itos"])

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict(), ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class Tokenizer:
    """Splits text into tokens and joins them back.

    ``kind``: ``char`` (every character a token), ``word`` (whitespace-separated words; the round trip normalises
    whitespace) or ``bpe`` (byte-level BPE from ``tokenizers``, :meth:`train_bpe`). ``lowercase`` applies first.

    >>> t = Tokenizer("word", lowercase=True)
    >>> t.tokenize("The cat  sat"), t.detokenize(["the", "cat"])
    (['the', 'cat', 'sat'], 'the cat')
    """

    def __init__(self, kind: str = "char", lowercase: bool = False, bpe: str | None = None):
        if kind not in TOKENIZER_KINDS:
            raise ValueError(f"data.tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, got '{kind}'")
        if kind == "bpe" and not bpe:
            raise ValueError("a bpe tokenizer needs its trained model; build it with Tokenizer.train_bpe")
        self.kind, self.lowercase, self.bpe = kind, lowercase, bpe

    @cached_property
    def _bpe(self) -> Any:
        from tokenizers import Tokenizer as HFTokenizer

        return HFTokenizer.from_str(self.bpe)

    @classmethod
    def train_bpe(cls, texts: Iterable[str], vocab_size: int, lowercase: bool = False) -> Tokenizer:
        """Train a byte-level BPE model on ``texts`` (the training split) with about ``vocab_size`` tokens."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        model = HFTokenizer(models.BPE())
        model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        model.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        model.train_from_iterator((t.lower() if lowercase else t for t in texts), trainer)
        return cls("bpe", lowercase=lowercase, bpe=model.to_str())

    @classmethod
    def make(cls, kind: str, texts: Iterable[str], bpe_vocab_size: int, lowercase: bool = False) -> Tokenizer:
        """The tokenizer ``data.tokenizer`` names; ``bpe`` is trained on ``texts`` (the training split)."""
        if kind == "bpe":
            return cls.train_bpe(texts, bpe_vocab_size, lowercase)
        return cls(kind, lowercase)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenize_batch([text])[0]

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        """:meth:`tokenize` over many texts (BPE encodes them in parallel)."""
        texts = [t.lower() for t in texts] if self.lowercase else texts
        if self.kind == "char":
            return [list(t) for t in texts]
        if self.kind == "word":
            return [t.split() for t in texts]
        return [e.tokens for e in self._bpe.encode_batch(texts, add_special_tokens=False)]

    def detokenize(self, tokens: Iterable[str]) -> str:
        if self.kind == "char":
            return "".join(tokens)
        if self.kind == "word":
            return " ".join(tokens)
        return self._bpe.decoder.decode([t for t in tokens if t not in SPECIALS])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase, **({"bpe": self.bpe} if self.bpe else {})}

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        return cls(**data)


def build_vocabulary(
    tokenizer: Tokenizer, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None
) -> Vocabulary:
    """The vocabulary for ``tokenizer``: counted from ``token_lists`` (char/word), or the BPE model's own tokens."""
    if tokenizer.kind == "bpe":  # the BPE model's tokens in id order
        ids = tokenizer._bpe.get_vocab()
        return Vocabulary([*SPECIALS, *(t for t in sorted(ids, key=ids.__getitem__) if t not in SPECIALS)])
    return Vocabulary.build(token_lists, min_freq, max_size)
