"""Short-text classification (tweet sentiment): CSV/TSV/JSON lines/HF sources, tweet normalisation, class weights."""

from __future__ import annotations

import random
import re
from collections import Counter
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
    required_splits,
    resolve_files,
    split_by_seed,
)
from seqlab.data.batching import collate_classification
from seqlab.data.overlap import near_duplicates
from seqlab.data.tables import TABLE_SUFFIXES, read_records
from seqlab.data.vocab import Tokenizer, build_vocabulary

SPLIT_FILE_STEMS = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
}
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
    ``keep``; ``hashtags``: ``strip`` (``#happy`` → ``happy``), ``remove`` or ``keep``; ``max_repeat``: runs of one
    character longer than this are cut to it (``sooooo`` → ``soo`` with 2; 0 turns it off); ``lowercase``;
    ``split_punctuation``: punctuation and emoji become separate words.

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
        for option, value, choices in (
            ("urls", urls, REPLACE_CHOICES),
            ("mentions", mentions, REPLACE_CHOICES),
            ("emoji", emoji, REPLACE_CHOICES),
            ("hashtags", hashtags, HASHTAG_CHOICES),
        ):
            if value not in choices:
                raise DataError(f"data.{option} must be one of {', '.join(choices)}, got '{value}'")
        self.urls, self.mentions, self.hashtags, self.emoji = urls, mentions, hashtags, emoji
        self.max_repeat, self.lowercase, self.split_punctuation = max_repeat, lowercase, split_punctuation

    def options(self) -> dict[str, Any]:
        return dict(vars(self))

    def __call__(self, text: str) -> str:
        if self.urls != "keep":
            text = _URL.sub(" <url> " if self.urls == "replace" else " ", text)
        if self.mentions != "keep":
            text = _MENTION.sub(" <user> " if self.mentions == "replace" else " ", text)
        if self.hashtags != "keep":
            text = _HASHTAG.sub(r"\1" if self.hashtags == "strip" else " ", text)
        if self.emoji != "keep":
            text = _EMOJI.sub(" <emoji> " if self.emoji == "replace" else " ", text)
        if self.lowercase:
            text = text.lower()
        if self.max_repeat:
            text = re.sub(rf"(.)\1{{{self.max_repeat},}}", r"\1" * self.max_repeat, text)
        if self.split_punctuation:
            return " ".join(_TOKEN.findall(text))
        return " ".join(text.split())


# -- the offline default: sentiment decided by word order -------------------------------------------------------------
_POSITIVE = ["good", "great", "tasty", "fresh", "friendly", "lovely", "excellent", "amazing", "nice", "pleasant"]
_NEGATIVE = ["bad", "awful", "bland", "stale", "rude", "terrible", "poor", "horrible", "nasty", "dull"]
_NOUNS = ["food", "service", "coffee", "pizza", "staff", "music", "movie", "hotel", "room", "show", "game", "book"]
#: {A} is the word that decides the label, {B} the opposite word; each example holds one of each
_TEMPLATES = [
    "the {n} was {A}, not {B} at all",
    "the {n} was not {B}, it was {A}",
    "not {B} at all, the {n} was really {A}",
    "i expected the {n} to be {B} but it was {A}",
    "{A}, not {B}: that is how i would describe the {n}",
    "people said the {n} was {B}. honestly it was {A}",
]
_EMOJI_NEUTRAL = ["🍕", "☕", "🎬", "👀", "📚", "🎵"]


def sentiment_order_examples(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct tweet-like ``(text, label)`` pairs, label ``negative``/``positive``, where only the word
    order decides the label: every text holds one positive and one negative word ("the food was good, not bad at
    all" vs "the food was bad, not good at all"), and @mentions, #hashtags, URLs, emoji and elongated words are
    added independently of the label — so a bag of words is at chance and a model that reads in order is not.
    Deterministic for a ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        label = rng.choice(("negative", "positive"))
        good, bad = rng.choice(_POSITIVE), rng.choice(_NEGATIVE)
        if rng.random() < 0.2:
            stretched = rng.choice((0, 1))
            word = (good, bad)[stretched]
            vowel = next((i for i in range(len(word) - 1, -1, -1) if word[i] in "aeiou"), len(word) - 1)
            word = word[: vowel + 1] + word[vowel] * rng.randint(2, 5) + word[vowel + 1 :]
            good, bad = (word, bad) if stretched == 0 else (good, word)
        a, b = (good, bad) if label == "positive" else (bad, good)
        text = rng.choice(_TEMPLATES).format(n=rng.choice(_NOUNS), A=a, B=b)
        if rng.random() < 0.3:
            text = f"@user{rng.randint(1, 999)} {text}"
        if rng.random() < 0.2:
            text += f" #{rng.choice(_NOUNS)}lover"
        if rng.random() < 0.15:
            text += f" https://t.co/{rng.randrange(16**6):06x}"
        if rng.random() < 0.2:
            text += " " + rng.choice(_EMOJI_NEUTRAL)
        if text not in seen:
            seen.add(text)
            out.append((text, label))
    return out


class TweetsDataModule(SeqDataModule):
    """Tweet (short-text) classification (``data=tweets``; task ``classification``, head ``many_to_one``).

    Sources (``data.source``): ``builtin:sentiment_order`` (the offline default: generated, see
    :func:`sentiment_order_examples`), a CSV/TSV (with a header row) or JSON-lines file, a folder of them (files
    named ``train``/``valid``/``test`` give the splits; otherwise all rows are split by ``data.split``), a glob,
    or ``hf:<name>[:<config>]`` such as ``hf:cardiffnlp/tweet_eval:sentiment`` (``data=tweet_eval``; columns
    ``text``, ``label`` 0/1/2).

    Columns ``data.text_column`` / ``data.label_column``. Labels are class names — numbers too (star ratings 1–5
    are five classes ``"1"``..``"5"``) — unless ``data.label_ids=true`` says they are integer ids into
    ``data.classes`` (``hf:`` datasets with ``ClassLabel`` features say so themselves; their names are used).
    ``data.classes: null`` takes the distinct labels, sorted (by value where they are numbers).
    Text is cleaned by :class:`TweetNormalizer` and split into words (or ``char``/``bpe``).
    ``data.class_weights=balanced`` puts ``n / (C * n_c)`` per class (training counts) into ``spec.class_weights``.

    Batches: ``inputs (B, T)``, ``lengths (B,)``, ``targets (B,)``.
    """

    name = "tweets"

    def __init__(
        self,
        source: str = "builtin:sentiment_order",
        text_column: str = "text",
        label_column: str = "label",
        classes: list[str] | None = None,
        class_weights: str | None = None,
        urls: str = "replace",
        mentions: str = "replace",
        hashtags: str = "strip",
        emoji: str = "keep",
        max_repeat: int = 2,
        lowercase: bool = True,
        split_punctuation: bool = True,
        tokenizer: str = "word",
        bpe_vocab_size: int = 2000,
        min_freq: int = 1,
        max_vocab: int | None = None,
        max_length: int | None = 100,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        num_examples: int = 8000,
        label_ids: bool = False,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if class_weights not in (None, "balanced"):
            raise DataError(f"data.class_weights must be balanced or null, got '{class_weights}'")
        if tokenizer not in ("word", "char", "bpe"):
            raise DataError(f"data.tokenizer must be word, char or bpe, got '{tokenizer}'")
        self.normalizer = TweetNormalizer(urls, mentions, hashtags, emoji, max_repeat, lowercase, split_punctuation)
        self.text_column, self.label_column = text_column, label_column
        self.classes = [str(c) for c in classes] if classes else None
        self.class_weights = class_weights
        self.tokenizer_kind, self.bpe_vocab_size = tokenizer, bpe_vocab_size
        self.min_freq, self.max_vocab, self.max_length = min_freq, max_vocab, max_length
        self.split_fractions = check_fractions(split)
        self.num_examples = num_examples
        self.use_label_ids = bool(label_ids)
        #: the splits seqlab made (by :func:`split_by_seed`) when reading the source; the rest came with it
        self.made_splits: tuple[str, ...] = ()

    def cache_key(self) -> dict[str, Any]:
        return {
            **super().cache_key(),
            "columns": [self.text_column, self.label_column],
            "classes": self.classes,
            "label_ids": self.use_label_ids,
            "class_weights": self.class_weights,
            "normalizer": self.normalizer.options(),
            "tokenizer": [self.tokenizer_kind, self.bpe_vocab_size if self.tokenizer_kind == "bpe" else None],
            "vocab": [self.min_freq, self.max_vocab],
            "max_length": self.max_length,
            "split": self.split_fractions,
            "num_examples": self.num_examples if self.source == "builtin:sentiment_order" else None,
        }

    # -- reading --------------------------------------------------------------------------------------------------
    def read_splits(self) -> tuple[dict[str, list[tuple[str, str, Any]]], list[str] | None]:
        """``{split: [(where, text, raw label)]}`` and the class names the source declares (or None).

        Where seqlab makes the splits, texts equal after normalisation go to one split together."""
        self.made_splits = ()
        if self.source.startswith("builtin:"):
            if self.source != "builtin:sentiment_order":
                raise DataError(f"data.source: unknown built-in '{self.source}'; available: builtin:sentiment_order")
            rows = [
                (f"{self.source}[{i}]", text, label)
                for i, (text, label) in enumerate(sentiment_order_examples(self.num_examples, self.seed))
            ]
            return self.split_rows(rows), ["negative", "positive"]
        if self.source.startswith("hf:") and is_remote_or_builtin(self.source):
            return self.read_hf()
        path = Path(self.source).expanduser()
        files = resolve_files(self.source, TABLE_SUFFIXES if path.is_dir() else ())
        named = {f: SPLIT_FILE_STEMS.get(f.stem.lower()) for f in files}
        if path.is_dir() and any(named.values()):
            out: dict[str, list[tuple[str, str, Any]]] = {}
            for file, split in named.items():
                if split:
                    out.setdefault(split, []).extend(self.read_file(file))
            return out, None
        rows = [row for f in files for row in self.read_file(f)]
        return self.split_rows(rows), None

    def split_rows(self, rows: list[tuple[str, str, Any]], made: tuple[str, ...] = ALL_SPLITS) -> dict[str, list]:
        """:func:`split_by_seed` of ``(where, text, label)`` rows, duplicates by normalised text grouped."""
        self.made_splits = made
        return split_by_seed(rows, self.split_fractions, self.seed, key=lambda row: self.normalizer(row[1]))

    def read_file(self, file: Path) -> list[tuple[str, str, Any]]:
        records, columns = read_records(file, self.malformed)
        for column in (self.text_column, self.label_column):
            if column not in columns:
                raise DataError(
                    f"{file}: no column '{column}' (columns: {', '.join(columns)}); set data.text_column / "
                    "data.label_column"
                )
        out = []
        for line, record in records:
            text, label = record.get(self.text_column), record.get(self.label_column)
            if text is None or label is None or not str(text).strip() or str(label).strip() == "":
                self.malformed(f"{file}:{line}", "empty text or label", "lines")
                continue
            out.append((f"{file}:{line}", str(text), label))
        return out

    def read_hf(self) -> tuple[dict[str, list[tuple[str, str, Any]]], list[str] | None]:
        dataset = load_hf(self.source)
        out: dict[str, list[tuple[str, str, Any]]] = {}
        names = None
        for split in dataset:
            if split not in HF_SPLITS:
                continue
            part = dataset[split]
            for column in (self.text_column, self.label_column):
                if column not in part.column_names:
                    raise DataError(
                        f"data.source={self.source}: no column '{column}' (columns: {', '.join(part.column_names)})"
                    )
            names = getattr(part.features[self.label_column], "names", None) or names
            out[HF_SPLITS[split]] = [
                (where, str(t), self.class_label(label, names, where) if names else label)
                for i, (t, label) in enumerate(zip(part[self.text_column], part[self.label_column]))
                for where in (f"{self.source}[{split}][{i}]",)
            ]
        if "validation" not in out and "train" in out:
            made = ("train", "validation") if "test" in out else ALL_SPLITS
            out = self.split_rows(out["train"], made) | {k: v for k, v in out.items() if k == "test"}
        return out, names

    def class_label(self, label: Any, names: list[str], where: str) -> str:
        """A hub ``ClassLabel`` id → its name (the dataset's features say its integers are ids)."""
        return names[self.label_id_of(str(label).strip(), where, len(names))]

    def class_names(self, rows: dict[str, list[tuple[str, str, Any]]], declared: list[str] | None) -> list[str]:
        """The class list: ``data.classes``, else the source's, else the distinct labels.

        Labels are class names, numbers included (1–5 stars are five classes ``"1"``..``"5"``, sorted by value),
        unless ``data.label_ids=true`` says they are ids ``0..C-1`` (then the classes are ``"0"``..``"max"``).
        Numbers mixed with words (``0``, ``1``, ``negative``, ``positive``) are refused: they are ambiguous.
        """
        if self.classes:
            return self.classes
        if declared:
            return list(declared)
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

        rows, declared = self.read_splits()
        classes = self.class_names(rows, declared)
        index = {c: i for i, c in enumerate(classes)}
        examples: dict[str, dict[str, list]] = {}
        for split, split_rows in rows.items():
            columns: dict[str, list] = {"text": [], "label": []}
            for where, text, label in split_rows:
                label_id = self.label_id(label, classes, index, where)
                normalised = self.normalizer(text)
                if not normalised:
                    self.malformed(where, "no text left after normalisation", "lines")
                    continue
                columns["text"].append(normalised)
                columns["label"].append(label_id)
            examples[split] = columns
        required_splits(self.source, examples)
        raw = {split: [text for _, text, _ in split_rows] for split, split_rows in rows.items()}
        near = near_duplicates(raw, "sentence")
        self.write_split_report(out_dir, {s: c["text"] for s, c in examples.items()}, self.made_splits, near)
        train_texts = examples["train"]["text"]
        if self.tokenizer_kind == "bpe":
            tokenizer = Tokenizer.train_bpe(train_texts, self.bpe_vocab_size)
        else:
            tokenizer = Tokenizer(self.tokenizer_kind)
        vocab = build_vocabulary(tokenizer, tokenizer.tokenize_batch(train_texts), self.min_freq, self.max_vocab)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            ids = [vocab.encode(t[: self.max_length]) for t in tokenizer.tokenize_batch(batch["text"])]
            return {"ids": ids, "length": [len(i) for i in ids]}

        for split, columns in examples.items():
            dataset = datasets.Dataset.from_dict(columns).map(encode, batched=True, remove_columns=["text"])
            self.write_split(out_dir, split, dataset)
        counts = Counter(examples["train"]["label"])
        weights = None
        if self.class_weights == "balanced":
            total = sum(counts.values())
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
