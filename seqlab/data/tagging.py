"""Aligned tagging (one tag per word: named entities, parts of speech) from CoNLL-U / CoNLL files. Its entity
scoring (:class:`~seqlab.metrics.EntityF1`) is in :mod:`seqlab.metrics`, where the head imports it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import Tensor

from seqlab.data.base import (
    DataError,
    DataSpec,
    SeqDataModule,
    check_fractions,
    required_splits,
    resolve_files,
    split_by_seed,
)
from seqlab.data.batching import pad_batch
from seqlab.data.overlap import near_duplicates
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary, build_vocabulary

#: file stems that name a split (``train.conllu``, ``dev.conllu`` …)
SPLIT_FILE_STEMS = {"train": "train", "valid": "validation", "validation": "validation", "dev": "validation",
                    "test": "test"}
CONLLU_FIELDS = ("upos", "xpos", "deprel", "lemma")
FORMATS = ("auto", "conllu", "conll")
Sentence = tuple[str, list[str], list[str]]  # (where, words, tags)


# -- the offline default: entity types decided by a cue on the left OR on the right -----------------------------------
#: words that name a person, a place or an organisation depending on context ("jordan said" / "in jordan")
_NAMES = ["jordan", "paris", "georgia", "washington", "victoria", "florence", "chelsea", "austin", "sydney",
          "madison", "lincoln", "charlotte", "dallas", "phoenix", "camden", "orlando"]
#: second words of two-word names (tagged I-<type> after a first name)
_SECOND = ["hill", "park", "bay", "rock", "falls", "grove"]
_LEFT_CUES = {"PER": ["mr", "mrs", "dr"], "LOC": ["in", "near", "across"], "ORG": ["firm", "brand", "club"]}
_RIGHT_CUES = {"PER": ["said", "smiled", "sneezed"], "LOC": ["flooded", "froze", "thawed"],
               "ORG": ["merged", "hired", "rebranded"]}
_FILLER = ["yesterday", "we", "heard", "that", "today", "then", "suddenly", "again", "news", "reports", "and",
           "everyone", "knew", "quietly", "later", "once"]
_POS = {**{w: "ADV" for w in ("yesterday", "today", "then", "suddenly", "again", "quietly", "later", "once")},
        **{w: "PRON" for w in ("we", "everyone")}, "heard": "VERB", "knew": "VERB", "that": "SCONJ",
        "news": "NOUN", "reports": "NOUN", "and": "CCONJ", "mr": "PROPN", "mrs": "PROPN", "dr": "PROPN",
        "in": "ADP", "near": "ADP", "across": "ADP", "firm": "NOUN", "brand": "NOUN", "club": "NOUN"}


def synthetic_entity_sentences(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """``count`` sentences ``(words, BIO tags)`` whose entity names (``jordan``, ``paris hill`` …) are PER, LOC or
    ORG only by context: each entity has one cue word, either just before it (``mr jordan``, ``in jordan``,
    ``firm jordan``) or just after it (``jordan said``, ``jordan flooded``, ``jordan merged``), with neutral filler
    words around. A tagger reading left to right sees only half of the cues; a bidirectional one sees all.
    Deterministic for a ``seed``."""
    rng = random.Random(seed)

    def filler(most: int) -> list[tuple[str, str]]:
        return [(word, "O") for word in rng.sample(_FILLER, rng.randint(0, most))]

    sentences = []
    for _ in range(count):
        pairs = filler(3)
        for entity in range(rng.randint(1, 2)):
            if entity:
                pairs.append(("and", "O"))
            kind = rng.choice(("PER", "LOC", "ORG"))
            name = [rng.choice(_NAMES)] + ([rng.choice(_SECOND)] if rng.random() < 0.3 else [])
            tagged = [(word, f"{'I' if i else 'B'}-{kind}") for i, word in enumerate(name)]
            if rng.random() < 0.5:
                pairs += [(rng.choice(_LEFT_CUES[kind]), "O"), *tagged, *filler(1)]
            else:
                pairs += [*filler(1), *tagged, (rng.choice(_RIGHT_CUES[kind]), "O")]
        pairs += filler(2)
        sentences.append(([w for w, _ in pairs], [t for _, t in pairs]))
    return sentences


def write_conllu(path: Path, sentences: list[tuple[list[str], list[str]]]) -> None:
    """Write ``(words, BIO tags)`` sentences as CoNLL-U: the entity tag in MISC (``NER=B-PER``), a UPOS guess."""
    with path.open("w", encoding="utf-8") as out:
        for number, (words, tags) in enumerate(sentences, start=1):
            out.write(f"# sent_id = {number}\n# text = {' '.join(words)}\n")
            for i, (word, tag) in enumerate(zip(words, tags), start=1):
                upos = "PROPN" if tag != "O" else _POS.get(word, "VERB")
                out.write(f"{i}\t{word}\t{word}\t{upos}\t_\t_\t_\t_\t_\tNER={tag}\n")
            out.write("\n")


# -- the datamodule ----------------------------------------------------------------------------------------------------
class TaggingDataModule(SeqDataModule):
    """Aligned tagging (``data=tagging``; task ``tagging``, head ``many_to_many``): one tag per word.

    Sources (``data.source``): ``builtin:synthetic_ner`` (the offline default: :func:`synthetic_entity_sentences`
    written as CoNLL-U files into the cache, then read like any other), a CoNLL-U file (``.conllu``, read with the
    ``conllu`` package; ``data.tag_field``: ``upos``, ``xpos``, ``deprel``, ``lemma`` or ``misc:KEY`` such as
    ``misc:NER``), a CoNLL file (whitespace-separated columns, a blank line between sentences, ``-DOCSTART-``
    skipped; the word in column 0, the tag in ``data.tag_column``), a folder of them (files named
    ``train``/``dev``/``valid``/``test`` give the splits; otherwise sentences are split by ``data.split``) or a
    glob. The tag set (``spec.target_vocab``, after the four special tokens) is every tag seen, sorted.

    Metrics (from the head): ``accuracy`` per word, and ``entity_f1`` (:class:`~seqlab.metrics.EntityF1`) when the tags
    are BIO.
    Batches: ``inputs (B, T)`` word ids, ``targets (B, T)`` tag ids, ``lengths (B,)``.
    """

    name = "tagging"

    def __init__(
        self,
        source: str = "builtin:synthetic_ner",
        format: str = "auto",
        tag_field: str = "misc:NER",
        tag_column: int = -1,
        lowercase: bool = False,
        min_freq: int = 1,
        max_vocab: int | None = None,
        max_length: int | None = 100,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        num_sentences: int = 6000,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if format not in FORMATS:
            raise DataError(f"data.format must be one of {', '.join(FORMATS)}, got '{format}'")
        if tag_field not in CONLLU_FIELDS and not (tag_field.startswith("misc:") and len(tag_field) > 5):
            raise DataError(f"data.tag_field must be one of {', '.join(CONLLU_FIELDS)} or misc:KEY, got '{tag_field}'")
        if num_sentences < 10:
            raise DataError(f"data.num_sentences must be at least 10, got {num_sentences}")
        self.format, self.tag_field, self.tag_column = format, tag_field, tag_column
        self.lowercase, self.min_freq, self.max_vocab, self.max_length = lowercase, min_freq, max_vocab, max_length
        self.split_fractions = check_fractions(split)
        self.num_sentences = num_sentences
        #: the splits seqlab made (by :func:`split_by_seed`) when reading the source; the rest came with it
        self.made_splits: tuple[str, ...] = ()

    def cache_key(self) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "format": self.format,
            "tag": [self.tag_field, self.tag_column],
            "words": [self.lowercase, self.min_freq, self.max_vocab, self.max_length],
            "split": self.split_fractions,
            "num_sentences": self.num_sentences if self.source == "builtin:synthetic_ner" else None,
        }

    # -- reading --------------------------------------------------------------------------------------------------
    def generate_builtin(self, folder: Path) -> Path:
        if self.source != "builtin:synthetic_ner":
            raise DataError(f"data.source: unknown built-in '{self.source}'; available: builtin:synthetic_ner")
        folder.mkdir(parents=True, exist_ok=True)
        sentences = synthetic_entity_sentences(self.num_sentences, self.seed)
        for split, part in self.split_sentences([("", w, t) for w, t in sentences]).items():
            write_conllu(folder / f"{split}.conllu", [(words, tags) for _, words, tags in part])
        return folder

    def read_splits(self, out_dir: Path) -> dict[str, list[Sentence]]:
        """``{split: [(where, words, tags)]}``; where seqlab makes the splits (the generated default too),
        sentences with the same normalised words go to one split together."""
        self.made_splits = ()
        source = str(self.generate_builtin(out_dir / "conllu")) if self.source.startswith("builtin:") else self.source
        path = Path(source).expanduser()
        files = resolve_files(source, (".conllu", ".conll", ".txt", ".tsv", ".iob", ".bio") if path.is_dir() else ())
        named = {f: SPLIT_FILE_STEMS.get(f.stem.lower()) for f in files}
        if path.is_dir() and any(named.values()):
            out: dict[str, list[Sentence]] = {}
            for file, split in named.items():
                if split:
                    out.setdefault(split, []).extend(self.read_file(file))
            return out
        return self.split_sentences([s for f in files for s in self.read_file(f)])

    def normalise(self, words: list[str]) -> str:
        """A sentence as the model reads it, for finding duplicates (lower-cased with ``lowercase``)."""
        text = " ".join(words)
        return text.lower() if self.lowercase else text

    def split_sentences(self, sentences: list[Sentence]) -> dict[str, list[Sentence]]:
        """:func:`split_by_seed` of sentences, those with the same normalised words grouped."""
        self.made_splits = ("train", "validation", "test")
        return split_by_seed(sentences, self.split_fractions, self.seed, key=lambda s: self.normalise(s[1]))

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
        words: list[str] = []
        tags: list[str] = []
        start = 1
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{file}: not UTF-8 text; convert the file to UTF-8") from None
        for number, line in enumerate([*text.splitlines(), ""], start=1):
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
        keys = {split: [self.normalise(words) for _, words, _ in rows] for split, rows in splits.items()}
        sentences = {split: [" ".join(words) for _, words, _ in rows] for split, rows in splits.items()}
        self.write_split_report(out_dir, keys, self.made_splits, near_duplicates(sentences, "sentence"))
        tokenizer = Tokenizer("word", lowercase=self.lowercase)
        cut = self.max_length or None
        words = {s: [[w.lower() if self.lowercase else w for w in ws[:cut]] for _, ws, _ in rows]
                 for s, rows in splits.items()}
        vocab = build_vocabulary(tokenizer, words["train"], self.min_freq, self.max_vocab)
        tag_vocab = Vocabulary([*SPECIALS, *sorted({t for rows in splits.values() for _, _, ts in rows for t in ts})])
        for split, rows in splits.items():
            columns = {
                "ids": [vocab.encode(ws) for ws in words[split]],
                "tags": [tag_vocab.encode(ts[:cut]) for _, _, ts in rows],
                "length": [len(ws) for ws in words[split]],
            }
            self.write_split(out_dir, split, datasets.Dataset.from_dict(columns))
        spec = DataSpec(task="tagging", vocab=vocab, tokenizer=tokenizer, target_vocab=tag_vocab)
        self.write_spec(out_dir, spec)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Tensor]:
        inputs, lengths = pad_batch([e["ids"] for e in examples], self.spec.pad_id)
        targets, _ = pad_batch([e["tags"] for e in examples], self.spec.pad_id)
        return {"inputs": inputs, "targets": targets, "lengths": lengths}
