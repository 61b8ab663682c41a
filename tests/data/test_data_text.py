"""text_char / text_word: offline defaults, the three modes, WikiText folders, BPE, and bad input."""

from __future__ import annotations

import pytest
import torch
from support.data import cache_entries, first_batch, prepared

from seqlab.data.base import DataError
from seqlab.data.text import CharTextDataModule, WordTextDataModule
from seqlab.data.wikitext import BUILTIN_WIKITEXT_FOLDER


def test_text_char_default_loads_windows_of_the_python_reference(cache_dir):
    dm = prepared(CharTextDataModule, cache_dir, batch_size=4)
    batch = first_batch(dm)
    assert batch["inputs"].shape == batch["targets"].shape == (4, 100)
    assert torch.equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    assert dm.spec.task == "language_model" and not dm.spec.stateful and "e" in dm.spec.vocab.stoi


def test_text_word_default_is_a_wikitext_style_stream_for_truncated_bptt(cache_dir):
    dm = prepared(WordTextDataModule, cache_dir, source="builtin:python_reference_wikitext", batch_size=4)
    folder = cache_dir / "builtin" / BUILTIN_WIKITEXT_FOLDER
    lines = (folder / "train.txt").read_text().splitlines()
    assert {"train.txt", "valid.txt", "test.txt"} <= set(cache_entries(folder))
    assert lines[0] == lines[0].lower() and any("<unk>" in line for line in lines)
    assert dm.spec.stateful and dm.spec.tokenizer.kind == "word"
    batches = iter(dm.train_dataloader())
    first, second = next(batches), next(batches)
    assert first["inputs"].shape == (4, 35)
    assert torch.equal(first["targets"][:, -1], second["inputs"][:, 0])  # batch i+1 continues batch i
    assert (first["inputs"] == dm.spec.vocab.eos_id).any() or (second["inputs"] == dm.spec.vocab.eos_id).any()


def test_wikitext_folder_lines_get_eos_and_lines_mode_pads_bos_eos_examples(tmp_path):
    folder = tmp_path / "wt"
    folder.mkdir()
    for name, text in {"train.txt": "the cat sat\na dog ran far away\n", "valid.txt": "the dog sat\n"}.items():
        (folder / name).write_text(text)
    stream = prepared(WordTextDataModule, tmp_path / "c", source=str(folder), batch_size=1, eval_batch_size=1, bptt=20)
    ids = stream.streams["train"].tolist()
    assert stream.spec.vocab.decode(ids) == "the cat sat <eos> a dog ran far away <eos>".split()
    lines = prepared(WordTextDataModule, tmp_path / "c", source=str(folder), batch_size=2, mode="lines")
    batch = next(iter(lines.train_dataloader()))
    vocab = lines.spec.vocab
    assert sorted(batch["lengths"].tolist()) == [4, 6]
    short = int(batch["lengths"].argmin())
    assert batch["inputs"][short].tolist()[:5] == [vocab.bos_id, *vocab.encode("the cat sat".split()), 0]
    assert batch["targets"][short].tolist()[:5] == [*vocab.encode("the cat sat".split()), vocab.eos_id, 0]


def test_bpe_tokenizer_trains_on_the_split_and_round_trips(tmp_path):
    text = "\n\n".join(f"paragraph {i}: the quick brown fox jumps over the lazy dog." for i in range(60))
    (tmp_path / "t.txt").write_text(text)
    dm = prepared(
        CharTextDataModule,
        tmp_path / "c",
        source=str(tmp_path / "t.txt"),
        tokenizer="bpe",
        bpe_vocab_size=300,
        mode="lines",
        batch_size=2,
    )
    assert dm.spec.tokenizer.kind == "bpe" and len(dm.spec.vocab) <= 300 + 4
    sample = "the lazy fox, unseen: ünïcode"
    assert dm.spec.decode(dm.spec.encode(sample)) == sample


def test_same_seed_gives_the_same_split_and_another_seed_another(tmp_path):
    (tmp_path / "t.txt").write_text("\n\n".join(f"doc {i} " * 30 for i in range(40)))

    def build(seed):
        dm = prepared(CharTextDataModule, tmp_path / "c", source=str(tmp_path / "t.txt"), seed=seed, mode="lines")
        return dm.splits["validation"]["ids"]

    assert [list(x) for x in build(1)] == [list(x) for x in build(1)]
    assert [list(x) for x in build(1)] != [list(x) for x in build(2)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "the file is empty"),
        (b"fine line\nbad \xff byte\n", "t.txt:2: not UTF-8"),
    ],
)
def test_bad_text_sources_fail_with_one_line_naming_the_file_and_leave_no_cache(tmp_path, content, message):
    path = tmp_path / "t.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        prepared(CharTextDataModule, tmp_path / "cache", source=str(path))
    assert "\n" not in str(err.value)
    assert cache_entries(tmp_path / "cache") == []


def test_unknown_mode_and_tokenizer_are_config_errors():
    from seqlab.run.preflight import check_composes  # the data schema's check, before anything is built

    assert check_composes(["data.mode=chunks"]).startswith("data.mode='chunks': expected windows, lines or stream")
    tokenizer = check_composes(["data.tokenizer=sentencepiece"])
    assert tokenizer == "data.tokenizer='sentencepiece': expected char, word or bpe"


def test_a_second_datamodule_with_the_same_options_reuses_the_cache(cache_dir):
    dm = prepared(CharTextDataModule, cache_dir)
    stamp = (dm.cache_path / "spec.json").stat().st_mtime_ns
    again = prepared(CharTextDataModule, cache_dir, batch_size=3)
    assert again.cache_path == dm.cache_path and (again.cache_path / "spec.json").stat().st_mtime_ns == stamp
    assert prepared(CharTextDataModule, cache_dir, seq_len=50).cache_path != dm.cache_path
