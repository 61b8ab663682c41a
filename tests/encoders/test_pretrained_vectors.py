"""Pretrained word vectors: GloVe/word2vec text files, coverage, fallbacks, clear errors, and a CLI run."""

from __future__ import annotations

import gzip
import re

import pytest
import torch
from support.runs import TINY, run_dirs

from seqlab.data.base import DataSpec
from seqlab.data.embeddings import read_word_vectors
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.errors import ConfigError, DataError
from seqlab.models.builder import build_model

VOCAB = Vocabulary.build([["the", "food", "Good", "zzz"]])  # ids 4.. : the, food, Good, zzz


def write(tmp_path, text: str, name: str = "vectors.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_glove_rows_land_on_their_words_and_missing_words_keep_random_init(tmp_path):
    path = write(tmp_path, "food 1 2 3\nunused 9 9 9\nthe 0.5 0.25 -1\ngood 7 8 9\n")
    spec = DataSpec("classification", VOCAB, Tokenizer("word"), classes=["a", "b"])
    torch.manual_seed(0)
    model = build_model(spec, {"name": "gru"}, {"name": "auto"}, {"hidden_size": 4}, embedding_dim=3)
    random_rows = model.embedding.weight.detach().clone()
    model.load_pretrained_vectors(str(path))
    weight = model.embedding.weight.detach()
    assert weight[VOCAB.stoi["the"]].tolist() == [0.5, 0.25, -1.0]
    assert weight[VOCAB.stoi["food"]].tolist() == [1.0, 2.0, 3.0]
    assert weight[VOCAB.stoi["Good"]].tolist() == [7.0, 8.0, 9.0]  # found through its lowercase form
    assert torch.equal(weight[VOCAB.stoi["zzz"]], random_rows[VOCAB.stoi["zzz"]])
    assert not weight[VOCAB.pad_id].any()
    assert read_word_vectors(path, VOCAB, 3).coverage == 0.75


def test_word2vec_header_and_gzip_are_read(tmp_path):
    path = tmp_path / "vectors.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("2 2\nthe 1 1\nzzz 2 2\n")
    loaded = read_word_vectors(path, VOCAB, 2)
    assert loaded.found.tolist() == [False] * 4 + [True, False, False, True]
    assert loaded.vectors[VOCAB.stoi["zzz"]].tolist() == [2.0, 2.0]


@pytest.mark.parametrize(
    "text, error, message",
    [
        ("the 1 2\nfood 3 4\n", ConfigError, r"vectors\.txt: the file's vectors have 2 dimensions but "
                                             r"model\.embedding_dim=3; set model\.embedding_dim=2"),
        ("10 5\nthe 1 2 3 4 5\n", ConfigError, r"vectors\.txt: the file's vectors have 5 dimensions"),
        ("the 1 2 3\nfood 1 2\n", DataError, r"vectors\.txt:2: 2 numbers after the word, expected 3"),
        ("the 1 2 x\n", DataError, r"vectors\.txt:1: not a number in the vector of 'the'"),
    ],
)
def test_bad_vector_files_fail_in_one_line_naming_the_file(tmp_path, text, error, message):
    with pytest.raises(error, match=message):
        read_word_vectors(write(tmp_path, text), VOCAB, 3)


def test_missing_file_and_onehot_embedding_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.pretrained_vectors=.*nope\.txt: no such file"):
        read_word_vectors(tmp_path / "nope.txt", VOCAB, 3)
    spec = DataSpec("classification", VOCAB, Tokenizer("word"), classes=["a", "b"])
    model = build_model(spec, {"name": "gru"}, {"name": "auto"}, {"hidden_size": 4}, embedding="onehot")
    with pytest.raises(ConfigError, match="needs model.embedding=learned"):
        model.load_pretrained_vectors(str(write(tmp_path, "the 1 2\n")))


def test_cli_trains_a_fixed_window_classifier_from_frozen_pretrained_vectors(run_seqlab, tmp_path):
    words = ["the", "food", "was", "good", "bad", "not", "it", "at", "all", "service"]
    vectors = write(tmp_path, "".join(f"{w} {' '.join(str((i + j) % 5 / 5) for j in range(8))}\n"
                                      for i, w in enumerate(words)))
    result = run_seqlab(*TINY, "data=tweets", "data.num_examples=300", "encoder=fixed_window",
                        "model.encoder.window=3", f"model.pretrained_vectors={vectors}", "model.freeze_embedding=true")
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dirs(tmp_path, "char_rnn")[-1]
    log = (run / "config.log").read_text()  # info lines are in the run's full log (the console is quiet)
    coverage = re.search(r"pretrained vectors .*: (\d+) of (\d+) words found \((\d+\.\d)% coverage\)", log)
    assert coverage and int(coverage.group(1)) == len(words), log[-3000:]
    assert "encoder path FixedWindowEncoder" in log
    weight = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]["model.embedding.weight"]
    vocab = Vocabulary.load(run / "vocab.json")
    assert weight[vocab.stoi["good"]].tolist() == pytest.approx([(3 + j) % 5 / 5 for j in range(8)])  # frozen

    bad = run_seqlab(*TINY, "data=tweets", "data.num_examples=300", "model.embedding_dim=6",
                     f"model.pretrained_vectors={vectors}")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"seqlab: error: model.pretrained_vectors={vectors}: the file's vectors have 8 dimensions but "
        "model.embedding_dim=6; set model.embedding_dim=8"
    )
