"""Parallel corpora (sequence → sequence): translation pairs, and the offline human-date → ISO-date default."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.batching import collate_translation
from seqlab.data.overlap import near_duplicates
from seqlab.data.splits import required_splits
from seqlab.data.synthetic import human_dates
from seqlab.data.tables import TABLE_SUFFIXES, read_records
from seqlab.data.vocab import Tokenizer, Vocabulary, build_vocabulary
from seqlab.schema import data as schema

log = logging.getLogger("seqlab.data")

#: a first row of a CSV/TSV file that reads as a header: language codes (en, fr, pt_BR, zh-Hans) or these names
HEADER_CODE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")
HEADER_NAMES = frozenset({"source", "target", "src", "tgt", "input", "output", "text", "translation", "human", "iso",
                          "from", "to", "question", "answer", "original", "reference"})
Pair = tuple[str, str, str]  # where, source text, target text


class ParallelDataModule(SeqDataModule):
    """Sequence pairs for translation (``data=parallel``; task ``translation``, head ``seq2seq``).

    Sources: ``builtin:dates`` (the offline default, :func:`human_dates`; sides ``human`` → ``iso``), TSV/CSV files
    (a header naming ``data.source_lang`` and ``data.target_lang``, or none: column 0 → column 1), JSON-lines
    files (flat keys or ``translation`` dicts), or ``hf:<name>[:<config>]`` such as ``hf:opus_books:en-fr``. Source
    and target have their own tokenizer and vocabulary (``spec.vocab``, ``spec.target_vocab``).

    Batches: ``inputs (B, S)``, ``lengths (B,)``, ``targets_in (B, T)`` = ``<bos>`` + target,
    ``targets (B, T)`` = target + ``<eos>``, ``target_lengths (B,)``.
    """

    name = "parallel"
    builtin_sources = ("builtin:dates",)
    file_suffixes = TABLE_SUFFIXES

    def __init__(
        self,
        source: str = schema.Parallel.source,
        source_lang: str = schema.Parallel.source_lang,
        target_lang: str = schema.Parallel.target_lang,
        tokenizer: str = schema.Parallel.tokenizer,
        target_tokenizer: str | None = None,
        bpe_vocab_size: int = schema.Parallel.bpe_vocab_size,
        lowercase: bool = schema.Parallel.lowercase,
        min_freq: int = schema.Parallel.min_freq,
        max_vocab: int | None = None,
        max_length: int | None = schema.Parallel.max_length,
        split: tuple[float, float, float] = schema.Parallel.split,
        num_examples: int = schema.Parallel.num_examples,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if source_lang == target_lang:
            raise DataError(f"data.source_lang and data.target_lang are both '{source_lang}'")
        self.source_lang, self.target_lang = source_lang, target_lang
        self.tokenizer_kinds = (tokenizer, target_tokenizer or tokenizer)
        self.bpe_vocab_size, self.lowercase = bpe_vocab_size, lowercase
        self.min_freq, self.max_vocab, self.max_length = min_freq, max_vocab, max_length
        self.split_fractions = split
        self.num_examples = num_examples

    # -- reading (:meth:`~seqlab.data.base.SeqDataModule.read_splits`: ``(where, source, target)`` pairs) ----------
    def read_builtin(self, out_dir: Path) -> dict[str, list[Pair]]:
        dates = human_dates(self.num_examples, self.seed)
        return self.split([(f"{self.source}[{i}]", human, iso) for i, (human, iso) in enumerate(dates)])

    def split_key(self, pair: Pair) -> str:
        """A pair's source side as the model reads it (lower-cased with ``lowercase``), for finding duplicates."""
        text = pair[1].strip()
        return text.lower() if self.lowercase else text

    def sides(self, record: dict[str, Any]) -> tuple[Any, Any]:
        pair = record.get("translation") if isinstance(record.get("translation"), dict) else record
        return pair.get(self.source_lang), pair.get(self.target_lang)

    def read_file(self, file: Path) -> list[Pair]:
        sides = (self.source_lang, self.target_lang)
        records, columns = read_records(file, self.malformed, sides)
        if records and tuple(columns) == sides and records[0][0] == 1:
            self.refuse_other_header(file, [str(records[0][1][c]).strip() for c in sides])
        pairs: list[Pair] = []
        for line, record in records:
            src, tgt = ("" if side is None else str(side).strip() for side in self.sides(record))
            if src and tgt:
                pairs.append((f"{file}:{line}", src, tgt))
            else:
                missing = self.target_lang if src else self.source_lang
                self.malformed(f"{file}:{line}", f"the '{missing}' side is missing or empty", "lines")
        if not pairs:
            raise DataError(
                f"{file}: no line has both a '{self.source_lang}' and a '{self.target_lang}' side (columns: "
                f"{', '.join(columns)}); set data.source_lang / data.target_lang"
            )
        return pairs

    def refuse_other_header(self, file: Path, first: list[str]) -> None:
        """A CSV/TSV whose first line names its columns, but not ``data.source_lang``/``data.target_lang``
        (``en<TAB>fr`` with the defaults), would turn that header into a training pair: refused in one line."""
        if len(set(first)) == 2 and all(HEADER_CODE.match(c) or c.lower() in HEADER_NAMES for c in first):
            raise DataError(
                f"{file}:1: the header names the columns '{first[0]}' and '{first[1]}', not data.source_lang="
                f"{self.source_lang} and data.target_lang={self.target_lang}; set data.source_lang={first[0]} "
                f"data.target_lang={first[1]} (or remove the header line)"
            )

    def read_hf_split(self, part: Any, where: str) -> list[Pair]:
        pairs = []
        for i, record in enumerate(part):
            src, tgt = self.sides(record)
            if src and tgt:
                pairs.append((f"{where}[{i}]", str(src), str(tgt)))
            else:
                self.malformed(f"{where}[{i}]", "a side is missing", "records")
        return pairs

    # -- building -------------------------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        import datasets

        splits = self.read_splits(out_dir)
        required_splits(self.source, splits)
        keys = {split: [self.split_key(p) for p in pairs] for split, pairs in splits.items()}
        sources = {split: [p[1] for p in pairs] for split, pairs in splits.items()}
        self.write_split_report(out_dir, keys, self.made_splits, near_duplicates(sources, "sentence"))

        def trained(kind: str, texts: list[str]) -> tuple[Tokenizer, Vocabulary]:
            """One side's tokenizer, trained on its training texts (BPE), and its vocabulary."""
            tok = Tokenizer.make(kind, texts, self.bpe_vocab_size, self.lowercase)
            return tok, build_vocabulary(tok, tok.tokenize_batch(texts), self.min_freq, self.max_vocab)

        src_tok, src_vocab = trained(self.tokenizer_kinds[0], sources["train"])
        tgt_tok, tgt_vocab = trained(self.tokenizer_kinds[1], [p[2] for p in splits["train"]])

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
            kept = dataset.filter(self.fits, batched=True) if self.max_length else dataset
            self.write_split(out_dir, split, kept)
            dropped += len(dataset) - len(kept)
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
        limit = self.max_length
        return [0 < len(s) <= limit and len(t) - 2 <= limit for s, t in zip(batch["src"], batch["tgt"])]

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate_translation(examples, self.spec.pad_id)
