"""Short-text classification (tweet sentiment): CSV/TSV/JSON lines/HF sources, tweet normalisation, class weights."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from seqlab.data.base import DataError, DataSpec, SeqDataModule
from seqlab.data.batching import collate_classification
from seqlab.data.overlap import near_duplicates
from seqlab.data.sources import require_columns
from seqlab.data.splits import required_splits
from seqlab.data.synthetic import sentiment_order_examples
from seqlab.data.tables import TABLE_SUFFIXES, read_records
from seqlab.data.vocab import Tokenizer, build_vocabulary
from seqlab.schema import data as schema

REPLACE_CHOICES = ("replace", "remove", "keep")
HASHTAG_CHOICES = ("strip", "remove", "keep")

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_EMOJI = re.compile(
    "[\U0001f1e6-\U0001f1ff\U0001f300-\U0001f5ff\U0001f600-\U0001f64f\U0001f680-\U0001f6ff"
    "\U0001f900-\U0001f9ff\U0001fa70-\U0001faff\u2600-\u27bf]\ufe0f?"
)
_TOKEN = re.compile(r"<url>|<user>|<emoji>|\w+(?:'\w+)?|[^\w\s]")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


class TweetNormalizer:
    """Tweet clean-up before tokenizing; each option is ``data.<name>``.

    ``urls`` / ``mentions`` / ``emoji``: ``replace`` (by ``<url>`` / ``<user>`` / ``<emoji>``), ``remove`` or
    ``keep``; ``hashtags``: ``strip`` (``#happy`` → ``happy``), ``remove`` or ``keep``; the rest: their ``help=``
    in :mod:`seqlab.schema.data`.

    >>> TweetNormalizer()("@bob The food was GOOOOD!!! #yum https://t.co/x")
    '<user> the food was good ! ! yum <url>'
    """

    def __init__(
        self,
        urls: str = "replace",
        mentions: str = "replace",
        hashtags: str = "strip",
        emoji: str = "keep",
        max_repeat: int = 2,
        lowercase: bool = True,
        split_punctuation: bool = True,
    ):
        self.urls, self.mentions, self.hashtags, self.emoji = urls, mentions, hashtags, emoji
        for option in ("urls", "mentions", "emoji", "hashtags"):
            choices, value = HASHTAG_CHOICES if option == "hashtags" else REPLACE_CHOICES, getattr(self, option)
            if value not in choices:
                raise DataError(f"data.{option} must be one of {', '.join(choices)}, got '{value}'")
        self.max_repeat, self.lowercase, self.split_punctuation = max_repeat, lowercase, split_punctuation

    def __call__(self, text: str) -> str:
        for pattern, choice, kept in ((_URL, self.urls, " <url> "), (_MENTION, self.mentions, " <user> "),
                                      (_HASHTAG, self.hashtags, r"\1"), (_EMOJI, self.emoji, " <emoji> ")):
            if choice != "keep":  # replace (strip, for hashtags) puts ``kept`` in its place; remove, a space
                text = pattern.sub(kept if choice in ("replace", "strip") else " ", text)
        if self.lowercase:
            text = text.lower()
        if self.max_repeat:
            text = re.sub(rf"(.)\1{{{self.max_repeat},}}", r"\1" * self.max_repeat, text)
        if self.split_punctuation:
            return " ".join(_TOKEN.findall(text))
        return " ".join(text.split())


class TweetsDataModule(SeqDataModule):
    """Tweet (short-text) classification (``data=tweets``; task ``classification``, head ``many_to_one``).

    Sources: ``builtin:sentiment_order`` (the offline default, :func:`sentiment_order_examples`), CSV/TSV (with a
    header row) or JSON-lines files, or ``hf:<name>[:<config>]`` such as ``hf:cardiffnlp/tweet_eval:sentiment``.
    Labels: :meth:`class_names`. Text is cleaned by :class:`TweetNormalizer` and split into words (or
    ``char``/``bpe``). ``data.class_weights=balanced`` puts ``n / (C * n_c)`` per class (training counts) into
    ``spec.class_weights``.

    Batches: ``inputs (B, T)``, ``lengths (B,)``, ``targets (B,)``.
    """

    name = "tweets"
    builtin_sources = ("builtin:sentiment_order",)
    file_suffixes = TABLE_SUFFIXES

    def __init__(
        self,
        source: str = schema.Tweets.source,
        text_column: str = schema.Tweets.text_column,
        label_column: str = schema.Tweets.label_column,
        classes: list[str] | None = None,
        class_weights: str | None = None,
        urls: str = schema.Tweets.urls,
        mentions: str = schema.Tweets.mentions,
        hashtags: str = schema.Tweets.hashtags,
        emoji: str = schema.Tweets.emoji,
        max_repeat: int = schema.Tweets.max_repeat,
        lowercase: bool = schema.Tweets.lowercase,
        split_punctuation: bool = schema.Tweets.split_punctuation,
        tokenizer: str = schema.Tweets.tokenizer,
        bpe_vocab_size: int = schema.Tweets.bpe_vocab_size,
        min_freq: int = schema.Tweets.min_freq,
        max_vocab: int | None = None,
        max_length: int | None = schema.Tweets.max_length,
        split: tuple[float, float, float] = schema.Tweets.split,
        num_examples: int = schema.Tweets.num_examples,
        label_ids: bool = schema.Tweets.label_ids,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        self.normalizer = TweetNormalizer(urls, mentions, hashtags, emoji, max_repeat, lowercase, split_punctuation)
        self.text_column, self.label_column = text_column, label_column
        self.classes = [str(c) for c in classes] if classes else None
        self.class_weights = class_weights
        self.tokenizer_kind, self.bpe_vocab_size = tokenizer, bpe_vocab_size
        self.min_freq, self.max_vocab, self.max_length = min_freq, max_vocab, max_length
        self.split_fractions = split
        self.num_examples = num_examples
        self.use_label_ids = bool(label_ids)
        #: the class names the source declares (the generated set's, a hub dataset's ``ClassLabel``), if any
        self.declared_classes: list[str] | None = None

    # -- reading (:meth:`~seqlab.data.base.SeqDataModule.read_splits`: ``(where, text, raw label)`` examples) ------
    def read_builtin(self, out_dir: Path) -> dict[str, list[tuple[str, str, Any]]]:
        self.declared_classes = ["negative", "positive"]
        examples = sentiment_order_examples(self.num_examples, self.seed)
        return self.split([(f"{self.source}[{i}]", text, label) for i, (text, label) in enumerate(examples)])

    def split_key(self, row: tuple[str, str, Any]) -> str:
        """Texts equal after normalisation go to one split together."""
        return self.normalizer(row[1])

    def read_file(self, file: Path) -> list[tuple[str, str, Any]]:
        records, columns = read_records(file, self.malformed)
        wanted = (self.text_column, self.label_column)
        require_columns(str(file), columns, wanted, "; set data.text_column / data.label_column")
        out = []
        for line, record in records:
            text, label = record.get(self.text_column), record.get(self.label_column)
            if text is None or label is None or not str(text).strip() or str(label).strip() == "":
                self.malformed(f"{file}:{line}", "empty text or label", "lines")
                continue
            out.append((f"{file}:{line}", str(text), label))
        return out

    def read_hf_split(self, part: Any, where: str) -> list[tuple[str, str, Any]]:
        require_columns(f"data.source={self.source}", part.column_names, (self.text_column, self.label_column))
        # a ClassLabel feature says the integers are ids of its names
        names = getattr(part.features[self.label_column], "names", None) or self.declared_classes
        self.declared_classes = names
        texts, labels = part[self.text_column], part[self.label_column]
        rows = [(f"{where}[{i}]", str(t), y) for i, (t, y) in enumerate(zip(texts, labels))]
        return [(w, t, names[self.label_id_of(str(y).strip(), w, len(names))] if names else y) for w, t, y in rows]

    def class_names(self, rows: dict[str, list[tuple[str, str, Any]]]) -> list[str]:
        """The class list: ``data.classes``, else the source's, else the distinct labels.

        Labels are class names, numbers included (1–5 stars are five classes ``"1"``..``"5"``, sorted by value),
        unless ``data.label_ids=true`` says they are ids ``0..C-1`` (then the classes are ``"0"``..``"max"``);
        a hub ``ClassLabel`` column gives its names. Numbers mixed with words are refused as ambiguous.
        """
        if self.classes or self.declared_classes:
            return list(self.classes or self.declared_classes)
        labels: dict[str, str] = {}
        for split_rows in rows.values():
            for where, _, label in split_rows:
                labels.setdefault(str(label).strip(), where)
        if not labels:
            raise DataError(f"data.source={self.source}: no labelled examples")
        if self.use_label_ids:
            return [str(i) for i in range(max(self.label_id_of(text, where) for text, where in labels.items()) + 1)]
        numbers = sorted((t for t in labels if _NUMBER.fullmatch(t)), key=float)
        words = sorted(t for t in labels if not _NUMBER.fullmatch(t))
        if numbers and words:
            raise DataError(
                f"data.source={self.source}: labels mix numbers ({', '.join(numbers[:3])}, e.g. "
                f"{labels[numbers[0]]}) and names ({', '.join(words[:3])}, e.g. {labels[words[0]]}); use one "
                "kind, or list the classes in data.classes"
            )
        return numbers or words

    def label_id_of(self, text: str, where: str, num_classes: int | None = None) -> int:
        """``text`` as a class id (``data.label_ids=true``): an integer in ``0..num_classes-1``."""
        if not _INTEGER.fullmatch(text) or int(text) < 0 or (num_classes is not None and int(text) >= num_classes):
            limit = f"0..{num_classes - 1}" if num_classes is not None else "0 or above"
            raise DataError(f"{where}: label '{text}' is not a class id in {limit} (data.label_ids=true)")
        return int(text)

    def label_id(self, label: Any, classes: list[str], index: dict[str, int], where: str) -> int:
        text = str(label).strip()
        if self.use_label_ids:
            return self.label_id_of(text, where, len(classes))
        if text in index:
            return index[text]
        hint = ""
        if _INTEGER.fullmatch(text) and 0 <= int(text) < len(classes):
            hint = " (if the labels are ids into data.classes, set data.label_ids=true)"
        raise DataError(
            f"{where}: label '{text}' is not one of the classes {classes}; fix the file or data.classes{hint}"
        )

    # -- building -------------------------------------------------------------------------------------------------
    def build(self, out_dir: Path) -> None:
        import datasets

        rows = self.read_splits(out_dir)
        classes = self.class_names(rows)
        index = {c: i for i, c in enumerate(classes)}
        examples: dict[str, dict[str, list]] = {split: {"text": [], "label": []} for split in rows}
        for split, split_rows in rows.items():
            for where, text, label in split_rows:
                label_id = self.label_id(label, classes, index, where)
                if normalised := self.normalizer(text):
                    examples[split]["text"].append(normalised)
                    examples[split]["label"].append(label_id)
                else:
                    self.malformed(where, "no text left after normalisation", "lines")
        required_splits(self.source, examples)
        raw = {split: [text for _, text, _ in split_rows] for split, split_rows in rows.items()}
        near = near_duplicates(raw, "sentence")
        self.write_split_report(out_dir, {s: c["text"] for s, c in examples.items()}, self.made_splits, near)
        train_texts = examples["train"]["text"]
        tokenizer = Tokenizer.make(self.tokenizer_kind, train_texts, self.bpe_vocab_size)
        vocab = build_vocabulary(tokenizer, tokenizer.tokenize_batch(train_texts), self.min_freq, self.max_vocab)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            ids = [vocab.encode(t[: self.max_length]) for t in tokenizer.tokenize_batch(batch["text"])]
            return {"ids": ids, "length": [len(i) for i in ids]}

        for split, columns in examples.items():
            dataset = datasets.Dataset.from_dict(columns).map(encode, batched=True, remove_columns=["text"])
            self.write_split(out_dir, split, dataset)
        weights = None
        if self.class_weights == "balanced":
            counts, total = Counter(examples["train"]["label"]), len(examples["train"]["label"])
            weights = [total / (len(classes) * counts[i]) if counts[i] else 0.0 for i in range(len(classes))]
        spec = DataSpec(
            task="classification",
            vocab=vocab,
            tokenizer=tokenizer,
            classes=classes,
            class_weights=weights,
        )
        self.write_spec(out_dir, spec)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return collate_classification(examples, self.spec.pad_id)
