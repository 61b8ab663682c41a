"""Near-duplicate overlap between splits: what exact-duplicate grouping leaves behind.

A paragraph sharing most of its sentences with a training one, or a tweet that differs only in its mention, is no
exact duplicate. These measures say how much of validation and test occurs in train, in the unit the model reads:
word 8-grams, 40-character runs, or (sentence tasks) :func:`sentence_key`. N-grams never cross a document.

>>> ngram_overlap(["the cat sat on the mat"], ["the cat sat on a mat"], n=3, unit="word")
0.5
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

#: n-gram lengths of the near-duplicate measures, by unit (see the module docstring)
WORD_NGRAM = 8
CHAR_NGRAM = 40
#: the odd multiplier of the polynomial n-gram hash (mod 2**64)
_BASE = np.uint64(0x9E3779B97F4A7C15)
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_PLACEHOLDER = re.compile(r"<[a-z]+>")
_NOT_WORD = re.compile(r"[^\w\s]|_")


def sentence_key(text: str) -> str:
    """The sentence of a short text, for near-duplicate matching: lower-cased; URLs, @mentions, placeholders such as
    ``<user>``, emoji and punctuation removed; whitespace runs one space.

    >>> sentence_key("@bob The food was GOOD!!! 😀 https://t.co/x")
    'the food was good'
    >>> sentence_key("<user> the food was good ! !")
    'the food was good'
    """
    text = _PLACEHOLDER.sub(" ", _MENTION.sub(" ", _URL.sub(" ", text.lower())))
    return " ".join(_NOT_WORD.sub(" ", text).split())


#: a long document is hashed in pieces of this many n-gram starts (pieces overlap by n − 1: each n-gram once)
PIECE = 1 << 20


def _pieces(document: str, n: int) -> Iterable[str]:
    for start in range(0, max(1, len(document) - n + 1), PIECE):
        yield document[start : start + PIECE + n - 1]


def _ids(documents: Iterable[str], unit: str, table: dict[str, int], n: int) -> Iterable[np.ndarray]:
    """Each document as integer codes: code points (``char``, made piece by piece, see :data:`PIECE`) or word
    numbers from ``table`` (``word``, grown)."""
    if unit == "char":
        return (np.frombuffer(p.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
                for d in documents for p in _pieces(d, n))
    return [np.asarray([table.setdefault(w, len(table)) for w in d.split()], dtype=np.uint64) for d in documents]


#: above this many training n-grams the share is estimated on a consistent hash sample (see :func:`ngram_overlap`)
EXACT_LIMIT = 2_000_000


def _mixed(hashes: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every bit of the result depends on every bit of the hash (for sampling by modulo)."""
    with np.errstate(over="ignore"):
        h = hashes ^ (hashes >> np.uint64(31))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        return h ^ (h >> np.uint64(27))


def ngram_hashes(sequences: Iterable[np.ndarray], n: int, keep_one_in: int = 1) -> np.ndarray:
    """64-bit hashes of every n-gram inside each of ``sequences``, as one array, one document at a time; with
    ``keep_one_in`` = k only those whose mixed hash is divisible by k (the same n-grams in every split)."""
    kept = []
    for sequence in sequences:
        if len(sequence) < n:
            continue
        codes = sequence + np.uint64(1)  # 0 never occurs: a code is never the same as "nothing"
        count = len(codes) - n + 1
        hashes = np.zeros(count, np.uint64)
        with np.errstate(over="ignore"):
            for j in range(n):
                hashes = hashes * _BASE + codes[j : j + count]
        if keep_one_in > 1:
            hashes = hashes[_mixed(hashes) % np.uint64(keep_one_in) == 0]
        kept.append(hashes)
    return np.concatenate(kept) if kept else np.zeros(0, np.uint64)


def ngram_overlap(train: Iterable[str], split: Iterable[str], n: int, unit: str) -> float | None:
    """The share of ``split``'s n-grams (of words or characters, ``unit``; within each document) that also occur in
    ``train``'s documents. None when ``split`` has no n-gram.

    Exact up to :data:`EXACT_LIMIT` training n-grams; above it, both sides keep the n-grams whose mixed hash is
    divisible by k = ⌈count / limit⌉: kept by the n-gram alone, so the kept share is an unbiased estimate."""
    table: dict[str, int] = {}
    train = list(train)
    train_ids = _ids(train, unit, table, n)
    lengths = (len(d) for d in train) if unit == "char" else (len(ids) for ids in train_ids)
    total = sum(max(0, length - n + 1) for length in lengths)
    keep = max(1, -(-total // EXACT_LIMIT))
    seen = np.unique(ngram_hashes(train_ids, n, keep))
    del train_ids
    asked = ngram_hashes(_ids(split, unit, table, n), n, keep)
    if not len(asked):
        return None
    return round(float(np.isin(asked, seen).mean()), 6)


def sentence_overlap(train: Iterable[str], split: Iterable[str]) -> float | None:
    """The share of ``split``'s texts whose :func:`sentence_key` equals a training text's (empty keys skipped)."""
    seen = {sentence_key(t) for t in train}
    keys = [k for k in map(sentence_key, split) if k]
    return round(sum(k in seen for k in keys) / len(keys), 6) if keys else None


def near_duplicates(texts: dict[str, list[str]], unit: str) -> dict[str, Any]:
    """The near-duplicate section of ``data_splits.json``: ``{"measure": …, "val": x, "test": y}``.

    ``texts``: each split's documents; ``unit``: ``word``, ``char`` or ``sentence`` (see the module docstring).
    """
    train = texts.get("train", [])
    out: dict[str, Any] = {}
    for name, split in (("val", "validation"), ("test", "test")):
        docs = texts.get(split)
        if not docs:
            out[name] = None
        elif unit == "sentence":
            out[name] = sentence_overlap(train, docs)
        else:
            out[name] = ngram_overlap(train, docs, WORD_NGRAM if unit == "word" else CHAR_NGRAM, unit)
    measure = {
        "word": f"share of word {WORD_NGRAM}-grams also in train",
        "char": f"share of {CHAR_NGRAM}-character runs also in train",
        "sentence": "share of examples whose sentence (lower-cased; URLs, mentions, emoji, punctuation removed) "
        "is a training example's",
    }[unit]
    return {"measure": measure, **out}
