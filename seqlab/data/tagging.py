"""Aligned tagging (one tag per word: named entities, parts of speech) from CoNLL-U / CoNLL files. Its entity
scoring (:class:`~seqlab.metrics.EntityF1`) is in :mod:`seqlab.metrics`, where the head imports it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import Tensor

from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.batching import pad_batch
from seqlab.data.overlap import near_duplicates
from seqlab.data.sources import read_text
from seqlab.data.splits import required_splits
from seqlab.data.synthetic import synthetic_entity_sentences, write_conllu
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary, build_vocabulary
from seqlab.schema import data as schema

CONLLU_FIELDS = ("upos", "xpos", "deprel", "lemma")
Sentence = tuple[str, list[str], list[str]]  # (where, words, tags)


class TaggingDataModule(SeqDataModule):
    """Aligned tagging (``data=tagging``; task ``tagging``, head ``many_to_many``): one tag per word.

    Sources: ``builtin:synthetic_ner`` (the offline default, :func:`synthetic_entity_sentences`), CoNLL-U files
    (the tag from ``data.tag_field``), CoNLL files (the word in column 0, the tag in ``data.tag_column``), or a
    folder or glob of them. The tag set (``spec.target_vocab``, after the four special tokens) is every tag seen,
    sorted. Batches: ``inputs (B, T)`` word ids, ``targets (B, T)`` tag ids, ``lengths (B,)``.
    """

    name = "tagging"
    builtin_sources = ("builtin:synthetic_ner",)
    file_suffixes = (".conllu", ".conll", ".txt", ".tsv", ".iob", ".bio")

    def __init__(
        self,
        source: str = schema.Tagging.source,
        format: str = schema.Tagging.format,
        tag_field: str = schema.Tagging.tag_field,
        tag_column: int = -1,
        lowercase: bool = schema.Tagging.lowercase,
        min_freq: int = schema.Tagging.min_freq,
        max_vocab: int | None = None,
        max_length: int | None = schema.Tagging.max_length,
        split: tuple[float, float, float] = schema.Tagging.split,
        num_sentences: int = schema.Tagging.num_sentences,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if tag_field not in CONLLU_FIELDS and not (tag_field.startswith("misc:") and len(tag_field) > 5):
            raise DataError(f"data.tag_field must be one of {', '.join(CONLLU_FIELDS)} or misc:KEY, got '{tag_field}'")
        self.format, self.tag_field, self.tag_column = format, tag_field, tag_column
        self.lowercase, self.min_freq, self.max_vocab, self.max_length = lowercase, min_freq, max_vocab, max_length
        self.split_fractions = split
        self.num_sentences = num_sentences

    # -- reading (:meth:`~seqlab.data.base.SeqDataModule.read_splits`: ``(where, words, tags)`` sentences) ---------
    def read_builtin(self, out_dir: Path) -> dict[str, list[Sentence]]:
        """The generated sentences, split by seed, written as CoNLL-U files and read back like any other source."""
        folder = out_dir / "conllu"
        folder.mkdir(parents=True, exist_ok=True)
        sentences = synthetic_entity_sentences(self.num_sentences, self.seed)
        for split, part in self.split([("", words, tags) for words, tags in sentences]).items():
            write_conllu(folder / f"{split}.conllu", [(words, tags) for _, words, tags in part])
        return self.read_split_files(self.split_files(folder))

    def split_key(self, sentence: Sentence) -> str:
        """A sentence's words as the model reads them (lower-cased with ``lowercase``), for finding duplicates."""
        text = " ".join(sentence[1])
        return text.lower() if self.lowercase else text

    def read_file(self, file: Path) -> list[Sentence]:
        conllu_format = self.format == "conllu" or (self.format == "auto" and file.suffix == ".conllu")
        sentences = list(self._read_conllu(file) if conllu_format else self._read_conll(file))
        if not sentences:
            raise DataError(f"{file}: no sentences (expected {'CoNLL-U' if conllu_format else 'CoNLL'} text)")
        return sentences

    def _read_conllu(self, file: Path) -> Iterator[Sentence]:
        import conllu

        field, key = ("misc", self.tag_field[5:]) if self.tag_field.startswith("misc:") else (self.tag_field, None)
        try:
            with file.open(encoding="utf-8") as lines:
                for number, sentence in enumerate(conllu.parse_incr(lines), start=1):
                    # multiword ranges (1-2) and empty nodes (1.1) carry no tag of their own
                    tokens = [t for t in sentence if isinstance(t["id"], int)]
                    tags = [(t.get(field) or {}).get(key) if key else t.get(field) for t in tokens]
                    untagged = [t["form"] for t, tag in zip(tokens, tags) if tag in (None, "_", "")]
                    where = f"{file}: sentence {number}"
                    if untagged:
                        self.malformed(where, f"word '{untagged[0]}' has no {self.tag_field} tag", "sentences")
                    elif tokens:
                        yield where, [t["form"] for t in tokens], [str(tag) for tag in tags]
        except UnicodeDecodeError:
            raise DataError(f"{file}: not UTF-8 text; convert the file to UTF-8") from None
        except conllu.exceptions.ParseException as err:
            raise DataError(f"{file}: not CoNLL-U ({str(err).splitlines()[0]})") from None

    def _read_conll(self, file: Path) -> Iterator[Sentence]:
        words, tags, start = [], [], 1
        for number, line in enumerate([*read_text(file).splitlines(), ""], start=1):
            columns = line.split()
            if not columns or columns[0] == "-DOCSTART-":
                if words:
                    yield f"{file}:{start}", words, tags
                words, tags, start = [], [], number + 1
                continue
            if len(columns) < 2 or not -len(columns) <= self.tag_column < len(columns) or self.tag_column == 0:
                raise DataError(
                    f"{file}:{number}: {len(columns)} column(s) but data.tag_column={self.tag_column} "
                    "(the word is column 0; the tag column must be another)"
                )
            words.append(columns[0])
            tags.append(columns[self.tag_column])

    # -- building -------------------------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        import datasets

        splits = self.read_splits(out_dir)
        required_splits(self.source, splits)
        keys = {split: [self.split_key(sentence) for sentence in rows] for split, rows in splits.items()}
        # the keys are the words joined (lower-cased with lowercase): the sentence measure lower-cases text anyway
        self.write_split_report(out_dir, keys, self.made_splits, near_duplicates(keys, "sentence"))
        tokenizer = Tokenizer("word", lowercase=self.lowercase)
        words = {s: [[w.lower() if self.lowercase else w for w in ws[: self.max_length]] for _, ws, _ in rows]
                 for s, rows in splits.items()}
        vocab = build_vocabulary(tokenizer, words["train"], self.min_freq, self.max_vocab)
        tag_vocab = Vocabulary([*SPECIALS, *sorted({t for rows in splits.values() for _, _, ts in rows for t in ts})])
        for split, rows in splits.items():
            columns = {
                "ids": [vocab.encode(ws) for ws in words[split]],
                "tags": [tag_vocab.encode(ts[: self.max_length]) for _, _, ts in rows],
                "length": [len(ws) for ws in words[split]],
            }
            self.write_split(out_dir, split, datasets.Dataset.from_dict(columns))
        spec = DataSpec(task="tagging", vocab=vocab, tokenizer=tokenizer, target_vocab=tag_vocab)
        self.write_spec(out_dir, spec)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Tensor]:
        inputs, lengths = pad_batch([e["ids"] for e in examples], self.spec.pad_id)
        targets, _ = pad_batch([e["tags"] for e in examples], self.spec.pad_id)
        return {"inputs": inputs, "targets": targets, "lengths": lengths}
