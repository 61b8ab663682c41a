"""parallel: the generated dates default, TSV/JSONL layouts, separate vocabularies, missing sides."""

from __future__ import annotations

import json

import pytest
from support.data import cache_entries, first_batch, prepared

from seqlab.data.base import DataError
from seqlab.data.parallel import ParallelDataModule
from seqlab.data.synthetic import human_dates


def test_dates_default_maps_many_formats_to_iso_without_sharing_a_date_across_splits(cache_dir):
    dm = prepared(ParallelDataModule, cache_dir, batch_size=8)
    spec = dm.spec
    assert spec.task == "translation" and spec.target_vocab is not None
    assert set(spec.target_vocab.itos[4:]) == set("0123456789-")
    iso = {split: {spec.decode(row, target=True) for row in ds["tgt"]} for split, ds in dm.splits.items()}
    assert (
        not iso["train"] & iso["validation"] and not iso["train"] & iso["test"] and not iso["validation"] & iso["test"]
    )
    batch = first_batch(dm)
    assert batch["inputs"].shape[0] == batch["targets_in"].shape[0] == 8
    assert (batch["targets_in"][:, 0] == spec.target_vocab.bos_id).all()
    assert batch["targets"].shape == batch["targets_in"].shape and (batch["target_lengths"] == 11).all()
    texts = [text for text, _ in human_dates(200, seed=3)]
    assert any(not t.isascii() for t in texts) and len({t.split()[0] for t in texts}) > 20


def test_headerless_tsv_and_translation_dict_jsonl_with_named_sides(tmp_path):
    (tmp_path / "p.tsv").write_text("".join(f"hello {i}\tbonjour {i}\n" for i in range(40)))
    dm = prepared(
        ParallelDataModule,
        tmp_path / "c",
        source=str(tmp_path / "p.tsv"),
        source_lang="en",
        target_lang="fr",
        tokenizer="word",
    )
    assert "hello" in dm.spec.vocab.stoi and "bonjour" in dm.spec.target_vocab.stoi
    assert "bonjour" not in dm.spec.vocab.stoi
    records = [{"id": i, "translation": {"en": f"the cat {i}", "fr": f"le chat {i}"}} for i in range(40)]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    dm = prepared(
        ParallelDataModule,
        tmp_path / "c",
        source=str(tmp_path / "p.jsonl"),
        source_lang="en",
        target_lang="fr",
        target_tokenizer="word",
    )
    assert dm.spec.tokenizer.kind == "char" and dm.spec.target_tokenizer.kind == "word"
    assert "chat" in dm.spec.target_vocab.stoi


def test_a_line_with_a_missing_side_is_skipped_but_a_file_without_one_side_is_an_error(tmp_path):
    (tmp_path / "p.tsv").write_text("en\tfr\n" + "".join(f"hi {i}\tsalut {i}\n" for i in range(30)) + "lonely\n")
    dm = prepared(
        ParallelDataModule, tmp_path / "c", source=str(tmp_path / "p.tsv"), source_lang="en", target_lang="fr"
    )
    assert dm.skipped == 1
    (tmp_path / "one.jsonl").write_text("\n".join(json.dumps({"en": f"hi {i}"}) for i in range(5)))
    with pytest.raises(DataError, match=r"one\.jsonl: no line has both a 'en' and a 'fr' side"):
        prepared(
            ParallelDataModule, tmp_path / "c2", source=str(tmp_path / "one.jsonl"), source_lang="en", target_lang="fr"
        )
    with pytest.raises(DataError, match=r"one\.jsonl:1: the 'fr' side is missing"):
        prepared(
            ParallelDataModule,
            tmp_path / "c2",
            source=str(tmp_path / "one.jsonl"),
            source_lang="en",
            target_lang="fr",
            strict=True,
        )
    assert cache_entries(tmp_path / "c2") == []


def test_missing_parallel_file_is_a_clear_error():
    with pytest.raises(DataError, match="nowhere.tsv does not exist"):
        ParallelDataModule(source="nowhere.tsv").prepare_data()


def test_a_header_naming_other_columns_is_one_clear_error_not_a_training_pair(tmp_path):
    (tmp_path / "p.tsv").write_text("en\tfr\n" + "".join(f"hi {i}\tsalut {i}\n" for i in range(30)))
    with pytest.raises(DataError) as error:
        prepared(ParallelDataModule, tmp_path / "c", source=str(tmp_path / "p.tsv"))
    assert str(error.value) == (
        f"{tmp_path / 'p.tsv'}:1: the header names the columns 'en' and 'fr', not data.source_lang=human and "
        "data.target_lang=iso; set data.source_lang=en data.target_lang=fr (or remove the header line)"
    )
    assert cache_entries(tmp_path / "c") == []
    # a first line of data is data
    (tmp_path / "q.tsv").write_text("".join(f"hi {i}\tsalut {i}\n" for i in range(30)))
    assert prepared(ParallelDataModule, tmp_path / "c2", source=str(tmp_path / "q.tsv")).splits
