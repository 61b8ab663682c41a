"""Sampling and scoring start from a token the model was trained on: the document separator in windows and
streams (``<eos>`` for words, ``\\n``/``\\n\\n`` for characters and BPE), ``<bos>`` where examples start with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.data import prepared

from seqlab.data.abc_music import AbcMusicDataModule
from seqlab.data.text import CharTextDataModule, WordTextDataModule
from seqlab.models.builder import build_model

MODEL = {
    "cell": {"name": "gru"},
    "head": {"name": "auto"},
    "encoder": {"hidden_size": 16},
    "embedding": "learned",
    "embedding_dim": 8,
}


def training_sequences(datamodule) -> list[np.ndarray]:
    """What the model reads in training: the train stream, or each training example's inputs."""
    if getattr(datamodule, "streams", None):
        return [datamodule.streams["train"]]
    ids = datamodule.splits["train"].with_format(None)["ids"]
    # windows and <bos> … <eos> examples alike: the inputs are all ids but the last
    return [np.asarray(row[:-1]) for row in ids]


def occurs(context: list[int], sequences: list[np.ndarray]) -> bool:
    """Whether ``context`` is a run of consecutive inputs somewhere in training."""
    width = len(context)
    for seq in sequences:
        if len(seq) < width:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(np.asarray(seq), width)
        if (windows == np.asarray(context)).all(axis=1).any():
            return True
    return False


CASES = [
    pytest.param(CharTextDataModule, {"mode": "windows"}, ["\n", "\n"], id="char-windows"),
    pytest.param(CharTextDataModule, {"mode": "stream"}, ["\n", "\n"], id="char-stream"),
    pytest.param(CharTextDataModule, {"mode": "lines"}, ["<bos>"], id="char-lines"),
    pytest.param(WordTextDataModule, {"mode": "stream"}, ["<eos>"], id="word-stream"),
    pytest.param(WordTextDataModule, {"mode": "windows"}, ["<eos>"], id="word-windows"),
    pytest.param(WordTextDataModule, {"mode": "lines"}, ["<bos>"], id="word-lines"),
    pytest.param(
        CharTextDataModule, {"mode": "windows", "tokenizer": "bpe", "bpe_vocab_size": 300}, None, id="bpe-windows"
    ),
    pytest.param(
        CharTextDataModule, {"mode": "stream", "tokenizer": "bpe", "bpe_vocab_size": 300}, None, id="bpe-stream"
    ),
    pytest.param(AbcMusicDataModule, {}, ["<bos>"], id="abc-tunes"),
    pytest.param(AbcMusicDataModule, {"mode": "windows"}, ["<bos>"], id="abc-windows"),
]


@pytest.mark.parametrize("cls, options, tokens", CASES)
def test_the_start_context_of_every_language_model_mode_occurs_in_its_training_data(cache_dir, cls, options, tokens):
    datamodule = prepared(cls, cache_dir, batch_size=8, **options)
    context = datamodule.spec.start_context()
    if tokens is not None:
        assert datamodule.spec.vocab.decode(context) == tokens
    else:  # BPE: the paragraph separator as the trained tokenizer cuts it
        assert datamodule.spec.tokenizer.detokenize(datamodule.spec.vocab.decode(context)) == "\n\n"
    assert occurs(context, training_sequences(datamodule))
    if "<bos>" not in (tokens or []):
        assert not occurs([datamodule.spec.vocab.bos_id], training_sequences(datamodule))  # <bos> never trained


def test_sampling_starts_from_the_start_context(cache_dir):
    datamodule = prepared(WordTextDataModule, cache_dir, batch_size=8)
    torch.manual_seed(0)
    model = build_model(datamodule.spec, **MODEL).eval()
    context = datamodule.spec.start_context()
    assert context == [datamodule.spec.vocab.eos_id]
    prompt = datamodule.spec.encode("the")
    greedy = model.head.generate(model, prompt=prompt, num_samples=1, max_length=4, temperature=0.0, seed=0)[0]
    # greedy decoding by hand, from the context the model was trained with followed by the prompt
    inputs, expected = [*context, *prompt], []
    with torch.no_grad():
        for _ in range(4):
            token = int(model({"inputs": torch.tensor([inputs])})["logits"][0, -1].argmax())
            expected.append(token)
            if token == datamodule.spec.vocab.eos_id:
                break
            inputs.append(token)
    assert greedy == expected
