"""The shared vocabulary/tokenizer layer: round trips (property-based), specials, BPE, plain-data round trips."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data.base import DataSpec
from seqlab.data.vocab import SPECIALS, STRUCTURAL, Tokenizer, Vocabulary, build_vocabulary


@given(st.text())
def test_char_encode_decode_is_the_identity_on_any_text(text):
    tokenizer = Tokenizer("char")
    vocab = build_vocabulary(tokenizer, [tokenizer.tokenize(text)])
    spec = DataSpec("language_model", vocab, tokenizer)
    assert spec.decode(spec.encode(text)) == text


@given(st.lists(st.text(min_size=1).filter(lambda w: not any(c.isspace() for c in w)), max_size=20))
def test_word_encode_decode_is_the_identity_on_whitespace_normalised_text(words):
    words = [w for w in words if w not in STRUCTURAL]  # <pad> <bos> <eos> are reserved words
    text = " ".join(words)
    tokenizer = Tokenizer("word")
    spec = DataSpec("language_model", build_vocabulary(tokenizer, [tokenizer.tokenize(text)]), tokenizer)
    assert spec.decode(spec.encode(text)) == " ".join(text.split())


BPE = Tokenizer.train_bpe(["the cat sat on the mat\n", "def f(x):\n    return x * 2\n"] * 20, vocab_size=300)


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_bpe_encode_decode_is_the_identity_on_any_text_even_unseen_characters(text):
    spec = DataSpec("language_model", build_vocabulary(BPE, []), BPE)
    assert spec.decode(spec.encode(text)) == text


def test_word_vocabulary_honours_min_freq_max_size_and_maps_the_rest_to_unk():
    tokens = ["a", "a", "a", "b", "b", "c"]
    assert Vocabulary.build([tokens], min_freq=2).itos == [*SPECIALS, "a", "b"]
    vocab = Vocabulary.build([tokens], max_size=5)
    assert vocab.itos == [*SPECIALS, "a"] and vocab.encode(["b"]) == [vocab.unk_id]
    assert Vocabulary.build([["<eos>", "x"]]).encode(["<eos>"]) == [vocab.eos_id]


def test_decode_drops_padding_and_sentence_marks_but_keeps_unk_visible():
    vocab = Vocabulary.build([["x"]])
    assert vocab.decode([vocab.bos_id, 4, vocab.unk_id, vocab.eos_id, vocab.pad_id], skip_specials=True) == [
        "x",
        "<unk>",
    ]


def test_lowercase_word_tokenizer():
    assert Tokenizer("word", lowercase=True).tokenize("The  Cat\nSAT") == ["the", "cat", "sat"]


def test_spec_with_bpe_and_target_vocab_survives_json_round_trip(tmp_path):
    tokenizer = Tokenizer("word")
    spec = DataSpec(
        "translation",
        build_vocabulary(BPE, []),
        BPE,
        target_vocab=Vocabulary.build([["x", "y"]]),
        target_tokenizer=tokenizer,
        classes=[],
        class_weights=None,
    )
    restored = DataSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert restored.vocab == spec.vocab and restored.target_vocab == spec.target_vocab
    assert restored.encode("the cat") == spec.encode("the cat")
    assert restored.decode(restored.target_vocab.encode(["y", "x"]), target=True) == "y x"
    spec.vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == spec.vocab
