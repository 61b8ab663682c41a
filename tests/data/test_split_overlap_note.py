"""The val/test overlap with train of a source's own splits: a warning that says what one can do; for a built-in
corpus, whose splits the user cannot change, a note in the run's log only."""

from __future__ import annotations

import logging

from support.data import prepared

from seqlab.data.text import WordTextDataModule


def test_overlap_is_an_actionable_warning_for_a_source_and_a_quiet_note_for_a_built_in(tmp_path, caplog,
                                                                                          monkeypatch):
    folder = tmp_path / "wt"
    folder.mkdir()
    (folder / "train.txt").write_text("a b c\nd e f\n")
    (folder / "valid.txt").write_text("a b c\nx y\n")
    (folder / "test.txt").write_text("d e f\nz\n")
    word = prepared(WordTextDataModule, tmp_path / "c", source=str(folder), batch_size=1, eval_batch_size=1, bptt=2)
    with caplog.at_level(logging.INFO, logger="seqlab.data"):
        word.save_split_report(tmp_path / "run")
    [record] = [r for r in caplog.records if "also occur in train" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "the source's own splits, kept as given; for splits with duplicates grouped give one file and data.split" \
        in record.getMessage()

    caplog.clear()
    # the same recorded report, for a corpus the user cannot re-split (the cache folder is named by the source)
    recorded = word.cache_path
    monkeypatch.setattr(WordTextDataModule, "cache_path", property(lambda self: recorded))
    word.source = "builtin:python_reference_wikitext"
    with caplog.at_level(logging.INFO, logger="seqlab.data"):
        word.save_split_report(tmp_path / "run2")
    [record] = [r for r in caplog.records if "also occur in train" in r.getMessage()]
    assert record.levelno == logging.INFO and "a built-in corpus's fixed splits" in record.getMessage()
