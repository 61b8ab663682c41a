"""ABC folk tunes: language modelling, tune-type classification, or tunes conditioned on their type."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.batching import collate_classification, collate_conditional, collate_language_model, flat_ids
from seqlab.data.modes import MODES
from seqlab.data.overlap import near_duplicates
from seqlab.data.sources import load_hf, read_text, require_columns, resolve_files
from seqlab.data.splits import ALL_SPLITS, required_splits
from seqlab.data.vocab import Tokenizer, build_vocabulary
from seqlab.music.abc import Tune, normalise_tune_type, parse_tune, split_tunes
from seqlab.schema import data as schema

log = logging.getLogger("seqlab.data")

#: music21's bundled ABC collections read by ``builtin:music21`` (the default) — no download
DEFAULT_MUSIC21_CORPORA = ("ryansMammoth", "oneills1850")
MUSIC21_CORPORA = ("ryansMammoth", "oneills1850", "essenFolksong")
#: the MIT 6.S191 music lab's own 804 Irish tunes, read by ``builtin:mit6s191`` (bundled: see corpora/README.md)
MIT_LAB_CORPUS = Path(__file__).parent / "corpora" / "mit6s191_irish.abc"
OTHER = "other"


def music21_corpus_files(names: tuple[str, ...]) -> list[Path]:
    """The ``.abc`` files of music21's bundled corpora ``names`` (they ship with the package)."""
    import music21.corpus

    unknown = [name for name in names if name not in MUSIC21_CORPORA]
    if unknown:
        raise DataError(f"data.source: unknown music21 corpus '{unknown[0]}'; available: {', '.join(MUSIC21_CORPORA)}")
    root = Path(music21.corpus.__file__).parent
    return [file for name in names for file in sorted((root / name).rglob("*.abc"))]


class AbcMusicDataModule(SeqDataModule):
    """ABC tunes (``data=abc_music``), character-level by default.

    Sources: ``builtin:music21`` (the default: Ryan's Mammoth Collection and O'Neill's 1850, bundled with music21),
    ``builtin:music21:<corpus>[,<corpus>]``, ``builtin:mit6s191`` (the 804 tunes the MIT 6.S191 music lab trains on,
    bundled with seqlab; without ``R:`` fields, so all of type ``other``), ``.abc`` files, or ``hf:<name>[:<config>]``.
    Tunes are split at ``X:`` lines; one without ``K:`` or music is skipped and counted. An example is a tune's
    ``data.keep_headers`` fields and body; its type is the normalised ``R:`` field (``other`` below
    ``data.min_class_count`` tunes).

    ``data.task``:

    - ``language_model``: ``inputs (B, T)`` = ``<bos>`` + tune, ``targets (B, T)`` = tune + ``<eos>``, ``lengths``.
    - ``conditional_generation``: the same plus ``condition (B,)`` (the tune type's class id).
    - ``classification``: ``inputs (B, T)`` = tune, ``lengths (B,)``, ``targets (B,)`` (tune type).

    For the last two the ``R:`` field is removed from the text, since it is the label. ``data.mode=windows``
    (language model only) is how the MIT 6.S191 music lab feeds its LSTM: each split's tunes joined into one stream
    ``<bos> tune <eos> <bos> tune <eos> …`` (the pair plays the lab's blank line, so sampling from ``<bos>`` yields
    one whole tune), cut as :class:`~seqlab.data.modes.Windows` cuts text.
    """

    name = "abc_music"
    builtin_sources = ("builtin:music21", "builtin:music21:<corpus>[,<corpus>]", "builtin:mit6s191")

    def __init__(
        self,
        source: str = schema.AbcMusic.source,
        task: str = schema.AbcMusic.task,
        keep_headers: tuple[str, ...] | list[str] = schema.AbcMusic.keep_headers,
        max_length: int | None = schema.AbcMusic.max_length,
        min_class_count: int = schema.AbcMusic.min_class_count,
        split: tuple[float, float, float] = schema.AbcMusic.split,
        tokenizer: str = schema.AbcMusic.tokenizer,
        bpe_vocab_size: int = schema.AbcMusic.bpe_vocab_size,
        text_column: str = schema.AbcMusic.text_column,
        mode: str = schema.AbcMusic.mode,
        seq_len: int = schema.AbcMusic.seq_len,
        stride: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        bad = [h for h in keep_headers if not (isinstance(h, str) and len(h) == 1 and h.isalpha())]
        if bad:
            raise DataError(f"data.keep_headers: {bad} are not ABC field letters (e.g. [M, L, R, K])")
        if mode == "windows" and task != "language_model":
            raise DataError(f"data.mode=windows needs data.task=language_model, got '{task}'")
        self.mode, self.seq_len, self.stride = mode, seq_len, stride or seq_len
        self.task = task
        self.keep_headers = tuple(h for h in keep_headers if task == "language_model" or h != "R")
        self.max_length = max_length
        self.min_class_count = min_class_count
        self.split_fractions = split
        self.tokenizer_kind, self.bpe_vocab_size = tokenizer, bpe_vocab_size
        self.text_column = text_column
        self.too_long = 0

    # -- reading --------------------------------------------------------------------------------------------------
    def split_key(self, row: dict[str, Any]) -> str:
        """Identical tunes (the same text the model reads) go to one split together."""
        return row["text"]

    def read_tunes(self) -> list[Tune]:
        if self.source.startswith("hf:"):
            return self.read_hf()
        if self.source.startswith("builtin:"):
            parts = self.source.split(":")
            if self.source == "builtin:mit6s191":
                files = [MIT_LAB_CORPUS]
            elif parts[1] == "music21":
                names = tuple(parts[2].split(",")) if len(parts) > 2 and parts[2] else DEFAULT_MUSIC21_CORPORA
                files = music21_corpus_files(names)
            else:
                raise self.unknown_builtin()
        else:
            files = resolve_files(self.source, (".abc",))  # the suffix picks a folder's files
        return [tune for file in files for tune in self.parse_text(read_text(file), str(file))]

    def read_hf(self) -> list[Tune]:
        dataset = load_hf(self.source)
        tunes: list[Tune] = []
        for split in dataset:
            columns = dataset[split].column_names
            require_columns(f"data.source={self.source}", columns, [self.text_column], "; set data.text_column")
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
                tunes.append(parse_tune(lines))
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
        if self.task != "language_model" and len(classes) < 2:
            raise DataError(
                f"data.source={self.source}: data.task={self.task} needs tune types, but fewer than two types have "
                f"data.min_class_count={self.min_class_count} tunes with an R: field"
            )
        class_id = {c: i for i, c in enumerate(classes)}
        rows = [
            {"text": tune.text(self.keep_headers), "label": class_id.get(kind, class_id.get(OTHER, 0))}
            for tune, kind in zip(tunes, types)
        ]
        splits = self.split(rows)
        required_splits(self.source, splits)
        keys = {split: [r["text"] for r in split_rows] for split, split_rows in splits.items()}
        self.write_split_report(out_dir, keys, ALL_SPLITS, near_duplicates(keys, "char"))
        tokenizer = Tokenizer.make(self.tokenizer_kind, keys["train"], self.bpe_vocab_size)
        vocab = build_vocabulary(tokenizer, tokenizer.tokenize_batch(keys["train"]))
        specials = self.task != "classification"

        def encode(batch: dict[str, list]) -> dict[str, list]:
            ids = [vocab.encode(t) for t in tokenizer.tokenize_batch(batch["text"])]
            if specials:
                ids = [[vocab.bos_id, *i, vocab.eos_id] for i in ids]
            return {"ids": ids, "length": [len(i) - specials for i in ids]}

        for split, split_rows in splits.items():
            dataset = datasets.Dataset.from_list(split_rows).map(encode, batched=True, remove_columns=["text"])
            if self.max_length:
                kept = dataset.filter(lambda b: [n <= self.max_length for n in b["length"]], batched=True)
                self.too_long, dataset = self.too_long + len(dataset) - len(kept), kept
            if self.mode == "windows":  # the text datamodule's windows, of the tunes joined into one stream
                stream = [([flat_ids(dataset)], [True])]
                self.write_split_batches(out_dir, split, *MODES["windows"].rows(self, split, vocab, stream))
                continue
            self.write_split(out_dir, split, dataset)
        if self.too_long:
            log.info("abc_music: dropped %d tunes longer than data.max_length=%s", self.too_long, self.max_length)
        spec = DataSpec(
            task=self.task,
            vocab=vocab,
            tokenizer=tokenizer,
            classes=classes if self.task != "language_model" else [],
        )
        self.write_spec(out_dir, spec)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        collate = {"classification": collate_classification, "conditional_generation": collate_conditional}
        return collate.get(self.task, collate_language_model)(examples, self.spec.pad_id)  # windows: no padding
