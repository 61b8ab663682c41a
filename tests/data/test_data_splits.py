"""Leak-free splits: where seqlab makes the splits, exact duplicates (after each datamodule's normalisation) stay in
one split; ``data_splits.json`` gives the sizes, the duplicates grouped and the val/test overlap with train, which
is measured and warned about in one line when the source brings its own splits."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from support.data import prepared

from seqlab.data.abc_music import AbcMusicDataModule
from seqlab.data.adding import AddingDataModule
from seqlab.data.parallel import ParallelDataModule
from seqlab.data.splits import SPLITS_FILE, split_by_seed
from seqlab.data.tagging import TaggingDataModule
from seqlab.data.text import CharTextDataModule, WordTextDataModule
from seqlab.data.tweets import TweetsDataModule

KEYS = {"train", "val", "test", "duplicates_grouped", "val_overlap", "test_overlap", "near_duplicates"}


def report(datamodule, run_dir) -> dict:
    """What a run writes: ``<run>/data_splits.json``."""
    datamodule.save_split_report(run_dir)
    written = json.loads((run_dir / SPLITS_FILE).read_text())
    assert set(written) == KEYS
    return written


def rows(datamodule, split: str, column: str = "ids") -> list[tuple]:
    """A split's examples as tuples of ids, read back from the prepared Arrow data (not from the report)."""
    return [tuple(np.asarray(r).ravel().tolist()) for r in datamodule.splits[split].with_format(None)[column]]


def no_shared_examples(datamodule, column: str = "ids") -> bool:
    train = set(rows(datamodule, "train", column))
    return not any(r in train for split in ("validation", "test") for r in rows(datamodule, split, column))


def test_split_by_seed_keeps_each_group_of_duplicates_in_one_split_and_is_unchanged_without_any():
    items = [f"doc {i}" for i in range(50)]
    assert split_by_seed(items, (0.8, 0.1, 0.1), 3, key=str.lower) == split_by_seed(items, (0.8, 0.1, 0.1), 3)
    planted = items + ["DOC 7"] * 4 + ["doc 31", "Doc 31"]
    splits = split_by_seed(planted, (0.8, 0.1, 0.1), 3, key=str.lower)
    home = {s for s, part in splits.items() if "doc 7" in part}
    assert len(home) == 1 and sum(part.count("DOC 7") for part in splits.values()) == 4
    assert "DOC 7" in splits[home.pop()] and len({s for s, p in splits.items() if "Doc 31" in p or "doc 31" in p}) == 1


# -- the defaults: seqlab made the splits, nothing of val/test in train ----------------------------------------------
@pytest.mark.parametrize(
    "cls, options, column",
    [
        (CharTextDataModule, {"mode": "lines"}, "ids"),
        (WordTextDataModule, {"mode": "lines", "source": "builtin:python_reference"}, "ids"),
        (TweetsDataModule, {}, "ids"),
        (ParallelDataModule, {}, "src"),
        (TaggingDataModule, {}, "ids"),
        (AbcMusicDataModule, {}, "ids"),
        (AddingDataModule, {"num_train": 2000, "num_val": 200, "num_test": 200}, "values"),
    ],
)
def test_defaults_have_no_validation_or_test_example_in_train(cache_dir, tmp_path, cls, options, column):
    datamodule = prepared(cls, cache_dir, **options)
    written = report(datamodule, tmp_path)
    assert written["val_overlap"] == 0.0 and written["test_overlap"] == 0.0
    assert written["val"] > 0 and written["test"] > 0 and written["train"] > written["val"]
    assert no_shared_examples(datamodule, column)  # read back from the data itself


def test_text_defaults_in_windows_and_stream_modes_report_their_paragraphs(cache_dir, tmp_path):
    char = report(prepared(CharTextDataModule, cache_dir), tmp_path / "char")
    lines = report(prepared(CharTextDataModule, cache_dir, mode="lines"), tmp_path / "lines")
    assert char == lines and char["duplicates_grouped"] > 0  # the reference repeats paragraphs: grouped, not leaked
    word = report(prepared(WordTextDataModule, cache_dir), tmp_path / "word")  # the built-in WikiText-style folder
    assert word["val_overlap"] == 0.0 and word["test_overlap"] == 0.0


# -- planted duplicates ----------------------------------------------------------------------------------------------
def test_text_groups_planted_paragraphs_and_measures_a_wikitext_folders_own_overlap(tmp_path, caplog):
    paragraphs = [f"paragraph {i} about {'cats' if i % 2 else 'dogs'} and more words" for i in range(40)]
    planted = ["The  REPEATED paragraph"] * 5 + ["the repeated   paragraph"] * 3
    (tmp_path / "t.txt").write_text("\n\n".join(paragraphs + planted))
    word = prepared(
        WordTextDataModule,
        tmp_path / "c",
        source=str(tmp_path / "t.txt"),
        mode="lines",
        lowercase=True,
        split=(0.5, 0.25, 0.25),
        batch_size=2,
        eval_batch_size=2,
    )
    written = report(word, tmp_path / "word")
    assert written["duplicates_grouped"] == 7 and written["val_overlap"] == written["test_overlap"] == 0.0
    assert no_shared_examples(word)
    char = prepared(
        CharTextDataModule, tmp_path / "c", source=str(tmp_path / "t.txt"), mode="lines", split=(0.5, 0.25, 0.25)
    )
    assert report(char, tmp_path / "char")["duplicates_grouped"] == 4 + 2  # case and spaces count for characters

    folder = tmp_path / "wt"
    folder.mkdir()
    (folder / "train.txt").write_text("a b c\n\nd e f\ng h\n")
    (folder / "valid.txt").write_text("\na  b c\nx y\n")  # a blank line is no example; "a b c" is in train
    (folder / "test.txt").write_text("g h\nd e f\nz\nq r\n")
    with caplog.at_level(logging.WARNING, logger="seqlab.data"):
        wikitext = prepared(
            WordTextDataModule, tmp_path / "c", source=str(folder), batch_size=1, eval_batch_size=1, bptt=2
        )
        written = report(wikitext, tmp_path / "wt-run")
    assert written == {
        "train": 4,
        "val": 3,
        "test": 4,
        "duplicates_grouped": 0,
        "val_overlap": 0.5,
        "test_overlap": 0.5,
        "near_duplicates": {"measure": "share of word 8-grams also in train", "val": None, "test": None},
    }
    warnings = [r.getMessage() for r in caplog.records if "also occur in train" in r.getMessage()]
    assert len(warnings) == 1 and "50.0 % of the validation and 50.0 % of the test examples" in warnings[0]


def test_tweets_group_texts_equal_after_normalisation_and_measure_given_splits(tmp_path, caplog):
    texts = [f"tweet number {i} is {'good' if i % 2 else 'bad'}" for i in range(40)]
    planted = ["@bob The food was GOOOOD #yum http://t.co/a", "@amy the food was goood yum http://t.co/b"] * 3
    lines = ["text,label"] + [f"{t},{'pos' if 'good' in t.lower() else 'neg'}" for t in texts + planted]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    tweets = prepared(TweetsDataModule, tmp_path / "c", source=str(tmp_path / "t.csv"), split=(0.5, 0.25, 0.25))
    written = report(tweets, tmp_path / "run")
    assert written["duplicates_grouped"] == 5 and written["val_overlap"] == written["test_overlap"] == 0.0
    assert no_shared_examples(tweets)

    folder = tmp_path / "given"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\n" + "".join(f"{t},pos\n" for t in texts))
    (folder / "valid.csv").write_text(f"text,label\n{texts[0].upper()},pos\nsomething new,neg\n")
    (folder / "test.csv").write_text("text,label\nsomething else,neg\n")
    with caplog.at_level(logging.WARNING, logger="seqlab.data"):
        written = report(prepared(TweetsDataModule, tmp_path / "c", source=str(folder)), tmp_path / "given-run")
    assert (written["val_overlap"], written["test_overlap"], written["duplicates_grouped"]) == (0.5, 0.0, 0)
    assert sum("also occur in train" in r.getMessage() for r in caplog.records) == 1


def test_parallel_groups_pairs_with_the_same_source_side(tmp_path):
    pairs = [f"hello {i}\tbonjour {i}\n" for i in range(40)] + ["good night\tbonne nuit\n"] * 4
    pairs += ["good night\tbonsoir\n"]  # the same input with another target: still one example to read
    (tmp_path / "p.tsv").write_text("".join(pairs))
    parallel = prepared(ParallelDataModule, tmp_path / "c", source=str(tmp_path / "p.tsv"), split=(0.5, 0.25, 0.25))
    written = report(parallel, tmp_path / "run")
    assert written["duplicates_grouped"] == 4 and written["val_overlap"] == written["test_overlap"] == 0.0
    assert no_shared_examples(parallel, "src")


def test_tagging_groups_repeated_sentences(tmp_path):
    sentence = "Marie B-PER\nCurie I-PER\nvient O\n\n"
    others = "".join(f"word{i} O\nParis B-LOC\n\n" for i in range(30))
    (tmp_path / "s.conll").write_text(others + sentence * 6)
    tagging = prepared(TaggingDataModule, tmp_path / "c", source=str(tmp_path / "s.conll"), split=(0.5, 0.25, 0.25))
    written = report(tagging, tmp_path / "run")
    assert written["duplicates_grouped"] == 5 and written["val_overlap"] == written["test_overlap"] == 0.0
    assert no_shared_examples(tagging)


def test_abc_groups_tunes_with_the_same_text(tmp_path):
    body = "|:GAB cBA|GAB d2e:|\n|:gab c'ba|gfe d3:|\n"
    tunes = "".join(
        f"X:{i}\nT:Tune {i}\nR:jig\nM:6/8\nL:1/8\nK:G\n|:{'GA' * (i + 1)} cBA:|\n{body}\n" for i in range(30)
    )
    planted = "".join(f"X:{100 + i}\nT:Another title {i}\nR:jig\nM:6/8\nL:1/8\nK:D\n{body}\n" for i in range(4))
    (tmp_path / "t.abc").write_text(tunes + planted)  # titles are not kept (keep_headers M L R K): one text
    abc = prepared(AbcMusicDataModule, tmp_path / "c", source=str(tmp_path / "t.abc"), split=(0.5, 0.25, 0.25))
    written = report(abc, tmp_path / "run")
    assert written["duplicates_grouped"] == 3
    assert written["val_overlap"] == written["test_overlap"] == 0.0
    assert no_shared_examples(abc)


# -- near duplicates: what exact grouping leaves behind ----------------------------------------------------------------
def test_near_duplicate_word_8grams_are_counted_on_a_planted_paragraph(tmp_path):
    """A validation line that repeats 10 of a training line's words: of its 6 word 8-grams, 3 lie in train."""
    folder = tmp_path / "wt"
    folder.mkdir()
    shared = "one two three four five six seven eight nine ten"
    (folder / "train.txt").write_text(f"{shared} eleven twelve\nsomething else entirely\n")
    (folder / "valid.txt").write_text(f"new start {shared} end\n")  # 13 words: 6 8-grams, 3 inside `shared`
    (folder / "test.txt").write_text("nothing from train here at all in this line\n")
    wikitext = prepared(WordTextDataModule, tmp_path / "c", source=str(folder), batch_size=1, eval_batch_size=1, bptt=2)
    written = report(wikitext, tmp_path / "run")
    assert written["val_overlap"] == 0.0  # no exact duplicate ...
    assert written["near_duplicates"]["val"] == 0.5  # ... but 3 of its 6 8-grams were seen in train
    assert written["near_duplicates"]["test"] == 0.0


def test_near_duplicate_40_character_runs_and_sentences_on_planted_examples(tmp_path):
    from seqlab.data.overlap import near_duplicates

    run = "x" * 5 + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"  # 49 characters: 10 runs of 40
    texts = {"train": [run], "validation": ["?" + run[5:]], "test": ["?" * 45]}  # 45 characters: 6 runs of 40
    chars = near_duplicates(texts, "char")
    assert (chars["val"], chars["test"]) == (round(5 / 6, 6), 0.0)  # the val text's runs after its first are train's
    sentences = {
        "train": ["@bob The food was GOOD!! http://t.co/a", "the staff were rude"],
        "validation": ["@amy the food was good 😀", "the food was bad"],
        "test": ["<user> THE STAFF WERE RUDE !"],
    }
    near = near_duplicates(sentences, "sentence")
    assert (near["val"], near["test"]) == (0.5, 1.0)


def test_tweets_report_planted_near_duplicates_that_exact_grouping_keeps_apart(tmp_path):
    texts = [f"tweet number {i} is {'good' if i % 2 else 'bad'}" for i in range(40)]
    folder = tmp_path / "given"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\n" + "".join(f"{t},pos\n" for t in texts))
    (folder / "valid.csv").write_text(f"text,label\n@bob {texts[0]} :) http://t.co/x,pos\nsomething new,neg\n")
    (folder / "test.csv").write_text("text,label\nsomething else,neg\n")
    written = report(prepared(TweetsDataModule, tmp_path / "c", source=str(folder)), tmp_path / "run")
    assert written["val_overlap"] == 0.0  # "<user> tweet number 0 is bad : ) <url>" is no train text ...
    assert written["near_duplicates"]["val"] == 0.5 and written["near_duplicates"]["test"] == 0.0  # ... its sentence is


def test_the_builtin_word_folder_groups_lines_equal_after_unk_replacement():
    from seqlab.data.wikitext import group_after_unk

    splits = {
        "train": ["str . isascii ( )", "str . upper ( )", "str . upper ( )", "str . upper ( )", "a b"],
        "validation": ["str . isdigit ( )", "a b c"],
        "test": ["str . isalpha ( )", "a b c"],
    }
    grouped, counts = group_after_unk(splits, min_count=3)
    assert grouped["train"][-2:] == ["str . isdigit ( )", "str . isalpha ( )"]  # both were "str . <unk> ( )"
    assert grouped["validation"] == ["a b c", "a b c"] and grouped["test"] == []  # equal across val and test
    assert counts["str"] == 6
