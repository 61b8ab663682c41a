"""abc_music: the bundled corpora, header filtering, tune-type labels, skipped tunes, valid_tune with music21."""

from __future__ import annotations

import logging

import pytest
from data_helpers import cache_entries, first_batch, prepared

from seqlab.data.abc_music import AbcMusicDataModule, normalise_tune_type, valid_tune
from seqlab.data.base import DataError

GOOD = (
    "X:{n}\nT:Tune {n}\nR:{kind}\nM:6/8\nL:1/8\nZ:someone\nK:G\n|:GAB cBA|GAB d2e:|\n% a comment\n|:gab c'ba|gfe d3:|\n"
)


def abc_file(path, tunes: int, bad: str = "", kind: str = "Jig") -> str:
    path.write_text(bad + "".join(GOOD.format(n=i, kind=kind if i % 2 else "reel") + "\n" for i in range(tunes)))
    return str(path)


def test_default_reads_the_music21_bundled_collections_as_a_char_language_model(cache_dir):
    dm = prepared(AbcMusicDataModule, cache_dir, batch_size=4)
    assert sum(len(s) for s in dm.splits.values()) > 2500
    batch = first_batch(dm)
    assert set(batch) == {"inputs", "targets", "lengths"}
    text = dm.spec.decode(batch["inputs"][0].tolist())
    assert "K:" in text and "X:" not in text and "T:" not in text
    assert batch["inputs"][0, 0] == dm.spec.vocab.bos_id


def test_conditional_generation_exposes_normalised_tune_types_and_drops_the_r_field(cache_dir):
    dm = prepared(AbcMusicDataModule, cache_dir, task="conditional_generation", batch_size=8)
    assert {"reel", "jig", "hornpipe"} <= set(dm.spec.classes)
    batch = first_batch(dm)
    assert batch["condition"].shape == (8,) and batch["inputs"].shape == batch["targets"].shape
    assert "R:" not in dm.spec.decode(batch["inputs"][0].tolist())
    assert normalise_tune_type(" Slip-Jig ") == "slip jig" and normalise_tune_type("REEL") == "reel"


def test_classification_batches_and_keep_headers(tmp_path):
    path = abc_file(tmp_path / "t.abc", 40)
    dm = prepared(
        AbcMusicDataModule,
        tmp_path / "c",
        source=path,
        task="classification",
        min_class_count=5,
        keep_headers=["K"],
        batch_size=4,
    )
    assert sorted(dm.spec.classes) == ["jig", "reel"]
    batch = first_batch(dm)
    assert batch["targets"].shape == (4,) and set(batch) == {"inputs", "lengths", "targets"}
    assert dm.spec.decode(batch["inputs"][0].tolist()).startswith("K:G\n|:")


def test_a_malformed_tune_is_skipped_and_counted_unless_strict(tmp_path, caplog):
    path = abc_file(tmp_path / "t.abc", 30, bad="X:99\nT:no key field\nabc|def|\n\n")
    with caplog.at_level(logging.WARNING, logger="seqlab.data"):
        dm = prepared(AbcMusicDataModule, tmp_path / "c", source=path)
    assert dm.skipped == 1
    assert "skipped 1 malformed tunes" in caplog.text and "t.abc:1" in caplog.text
    with pytest.raises(DataError, match=r"t\.abc:1: .*K:"):
        prepared(AbcMusicDataModule, tmp_path / "c2", source=path, strict=True)
    assert cache_entries(tmp_path / "c2") == []


def test_an_abc_file_without_tunes_is_an_error_naming_it(tmp_path):
    (tmp_path / "empty.abc").write_text("% just a comment\nT:no X line\n")
    with pytest.raises(DataError, match=r"empty\.abc: no ABC tune"):
        prepared(AbcMusicDataModule, tmp_path / "c", source=str(tmp_path / "empty.abc"))
    assert cache_entries(tmp_path / "c") == []


def test_valid_tune_parses_with_music21():
    assert valid_tune("M:6/8\nL:1/8\nK:G\n|:GAB cBA|GAB d2e:|")
    assert not valid_tune("M:6/8\nL:1/8\nK:G\n")  # no notes
    assert not valid_tune("K:G\n|:((GAB")  # music21 refuses it (no note length)
    assert not valid_tune("")
