"""tweets: the generated word-order default (bag of words at chance), normalisation, columns, labels, weights."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from support.data import cache_entries, first_batch, prepared

from seqlab.data.base import DataError
from seqlab.data.synthetic import sentiment_order_examples
from seqlab.data.tweets import TweetNormalizer, TweetsDataModule


def bag_of_words_accuracy(dm) -> float:
    """A linear bag-of-words classifier (least squares on word counts + bias), fit on train, scored on test."""

    def counts(split):
        data = dm.splits[split].with_format(None)
        ids = data["ids"]
        x = np.zeros((len(ids), len(dm.spec.vocab) + 1))
        rows = np.repeat(np.arange(len(ids)), [len(i) for i in ids])
        np.add.at(x, (rows, np.concatenate(ids)), 1.0)
        x[:, -1] = 1.0
        return x, np.asarray(data["label"])

    x, y = counts("train")
    weights = np.linalg.lstsq(x, np.eye(len(dm.spec.classes))[y], rcond=None)[0]
    x_test, y_test = counts("test")
    return float(((x_test @ weights).argmax(-1) == y_test).mean())


def test_default_is_generated_deterministically_and_word_order_decides_the_label(cache_dir):
    assert sentiment_order_examples(50, seed=1) == sentiment_order_examples(50, seed=1)
    dm = prepared(TweetsDataModule, cache_dir, batch_size=8)
    assert dm.spec.task == "classification" and dm.spec.classes == ["negative", "positive"]
    batch = first_batch(dm)
    assert batch["targets"].shape == (8,) and batch["inputs"].shape[0] == 8 and batch["lengths"].max() > 5
    assert abs(bag_of_words_accuracy(dm) - 0.5) < 0.06


def test_normaliser_options():
    text = "@Bob LOVED it sooooo much!!! #BestDay https://t.co/x 😀"
    assert TweetNormalizer()(text) == "<user> loved it soo much ! ! bestday <url> 😀"
    kept = TweetNormalizer(
        urls="keep",
        mentions="remove",
        hashtags="keep",
        emoji="replace",
        max_repeat=0,
        lowercase=False,
        split_punctuation=False,
    )(text)
    assert kept == "LOVED it sooooo much!!! #BestDay https://t.co/x <emoji>"
    with pytest.raises(DataError, match="data.urls"):
        TweetNormalizer(urls="mask")


def test_csv_with_custom_columns_names_and_balanced_class_weights(tmp_path):
    rows = ["tweet,sentiment"] + [f"good day {i},pos" for i in range(30)] + [f"bad day {i},neg" for i in range(10)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    dm = prepared(
        TweetsDataModule,
        tmp_path / "c",
        source=str(tmp_path / "t.csv"),
        text_column="tweet",
        label_column="sentiment",
        class_weights="balanced",
        split=[0.5, 0.25, 0.25],
    )
    assert dm.spec.classes == ["neg", "pos"]
    train_labels = np.asarray(dm.splits["train"]["label"])
    n_neg, n_pos = (train_labels == 0).sum(), (train_labels == 1).sum()
    expected = [len(train_labels) / (2 * n_neg), len(train_labels) / (2 * n_pos)]
    assert dm.spec.class_weights == pytest.approx(expected) and dm.spec.class_weights[0] > 1 > dm.spec.class_weights[1]


def test_tweet_eval_layout_with_integer_labels_and_split_files(tmp_path):
    for split, n in (("train", 20), ("valid", 6), ("test", 6)):
        lines = [json.dumps({"text": f"tweet {i}", "label": i % 3}) for i in range(n)]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines + ["{not json"]) + "\n")
    dm = prepared(
        TweetsDataModule,
        tmp_path / "c",
        source=str(tmp_path),
        classes=["negative", "neutral", "positive"],
        label_ids=True,
    )
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 20, "validation": 6, "test": 6}
    assert dm.skipped == 3 and sorted(set(np.asarray(dm.splits["train"]["label"]).tolist())) == [0, 1, 2]


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("text,stars\nhello,1\n", {}, r"t\.csv: no column 'label' \(columns: text, stars\)"),
        ("text,label\nhello,pos\nbye,meh\n", {"classes": ["pos", "neg"]}, r"t\.csv:3: label 'meh' is not one of"),
        ("text,label\nhello,7\n", {"classes": ["a", "b"]}, r"t\.csv:2: label '7' is not one of"),
        ("", {}, r"t\.csv: the file is empty"),
    ],
)
def test_bad_tweet_files_fail_with_one_line_and_leave_no_cache(tmp_path, content, options, message):
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        prepared(TweetsDataModule, tmp_path / "c", source=str(tmp_path / "t.csv"), **options)
    assert cache_entries(tmp_path / "c") == []


def test_a_row_without_text_is_skipped_and_reported(tmp_path, caplog):
    rows = ["text,label"] + [f"fine {i},a" for i in range(20)] + [",a", "http://x.y,b"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="seqlab.data"):
        dm = prepared(TweetsDataModule, tmp_path / "c", source=str(tmp_path / "t.csv"), urls="remove")
    assert dm.skipped == 2 and "skipped 2 malformed lines" in caplog.text
    with pytest.raises(DataError, match=r"t\.csv:22: empty text or label \(data.strict=true"):
        prepared(TweetsDataModule, tmp_path / "c2", source=str(tmp_path / "t.csv"), strict=True)
