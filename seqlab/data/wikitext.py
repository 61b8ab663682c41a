"""WikiText/PTB-style folders (``train.txt``/``valid.txt``/``test.txt`` and the corpora's own names, one sentence or
paragraph per line), and the built-in corpus of that form made from the Python reference that ships with CPython."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from seqlab.data.cache import build_folder
from seqlab.data.splits import ALL_SPLITS, split_by_seed
from seqlab.data.vocab import UNK

WIKITEXT_FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
#: the file names of WikiText/PTB-style folders: pytorch/examples' (train.txt …), WikiText's own download
#: (wiki.train.tokens …) and Mikolov's PTB (ptb.train.txt …)
WIKITEXT_LAYOUTS = (
    WIKITEXT_FILES,
    {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens", "test": "wiki.test.tokens"},
    {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"},
)
#: the built-in WikiText-style folder under ``cache_dir/builtin``, versioned (bump when its content changes)
BUILTIN_WIKITEXT_FOLDER = "python_reference_wikitext_v3"


def python_reference_text() -> str:
    """The Python Language Reference topics that CPython ships for ``help()`` (``pydoc_data.topics``): ~460 kB of
    English prose with code, on every machine with Python, in blank-line separated paragraphs."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip() for k in sorted(topics))


_WIKITEXT_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def write_python_reference_wikitext(folder: Path, min_count: int = 3) -> Path:
    """Write a WikiText/PTB-style corpus of the Python reference into ``folder`` (once; atomically) and return it.

    ``train.txt``/``valid.txt``/``test.txt`` hold one paragraph per line, lower-cased, punctuation split into its
    own tokens, words seen fewer than ``min_count`` times in train replaced by ``<unk>`` (as in PTB); paragraphs
    are split 90/5/5 by a fixed seed (0), duplicates grouped (:func:`group_after_unk`).
    """
    if all((folder / name).is_file() for name in WIKITEXT_FILES.values()):
        return folder
    lines = [" ".join(_WIKITEXT_TOKEN.findall(p.lower())) for p in python_reference_text().split("\n\n")]
    splits = split_by_seed([line for line in lines if line], (0.9, 0.05, 0.05), seed=0, key=lambda line: line)
    splits, counts = group_after_unk(splits, min_count)
    with build_folder(folder, lambda done: all((done / name).is_file() for name in WIKITEXT_FILES.values())) as tmp:
        for split, name in WIKITEXT_FILES.items():
            text = "\n".join(with_unk(line, counts, min_count) for line in splits[split])
            (tmp / name).write_text(text + "\n", encoding="utf-8")
    return folder


def with_unk(line: str, counts: Counter, min_count: int) -> str:
    """``line`` with the words seen fewer than ``min_count`` times in train (``counts``) replaced by ``<unk>``."""
    return " ".join(w if counts[w] >= min_count else UNK for w in line.split())


def group_after_unk(splits: dict[str, list[str]], min_count: int) -> tuple[dict[str, list[str]], Counter]:
    """``splits`` with the lines that become equal once rare words are ``<unk>`` put into one split, and the
    training word counts that decide which words are rare.

    Grouping before the replacement leaves lines that differ only in rare words apart (``str . isascii ( )`` and
    ``str . isdigit ( )`` both become ``str . <unk> ( )``). A val/test line equal to a training line after it moves
    to train, a test line equal to a validation line to validation, until nothing moves (train's counts only grow).

    >>> splits, _ = group_after_unk({"train": ["a b", "a b", "a y"], "validation": ["a z"]}, 2)  # both "a <unk>"
    >>> splits["train"][-1], splits["validation"]
    ('a z', [])
    """
    splits = {split: list(lines) for split, lines in splits.items()}
    while True:
        counts = Counter(w for line in splits["train"] for w in line.split())
        replaced = {split: [with_unk(line, counts, min_count) for line in lines] for split, lines in splits.items()}
        home: dict[str, str] = {}
        for split in ALL_SPLITS:
            for text in replaced.get(split, []):
                home.setdefault(text, split)
        moves = [(split, i) for split, texts in replaced.items() for i, text in enumerate(texts) if home[text] != split]
        if not moves:
            return splits, counts
        moved = set(moves)
        kept = {s: [line for i, line in enumerate(lines) if (s, i) not in moved] for s, lines in splits.items()}
        for split, i in moves:
            kept[home[replaced[split][i]]].append(splits[split][i])
        splits = kept


def wikitext_layout(folder: Path) -> dict[str, str] | None:
    """The file names of a WikiText/PTB-style folder (one of :data:`WIKITEXT_LAYOUTS`), or None."""
    return next((layout for layout in WIKITEXT_LAYOUTS if (folder / layout["train"]).is_file()), None)
