"""Language-modelling text: character-, word- or BPE-level; lines, fixed windows, or one stream in BPTT windows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.modes import MODES
from seqlab.data.overlap import near_duplicates
from seqlab.data.sources import iter_lines, require_columns
from seqlab.data.splits import ALL_SPLITS, required_splits
from seqlab.data.vocab import EOS, Tokenizer, Vocabulary, build_vocabulary
from seqlab.data.wikitext import (
    BUILTIN_WIKITEXT_FOLDER,
    python_reference_text,
    wikitext_layout,
    write_python_reference_wikitext,
)
from seqlab.schema import data as schema


class TextDataModule(SeqDataModule):
    """Text for language modelling (task ``language_model``, head ``many_to_many``).

    Sources: ``builtin:python_reference`` (CPython's reference topics), ``builtin:python_reference_wikitext`` (the
    same as a WikiText-style folder), text files, a WikiText/PTB-style folder, or ``hf:<name>[:<config>]`` (one row
    per line). Sources without splits are cut into paragraphs and split by seed (duplicates: :meth:`split_key`).
    Word-level text has ``<eos>`` after every line/paragraph, blank ones of a WikiText/PTB folder included: the token
    streams of pytorch/examples ``word_language_model`` (``line.split() + ['<eos>']`` per line). Char/BPE text has
    the separator (``\n`` / ``\n\n``) instead, and windows and streams start sampling and scoring from it
    (``spec.start_ids``). ``data.mode``: :mod:`seqlab.data.modes` (batches in its docstrings); more in docs/data.md.

    >>> dm = WordTextDataModule(source="builtin:python_reference_wikitext", batch_size=4)  # doctest: +SKIP
    >>> dm.prepare_data(); dm.setup(); next(iter(dm.train_dataloader()))["inputs"].shape  # doctest: +SKIP
    torch.Size([4, 35])
    """

    name = "text_char"
    default_tokenizer = "char"
    default_mode = "windows"
    unkeyed_options = (*SeqDataModule.unkeyed_options, "bptt", "eval_batch_size", "test_batch_size")
    builtin_sources = ("builtin:python_reference", "builtin:python_reference_wikitext")

    def __init__(
        self,
        source: str = schema.TextChar.source,
        mode: str | None = None,
        seq_len: int = schema.TextChar.seq_len,
        stride: int | None = None,
        bptt: int = schema.TextChar.bptt,
        eval_batch_size: int = schema.TextChar.eval_batch_size,
        test_batch_size: int | None = None,
        max_length: int | None = None,
        split: tuple[float, float, float] = schema.TextChar.split,
        tokenizer: str | None = None,
        bpe_vocab_size: int = schema.TextChar.bpe_vocab_size,
        lowercase: bool = schema.TextChar.lowercase,
        min_freq: int = schema.TextChar.min_freq,
        max_vocab: int | None = None,
        text_column: str = schema.TextChar.text_column,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        self.mode = mode or self.default_mode
        #: what the mode changes: how examples are cut from the tokens, loaded and batched
        self.layout = MODES[self.mode]
        self.seq_len, self.stride, self.bptt, self.max_length = seq_len, stride or seq_len, bptt, max_length
        self.eval_batch_size = eval_batch_size
        self.test_batch_size = eval_batch_size if test_batch_size is None else test_batch_size
        self.split_fractions = split
        self.tokenizer_kind = tokenizer or self.default_tokenizer
        self.bpe_vocab_size, self.lowercase = bpe_vocab_size, lowercase
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.text_column = text_column
        self.streams: dict[str, np.ndarray] = {}
        #: what separates documents in a char/BPE stream: a blank line between paragraphs, else a newline
        self.separator = "\n"

    def unread_options(self) -> tuple[str, ...]:
        """The options of the other modes, and ``bpe_vocab_size`` unless the tokenizer is BPE."""
        return (*self.layout.unread, *(() if self.tokenizer_kind == "bpe" else ("bpe_vocab_size",)))

    # -- reading (:meth:`~seqlab.data.base.SeqDataModule.read_splits`: documents) ------------------------------------
    def read_builtin(self, out_dir: Path) -> dict[str, list[str]]:
        if self.source == "builtin:python_reference":
            self.separator = "\n\n"
            return self.split(paragraphs(python_reference_text()))
        folder = write_python_reference_wikitext(self.cache_dir / "builtin" / BUILTIN_WIKITEXT_FOLDER)
        return self.read_split_files(self.split_files(folder))

    def split_files(self, folder: Path) -> dict[str, list[Path]]:
        """The files of a WikiText/PTB-style folder; any other folder holds files to be split by seed."""
        layout = wikitext_layout(folder) or {}
        return {split: [folder / name] for split, name in layout.items() if (folder / name).is_file()}

    def read_split_files(self, named: dict[str, list[Path]]) -> dict[str, list[str]]:
        """Every line of a WikiText/PTB-style folder's files, blank ones included (each ends in ``<eos>``)."""
        return {split: [line for file in files for line in iter_lines(file)] for split, files in named.items()}

    def read_file(self, file: Path) -> list[str]:
        """A file of a source without splits, paragraph by paragraph (read line by line, never held whole)."""
        self.separator = "\n\n"
        return file_paragraphs(file)

    def read_hf_split(self, part: Any, where: str) -> list[str]:
        require_columns(f"data.source={self.source}", part.column_names, [self.text_column], "; set data.text_column")
        # one row per line, as the hub's WikiText (blank rows are blank lines) and PTB; a row's own newline dropped
        return [(t or "").rstrip("\n") for t in part[self.text_column]]

    def split(self, examples: list[str], made: tuple[str, ...] = ALL_SPLITS) -> dict[str, list[str]]:
        """The non-blank documents split by seed (a hub dataset's blank rows are no documents of their own)."""
        docs = [d for d in examples if d.strip()]
        if not docs:
            raise DataError(f"data.source={self.source}: no text (the source is empty)")
        return super().split(docs, made)

    def split_key(self, text: str) -> bytes | str:
        """A document as the model sees it (``lowercase``; for words, whitespace runs as one space), as a 16-byte
        digest (``""`` if blank), so finding duplicates in a large corpus holds no second copy of it."""
        text = text.lower() if self.lowercase else text
        text = " ".join(text.split()) if self.tokenizer_kind == "word" else text.strip()
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest() if text else ""

    # -- building -------------------------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        docs = self.read_splits(out_dir)
        separator, separated = self.separator, self.layout.separated
        if not separated:  # a blank line is no example of its own; in streams it is an <eos>/separator
            docs = {split: [d for d in texts if d.strip()] for split, texts in docs.items()}
        required_splits(self.source, docs)
        # near duplicates in the unit the model reads: word 8-grams, or 40-character runs (characters, BPE)
        cased = {s: [d.lower() for d in texts] for s, texts in docs.items()} if self.lowercase else docs
        near = near_duplicates(cased, "word" if self.tokenizer_kind == "word" else "char")
        keys = {split: [self.split_key(d) for d in texts] for split, texts in docs.items()}
        self.write_split_report(out_dir, keys, self.made_splits, near)
        tokenizer = Tokenizer.make(self.tokenizer_kind, docs["train"], self.bpe_vocab_size, self.lowercase)
        word_level = tokenizer.kind == "word"
        # streams and windows: every document is followed by the separator (char/BPE) or <eos> (words)
        suffix = separator if separated and not word_level else ""
        end_token = [EOS] if separated and word_level else []
        char_level = tokenizer.kind == "char"

        def tokenized(texts: list[str]) -> Iterator[tuple[list[Any], list[bool]]]:
            """``(tokens of each piece, whether it ends a document)``, a batch at a time (char: the piece's text)."""
            for batch, ends in text_pieces(texts, suffix, cut_anywhere=char_level):
                if char_level:
                    yield [piece.lower() if self.lowercase else piece for piece in batch], ends
                else:
                    yield [t + end_token if end else t for t, end in zip(tokenizer.tokenize_batch(batch), ends)], ends

        train_tokens = (tokens for pieces, _ in tokenized(docs["train"]) for tokens in pieces)
        vocab = build_vocabulary(tokenizer, train_tokens, self.min_freq, self.max_vocab)
        char_ids = CharIds(vocab) if char_level else None

        def ids(piece: Any) -> np.ndarray:
            return char_ids(piece) if char_ids else np.asarray(vocab.encode(piece), dtype=np.int32)

        for split, texts in docs.items():
            encoded = (([ids(piece) for piece in pieces], ends) for pieces, ends in tokenized(texts))
            self.write_split_batches(out_dir, split, *self.layout.rows(self, split, vocab, encoded))
        # windows and streams never hold <bos>: their samples and scores start after a document separator instead
        start_ids = None
        if separated:
            start_ids = [vocab.eos_id] if word_level else vocab.encode(tokenizer.tokenize(separator))
        spec = DataSpec(
            task="language_model",
            vocab=vocab,
            tokenizer=tokenizer,
            stateful=self.layout.stateful,
            start_ids=start_ids,
        )
        self.write_spec(out_dir, spec)

    # -- loading --------------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        self.layout.setup(self)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        loader = self.layout.loader(self, split)
        return super()._loader(split, shuffle) if loader is None else loader

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return self.layout.collate(examples, self.spec.pad_id)


#: tokenization works on pieces of about this many characters (a document longer than this is cut, at whitespace
#: unless tokens are characters), so a single huge line costs memory for one piece at a time, not for the line
PIECE_CHARS = 1 << 20


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs of ``text``, surrounding newlines stripped, blank ones dropped."""
    return [d.strip("\n") for d in text.split("\n\n") if d.strip()]


def file_paragraphs(path: Path) -> list[str]:
    """:func:`paragraphs` of a text file, read line by line (``\r\n`` and ``\r`` newlines count as ``\n``)."""
    out: list[str] = []
    current: list[str] = []
    for line in chain(iter_lines(path), [""]):  # a blank line after the last ends its paragraph
        if line:
            current.append(line)
            continue
        if any(part.strip() for part in current):
            out.append("\n".join(current))
        current = []
    return out


def text_pieces(texts: Iterable[str], suffix: str, cut_anywhere: bool) -> Iterator[tuple[list[str], list[bool]]]:
    """Batches ``(pieces, ends)`` of about :data:`PIECE_CHARS` characters of ``texts``, each followed by ``suffix``
    (``ends[i]``: piece i ends its text). A longer text is cut before whitespace (anywhere with ``cut_anywhere``), so
    word and byte-level BPE tokens never straddle a cut; shorter texts are whole pieces."""
    batch, ends, size = [], [], 0
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
    """Text → character-vocabulary ids, as ``vocab.encode(list(text))`` but vectorised (code points index a table).

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


class CharTextDataModule(TextDataModule):
    """Character-level language modelling (``data=text_char``); default ``mode=windows`` of 100 characters."""


class WordTextDataModule(TextDataModule):
    """Word-level language modelling (``data=text_word``): WikiText/PTB-style, ``<eos>`` after every line,
    default ``mode=stream`` with ``bptt=35`` (truncated BPTT over ``batch_size`` parallel streams)."""

    name = "text_word"
    default_tokenizer = "word"
    default_mode = "stream"
