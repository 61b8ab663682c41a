"""ABC folk tunes: language modelling, tune-type classification, or tunes conditioned on their type."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqlab.data.base import (
    DataError,
    DataSpec,
    SeqDataModule,
    check_fractions,
    load_hf,
    log,
    read_text,
    required_splits,
    resolve_files,
    split_by_seed,
)
from seqlab.data.batching import collate_classification, collate_conditional, collate_language_model
from seqlab.data.vocab import Tokenizer, build_vocabulary

ABC_TASKS = ("language_model", "classification", "conditional_generation")
#: music21's bundled ABC collections read by ``builtin:music21`` (the default) — no download
DEFAULT_MUSIC21_CORPORA = ("ryansMammoth", "oneills1850")
MUSIC21_CORPORA = ("ryansMammoth", "oneills1850", "essenFolksong")
OTHER = "other"
_FIELD = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
_TUNE_TYPE_ALIASES = {"slipjig": "slip jig", "fling": "highland fling", "double jig": "jig", "single jig": "jig"}


@dataclass
class Tune:
    """One parsed tune: its header fields (in order), its body lines, and where it came from."""

    headers: list[tuple[str, str]]
    body: list[str]
    where: str

    def field(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")

    def text(self, keep_headers: tuple[str, ...]) -> str:
        """The tune as ABC text with only the ``keep_headers`` fields (``K:`` last, as ABC requires)."""
        kept = [(k, v) for k, v in self.headers if k in keep_headers and k != "K"]
        if "K" in keep_headers:
            kept.append(("K", self.field("K")))
        return "\n".join([*(f"{k}:{v}" for k, v in kept), *self.body])


def normalise_tune_type(value: str) -> str:
    """``R:`` field → tune type: lower-case, single spaces, common variants merged (``Slipjig`` → ``slip jig``)."""
    value = " ".join(value.lower().replace("-", " ").split())
    return _TUNE_TYPE_ALIASES.get(value, value)


def split_tunes(text: str) -> list[tuple[int, list[str]]]:
    """ABC text → ``(line number of X:, lines)`` per tune; text before the first ``X:`` (file notes) is ignored."""
    tunes: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("X:"):
            tunes.append((number, [line]))
        elif tunes:
            tunes[-1][1].append(line)
    return tunes


def parse_tune(lines: list[str], where: str) -> Tune:
    """Header fields up to ``K:``, then the body (comments and blank lines dropped). Raises ValueError if malformed."""
    headers: list[tuple[str, str]] = []
    body_start = None
    for i, line in enumerate(lines):
        if line.lstrip().startswith("%") or not line.strip():
            continue
        match = _FIELD.match(line)
        if not match:
            raise ValueError(f"header line '{line.strip()[:40]}' is not a field (F:value) and no K: field came before")
        headers.append((match[1], match[2]))
        if match[1] == "K":
            body_start = i + 1
            break
    if body_start is None:
        raise ValueError("no K: (key) field, which ends an ABC header")
    body = [line.rstrip() for line in lines[body_start:] if line.strip() and not line.lstrip().startswith("%")]
    if not any(not _FIELD.match(line) for line in body):
        raise ValueError("no music after the header")
    return Tune(headers, body, where)


def music21_corpus_files(names: tuple[str, ...]) -> list[Path]:
    """The ``.abc`` files of music21's bundled corpora ``names`` (they ship with the package)."""
    import music21.corpus

    root = Path(music21.corpus.__file__).parent
    files = []
    for name in names:
        if name not in MUSIC21_CORPORA:
            raise DataError(f"data.source: unknown music21 corpus '{name}'; available: {', '.join(MUSIC21_CORPORA)}")
        files.extend(sorted((root / name).rglob("*.abc")))
    return files


def valid_tune(abc_text: str) -> bool:
    """Whether music21 parses ``abc_text`` as ABC and finds at least one note (an ``X:`` line is added if missing).

    >>> valid_tune("M:6/8\\nL:1/8\\nK:Em\\n|E2F G2A|B2^A B^cd|")
    True
    >>> valid_tune("K:Em\\n((|]]")
    False
    """
    from music21 import converter

    text = abc_text.strip()
    if not text:
        return False
    if not text.startswith("X:"):
        text = "X:1\n" + text
    try:
        score = converter.parse(text, format="abc", forceSource=True)
        return len(score.flatten().notes) > 0
    except Exception:  # music21 raises many kinds of errors on bad ABC; any of them means "not a valid tune"
        return False


def write_tune(abc_text: str, stem: Path) -> bool:
    """Write a tune as ``<stem>.abc`` and, rendered by music21, ``<stem>.mid``; returns whether the MIDI file was
    written (music21 parses some tunes it cannot render, e.g. a repeated time signature: those keep only .abc)."""
    from music21 import converter

    text = abc_text.strip()
    if not text.startswith("X:"):
        text = "X:1\n" + text
    stem.with_suffix(".abc").write_text(text + "\n", encoding="utf-8")
    try:
        converter.parse(text, format="abc", forceSource=True).write("midi", fp=str(stem.with_suffix(".mid")))
    except Exception:  # music21's MIDI writer raises many kinds of errors on odd but parseable tunes
        stem.with_suffix(".mid").unlink(missing_ok=True)
        return False
    return True


class AbcMusicDataModule(SeqDataModule):
    """ABC tunes (``data=abc_music``), character-level by default.

    Sources (``data.source``): ``builtin:music21`` (the default: Ryan's Mammoth Collection and O'Neill's 1850, ~3 000
    tunes bundled with music21), ``builtin:music21:<corpus>[,<corpus>]`` (``ryansMammoth``, ``oneills1850``,
    ``essenFolksong``), an ``.abc`` file, a folder or glob of them, or ``hf:<name>[:<config>]`` (each row's
    ``data.text_column`` holds one or more tunes). Tunes are split at ``X:`` lines; a tune without a ``K:`` field
    or without music is skipped and counted (an error with ``data.strict=true``); a file without any tune is an error.

    Each example is a tune's text with only the ``data.keep_headers`` fields (default ``M L R K``) and its body.
    The tune type is the ``R:`` field, normalised lower-case (``reel``, ``jig``, ``hornpipe`` …); types with fewer
    than ``data.min_class_count`` tunes, and tunes without ``R:``, are ``other``.

    ``data.task``:

    - ``language_model``: ``inputs (B, T)`` = ``<bos>`` + tune, ``targets (B, T)`` = tune + ``<eos>``, ``lengths``.
    - ``conditional_generation``: the same plus ``condition (B,)`` (the tune type's class id).
    - ``classification``: ``inputs (B, T)`` = tune, ``lengths (B,)``, ``targets (B,)`` (tune type).

    For the last two the ``R:`` field is removed from the text, since it is the label.
    """

    name = "abc_music"

    def __init__(
        self,
        source: str = "builtin:music21",
        task: str = "language_model",
        keep_headers: tuple[str, ...] | list[str] = ("M", "L", "R", "K"),
        max_length: int | None = 1000,
        min_class_count: int = 30,
        split: tuple[float, float, float] = (0.9, 0.05, 0.05),
        tokenizer: str = "char",
        bpe_vocab_size: int = 500,
        text_column: str = "abc",
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if task not in ABC_TASKS:
            raise DataError(f"data.task must be one of {', '.join(ABC_TASKS)}, got '{task}'")
        bad = [h for h in keep_headers if not (isinstance(h, str) and len(h) == 1 and h.isalpha())]
        if bad:
            raise DataError(f"data.keep_headers: {bad} are not ABC field letters (e.g. [M, L, R, K])")
        if tokenizer not in ("char", "bpe"):
            raise DataError(f"data.tokenizer for abc_music must be char or bpe, got '{tokenizer}'")
        self.task = task
        self.keep_headers = tuple(h for h in keep_headers if task == "language_model" or h != "R")
        self.max_length = max_length
        self.min_class_count = min_class_count
        self.split_fractions = check_fractions(split)
        self.tokenizer_kind, self.bpe_vocab_size = tokenizer, bpe_vocab_size
        self.text_column = text_column
        self.too_long = 0

    def cache_key(self) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "task": self.task,
            "keep_headers": list(self.keep_headers),
            "max_length": self.max_length,
            "min_class_count": self.min_class_count,
            "split": self.split_fractions,
            "tokenizer": self.tokenizer_kind,
            "bpe_vocab_size": self.bpe_vocab_size if self.tokenizer_kind == "bpe" else None,
            "text_column": self.text_column,
        }

    # -- reading --------------------------------------------------------------------------------------------------
    def read_tunes(self) -> list[Tune]:
        if self.source.startswith("hf:"):
            return self.read_hf()
        if self.source.startswith("builtin:"):
            parts = self.source.split(":")
            if parts[1] != "music21":
                raise DataError(f"data.source: unknown built-in '{self.source}'; available: builtin:music21")
            names = tuple(parts[2].split(",")) if len(parts) > 2 and parts[2] else DEFAULT_MUSIC21_CORPORA
            files = music21_corpus_files(names)
        else:
            path = Path(self.source).expanduser()
            files = resolve_files(self.source, (".abc",) if path.is_dir() else ())
        tunes: list[Tune] = []
        for file in files:
            tunes.extend(self.parse_text(read_text(file), str(file)))
        return tunes

    def read_hf(self) -> list[Tune]:
        dataset = load_hf(self.source)
        tunes: list[Tune] = []
        for split in dataset:
            if self.text_column not in dataset[split].column_names:
                raise DataError(
                    f"data.source={self.source}: no column '{self.text_column}' (columns: "
                    f"{', '.join(dataset[split].column_names)}); set data.text_column"
                )
            for row, text in enumerate(dataset[split][self.text_column]):
                text = text if text.lstrip().startswith("X:") else "X:1\n" + text
                tunes.extend(self.parse_text(text, f"{self.source}[{split}][{row}]", require=False))
        return tunes

    def parse_text(self, text: str, where: str, require: bool = True) -> list[Tune]:
        pieces = split_tunes(text)
        if require and not pieces:
            raise DataError(f"{where}: no ABC tune (no line starts with X:)")
        tunes = []
        for line, lines in pieces:
            try:
                tunes.append(parse_tune(lines, f"{where}:{line}"))
            except ValueError as err:
                self.malformed(f"{where}:{line}", str(err), "tunes")
        return tunes

    # -- building -------------------------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        import datasets

        tunes = self.read_tunes()
        if not tunes:
            raise DataError(f"data.source={self.source}: no well-formed ABC tune")
        types = [normalise_tune_type(t.field("R")) for t in tunes]
        counts = Counter(types)
        classes = [t for t, n in counts.most_common() if t and t != OTHER and n >= self.min_class_count]
        if len(classes) < len(counts):
            classes.append(OTHER)
        class_id = {c: i for i, c in enumerate(classes)}
        rows = [
            {"text": tune.text(self.keep_headers), "label": class_id.get(kind, class_id.get(OTHER, 0))}
            for tune, kind in zip(tunes, types)
        ]
        # identical tunes (the same text the model reads) go to one split together
        splits = split_by_seed(rows, self.split_fractions, self.seed, key=lambda row: row["text"])
        required_splits(self.source, splits)
        keys = {split: [r["text"] for r in split_rows] for split, split_rows in splits.items()}
        self.write_split_report(out_dir, keys, ("train", "validation", "test"))
        train_texts = [r["text"] for r in splits["train"]]
        if self.tokenizer_kind == "bpe":
            tokenizer = Tokenizer.train_bpe(train_texts, self.bpe_vocab_size)
        else:
            tokenizer = Tokenizer("char")
        vocab = build_vocabulary(tokenizer, tokenizer.tokenize_batch(train_texts))
        specials = self.task != "classification"

        def encode(batch: dict[str, list]) -> dict[str, list]:
            ids = [vocab.encode(t) for t in tokenizer.tokenize_batch(batch["text"])]
            if specials:
                ids = [[vocab.bos_id, *i, vocab.eos_id] for i in ids]
            return {"ids": ids, "length": [len(i) - specials for i in ids]}

        for split, split_rows in splits.items():
            dataset = datasets.Dataset.from_list(split_rows).map(encode, batched=True, remove_columns=["text"])
            if self.max_length:
                before = len(dataset)
                dataset = dataset.filter(lambda b: [n <= self.max_length for n in b["length"]], batched=True)
                self.too_long += before - len(dataset)
            self.write_split(out_dir, split, dataset)
        if self.too_long:
            log.info("abc_music: dropped %d tunes longer than data.max_length=%s", self.too_long, self.max_length)
        spec = DataSpec(
            task=self.task,
            vocab=vocab,
            tokenizer=tokenizer,
            classes=classes if self.task != "language_model" else [],
            max_length=self.max_length,
        )
        self.write_spec(out_dir, spec)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pad = self.spec.pad_id
        if self.task == "classification":
            return collate_classification(examples, pad)
        if self.task == "conditional_generation":
            return collate_conditional(examples, pad)
        return collate_language_model(examples, pad)
