"""Parallel corpora (sequence → sequence): translation pairs, and the offline human-date → ISO-date default."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import torch

from seqlab.data.base import (
    ALL_SPLITS,
    HF_SPLITS,
    DataError,
    DataSpec,
    SeqDataModule,
    check_fractions,
    is_remote_or_builtin,
    load_hf,
    log,
    required_splits,
    resolve_files,
    split_by_seed,
)
from seqlab.data.batching import collate_translation
from seqlab.data.overlap import near_duplicates
from seqlab.data.tables import TABLE_SUFFIXES, read_records
from seqlab.data.tweets import SPLIT_FILE_STEMS
from seqlab.data.vocab import Tokenizer, build_vocabulary

#: Babel locales and date patterns of the offline default; numeric formats whose field order depends on the locale
#: (``4/14/35`` vs ``14/04/35``) are left out, since the source text does not say its locale
#: a first row of a CSV/TSV file that reads as a header: language codes (en, fr, pt_BR, zh-Hans) or these names
HEADER_CODE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")
HEADER_NAMES = frozenset({"source", "target", "src", "tgt", "input", "output", "text", "translation", "human", "iso",
                          "from", "to", "question", "answer", "original", "reference"})
DATE_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL")
DATE_FORMATS = ("full", "long", "medium", "d MMM y", "d MMMM y", "dd.MM.y", "EEEE d MMMM y", "MMMM d, y", "d MMM, y")

Pair = tuple[str, str, str]  # where, source text, target text


def human_dates(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` pairs ``(human-readable date, ISO date)``, each ISO date at most once (so splits never share a
    date): dates from 1950–2049 drawn by Faker, written by Babel in one of :data:`DATE_FORMATS` and
    :data:`DATE_LOCALES` (``"samedi 14 avril 2035"`` → ``"2035-04-14"``). Deterministic for a ``seed``."""
    from babel.dates import format_date
    from faker import Faker

    fake = Faker()
    fake.seed_instance(seed)
    start, end = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
    if count > (end - start).days + 1:
        raise DataError(f"data.num_examples={count}: there are only {(end - start).days + 1} distinct dates")
    pairs: dict[str, str] = {}
    while len(pairs) < count:
        date = fake.date_between(start, end)
        iso = date.isoformat()
        if iso in pairs:
            continue
        text = format_date(date, format=fake.random_element(DATE_FORMATS), locale=fake.random_element(DATE_LOCALES))
        pairs[iso] = text.lower() if fake.random.random() < 0.3 else text
    return [(text, iso) for iso, text in pairs.items()]


class ParallelDataModule(SeqDataModule):
    """Sequence pairs for translation (``data=parallel``; task ``translation``, head ``seq2seq``).

    Sources (``data.source``): ``builtin:dates`` (the offline default: human-readable dates in many formats and
    locales → ISO dates, see :func:`human_dates`; sides ``human`` → ``iso``), a TSV/CSV file (a header naming
    ``data.source_lang`` and ``data.target_lang``, or no header: column 0 is the source, column 1 the target), a
    JSON-lines file (``{"en": …, "fr": …}`` or ``{"translation": {"en": …, "fr": …}}``), a folder of them (files
    named ``train``/``valid``/``test`` give the splits), a glob, or ``hf:<name>[:<config>]`` with
    ``opus_books``-style ``translation`` dicts (``hf:opus_books:en-fr``). Pairs longer than ``data.max_length``
    tokens on either side are dropped.

    Source and target have separate tokenizers (``data.tokenizer``, ``data.target_tokenizer``: char, word or bpe)
    and vocabularies: ``spec.vocab`` / ``spec.tokenizer`` for the source, ``spec.target_vocab`` /
    ``spec.target_tokenizer`` for the target.

    Batches: ``inputs (B, S)``, ``lengths (B,)``, ``targets_in (B, T)`` = ``<bos>`` + target,
    ``targets (B, T)`` = target + ``<eos>``, ``target_lengths (B,)``.
    """

    name = "parallel"

    def __init__(
        self,
        source: str = "builtin:dates",
        source_lang: str = "human",
        target_lang: str = "iso",
        tokenizer: str = "char",
        target_tokenizer: str | None = None,
        bpe_vocab_size: int = 2000,
        lowercase: bool = False,
        min_freq: int = 1,
        max_vocab: int | None = None,
        max_length: int | None = 200,
        split: tuple[float, float, float] = (0.9, 0.05, 0.05),
        num_examples: int = 20000,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        for option, kind in (("tokenizer", tokenizer), ("target_tokenizer", target_tokenizer or tokenizer)):
            if kind not in ("char", "word", "bpe"):
                raise DataError(f"data.{option} must be char, word or bpe, got '{kind}'")
        if source_lang == target_lang:
            raise DataError(f"data.source_lang and data.target_lang are both '{source_lang}'")
        self.source_lang, self.target_lang = source_lang, target_lang
        self.tokenizer_kinds = (tokenizer, target_tokenizer or tokenizer)
        self.bpe_vocab_size, self.lowercase = bpe_vocab_size, lowercase
        self.min_freq, self.max_vocab, self.max_length = min_freq, max_vocab, max_length
        self.split_fractions = check_fractions(split)
        self.num_examples = num_examples
        #: the splits seqlab made (by :func:`split_by_seed`) when reading the source; the rest came with it
        self.made_splits: tuple[str, ...] = ()

    def cache_key(self) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "sides": [self.source_lang, self.target_lang],
            "tokenizers": list(self.tokenizer_kinds),
            "bpe_vocab_size": self.bpe_vocab_size if "bpe" in self.tokenizer_kinds else None,
            "lowercase": self.lowercase,
            "vocab": [self.min_freq, self.max_vocab],
            "max_length": self.max_length,
            "split": self.split_fractions,
            "num_examples": self.num_examples if self.source == "builtin:dates" else None,
        }

    # -- reading --------------------------------------------------------------------------------------------------
    def read_splits(self) -> dict[str, list[Pair]]:
        """``{split: [(where, source text, target text)]}``; where seqlab makes the splits, pairs whose source
        sides are equal after normalisation go to one split together."""
        self.made_splits = ()
        if self.source.startswith("builtin:"):
            if self.source != "builtin:dates":
                raise DataError(f"data.source: unknown built-in '{self.source}'; available: builtin:dates")
            pairs = [
                (f"{self.source}[{i}]", h, iso) for i, (h, iso) in enumerate(human_dates(self.num_examples, self.seed))
            ]
            return self.split_pairs(pairs)
        if self.source.startswith("hf:") and is_remote_or_builtin(self.source):
            return self.read_hf()
        path = Path(self.source).expanduser()
        files = resolve_files(self.source, TABLE_SUFFIXES if path.is_dir() else ())
        named = {f: SPLIT_FILE_STEMS.get(f.stem.lower()) for f in files}
        if path.is_dir() and any(named.values()):
            out: dict[str, list[Pair]] = {}
            for file, split in named.items():
                if split:
                    out.setdefault(split, []).extend(self.read_file(file))
            return out
        return self.split_pairs([p for f in files for p in self.read_file(f)])

    def normalise(self, text: str) -> str:
        """A source side as the model reads it, for finding duplicates (lower-cased with ``lowercase``)."""
        text = text.strip()
        return text.lower() if self.lowercase else text

    def split_pairs(self, pairs: list[Pair], made: tuple[str, ...] = ALL_SPLITS) -> dict[str, list[Pair]]:
        """:func:`split_by_seed` of pairs, those with the same normalised source side grouped."""
        self.made_splits = made
        return split_by_seed(pairs, self.split_fractions, self.seed, key=lambda pair: self.normalise(pair[1]))

    def sides(self, record: dict[str, Any]) -> tuple[Any, Any]:
        pair = record.get("translation") if isinstance(record.get("translation"), dict) else record
        return pair.get(self.source_lang), pair.get(self.target_lang)

    def read_file(self, file: Path) -> list[Pair]:
        sides = (self.source_lang, self.target_lang)
        records, columns = read_records(file, self.malformed, sides, sides)
        if records and tuple(columns) == sides and records[0][0] == 1:
            self.refuse_other_header(file, [str(records[0][1][c]).strip() for c in sides])
        pairs: list[Pair] = []
        for line, record in records:
            src, tgt = self.sides(record)
            if src is None or tgt is None or not str(src).strip() or not str(tgt).strip():
                missing = self.source_lang if src is None or not str(src).strip() else self.target_lang
                self.malformed(f"{file}:{line}", f"the '{missing}' side is missing or empty", "lines")
                continue
            pairs.append((f"{file}:{line}", str(src).strip(), str(tgt).strip()))
        if not pairs:
            raise DataError(
                f"{file}: no line has both a '{self.source_lang}' and a '{self.target_lang}' side (columns: "
                f"{', '.join(columns)}); set data.source_lang / data.target_lang"
            )
        return pairs

    def refuse_other_header(self, file: Path, first: list[str]) -> None:
        """A CSV/TSV whose first line names its columns, but not ``data.source_lang``/``data.target_lang``
        (``en<TAB>fr`` with the defaults ``human``/``iso``), would turn that header into a training pair: refused in
        one line naming the options to set."""
        if len(set(first)) == 2 and all(HEADER_CODE.match(c) or c.lower() in HEADER_NAMES for c in first):
            raise DataError(
                f"{file}:1: the header names the columns '{first[0]}' and '{first[1]}', not data.source_lang="
                f"{self.source_lang} and data.target_lang={self.target_lang}; set data.source_lang={first[0]} "
                f"data.target_lang={first[1]} (or remove the header line)"
            )

    def read_hf(self) -> dict[str, list[Pair]]:
        dataset = load_hf(self.source)
        out: dict[str, list[Pair]] = {}
        for split in dataset:
            if split not in HF_SPLITS:
                continue
            pairs = []
            for i, record in enumerate(dataset[split]):
                src, tgt = self.sides(record)
                if src and tgt:
                    pairs.append((f"{self.source}[{split}][{i}]", str(src), str(tgt)))
                else:
                    self.malformed(f"{self.source}[{split}][{i}]", "a side is missing", "records")
            out[HF_SPLITS[split]] = pairs
        if "validation" not in out and "train" in out:
            made = ("train", "validation") if "test" in out else ALL_SPLITS
            out = self.split_pairs(out["train"], made) | ({"test": out["test"]} if "test" in out else {})
        return out

    # -- building -------------------------------------------------------------------------------------------------
    def make_tokenizer(self, kind: str, texts: list[str]) -> Tokenizer:
        if kind == "bpe":
            return Tokenizer.train_bpe(texts, self.bpe_vocab_size, self.lowercase)
        return Tokenizer(kind, self.lowercase)

    def build(self, out_dir: Path) -> None:
        import datasets

        splits = self.read_splits()
        required_splits(self.source, splits)
        keys = {split: [self.normalise(p[1]) for p in pairs] for split, pairs in splits.items()}
        sources = {split: [p[1] for p in pairs] for split, pairs in splits.items()}
        self.write_split_report(out_dir, keys, self.made_splits, near_duplicates(sources, "sentence"))
        train_src = [p[1] for p in splits["train"]]
        train_tgt = [p[2] for p in splits["train"]]
        src_tok = self.make_tokenizer(self.tokenizer_kinds[0], train_src)
        tgt_tok = self.make_tokenizer(self.tokenizer_kinds[1], train_tgt)
        src_vocab = build_vocabulary(src_tok, src_tok.tokenize_batch(train_src), self.min_freq, self.max_vocab)
        tgt_vocab = build_vocabulary(tgt_tok, tgt_tok.tokenize_batch(train_tgt), self.min_freq, self.max_vocab)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            src = [src_vocab.encode(t) for t in src_tok.tokenize_batch(batch["source"])]
            tgt = [
                [tgt_vocab.bos_id, *tgt_vocab.encode(t), tgt_vocab.eos_id]
                for t in tgt_tok.tokenize_batch(batch["target"])
            ]
            return {"src": src, "tgt": tgt, "length": [len(s) for s in src]}

        dropped = 0
        for split, pairs in splits.items():
            columns = {"source": [p[1] for p in pairs], "target": [p[2] for p in pairs]}
            dataset = datasets.Dataset.from_dict(columns).map(encode, batched=True, remove_columns=["source", "target"])
            if self.max_length:
                before = len(dataset)
                dataset = dataset.filter(self.fits, batched=True)
                dropped += before - len(dataset)
            self.write_split(out_dir, split, dataset)
        if dropped:
            log.info("parallel: dropped %d pairs longer than data.max_length=%s", dropped, self.max_length)
        spec = DataSpec(
            task="translation",
            vocab=src_vocab,
            tokenizer=src_tok,
            target_vocab=tgt_vocab,
            target_tokenizer=tgt_tok,
        )
        self.write_spec(out_dir, spec)

    def fits(self, batch: dict[str, list]) -> list[bool]:
        """Pairs with a non-empty source and at most ``max_length`` tokens on each side."""
        limit = self.max_length or 0
        return [0 < len(s) <= limit and len(t) - 2 <= limit for s, t in zip(batch["src"], batch["tgt"])]

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate_translation(examples, self.spec.pad_id)
