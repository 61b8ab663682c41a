"""one_to_many: reproduces a class-specific sequence from the condition alone; masks and options hold."""

from __future__ import annotations

import pytest
import torch
from head_helpers import make_model, make_spec, pad, train

from seqlab.registry import ConfigError

SPEC = make_spec("conditional_generation", list("abcdefg"), classes=["jig", "reel", "waltz"])
BOS, EOS = 2, 3
#: the one tune each class plays (ids of a-g are 4-10); reel and jig share their opening
TUNES = {"jig": [4, 5, 6, 4, 5, 6], "reel": [4, 5, 9, 9, 10, 8, 7, 6], "waltz": [10, 9, 8]}


def tunes_batch() -> dict[str, torch.Tensor]:
    names = list(TUNES) * 4
    inputs, lengths = pad([[BOS, *TUNES[n]] for n in names])
    targets, _ = pad([[*TUNES[n], EOS] for n in names])
    condition = torch.tensor([SPEC.classes.index(n) for n in names])
    return {"condition": condition, "inputs": inputs, "targets": targets, "lengths": lengths}


@pytest.mark.parametrize(
    ("head", "cell"),
    [
        ({"condition_init": True, "condition_input": False}, "lstm"),
        ({"condition_init": False, "condition_input": True}, "gru"),
        ({"condition_init": True, "condition_input": True}, "rnn_tanh"),
    ],
)
def test_one_to_many_reproduces_each_class_sequence_from_the_condition_alone(head, cell):
    model = make_model(SPEC, {"name": "one_to_many", **head}, cell=cell)
    batch = tunes_batch()
    train(model, lambda step: batch, steps=120)
    for name, tune in TUNES.items():
        assert model.head.generate(model, condition=name, temperature=0, max_length=12) == [[*tune, EOS]]


def test_padding_never_changes_the_logits():
    model = make_model(SPEC, {"name": "one_to_many", "condition_input": True}, num_layers=2, hidden_size=8).eval()
    batch = tunes_batch()
    with torch.no_grad():
        together = model(batch)
        for i in range(3):
            n = int(batch["lengths"][i])
            alone = model({k: v[i : i + 1, :n] if v.dim() == 2 else v[i : i + 1] for k, v in batch.items()})
            torch.testing.assert_close(together["logits"][i, :n], alone["logits"][0], atol=1e-5, rtol=1e-4)


def test_a_one_hot_vector_condition_equals_the_class_id():
    model = make_model(SPEC, {"name": "one_to_many", "condition_input": True}, hidden_size=8).eval()
    batch = tunes_batch()
    vector = dict(batch, condition=torch.nn.functional.one_hot(batch["condition"], 3).float())
    with torch.no_grad():
        torch.testing.assert_close(model(batch)["logits"], model(vector)["logits"])


def test_sampling_is_deterministic_for_a_seed_and_cycles_classes_without_a_condition():
    model = make_model(SPEC, {"name": "one_to_many"}, hidden_size=8)
    options = dict(num_samples=3, max_length=10, temperature=1.0, top_k=5)
    assert model.head.generate(model, seed=3, **options) == model.head.generate(model, seed=3, **options)
    assert model.head.generate(model, seed=3, **options) != model.head.generate(model, seed=4, **options)
    assert model.head.class_ids(None, 4) == [0, 1, 2, 0]
    assert model.head.class_ids(["waltz", 0], 2) == [2, 2, 0, 0]


@pytest.mark.parametrize(
    ("head", "encoder", "message"),
    [
        ({}, {"bidirectional": True}, "set model.encoder.bidirectional=false"),
        ({"condition_init": False}, {}, "set model.head.condition_init or model.head.condition_input to true"),
        ({"condition_dim": -1}, {}, r"model.head.condition_dim=-1: expected null or an integer > 0"),
    ],
)
def test_bad_options_are_one_clear_config_error(head, encoder, message):
    with pytest.raises(ConfigError, match=message):
        make_model(SPEC, {"name": "one_to_many", **head}, **encoder)


def test_an_unknown_condition_names_the_classes():
    model = make_model(SPEC, {"name": "one_to_many"}, hidden_size=8)
    with pytest.raises(ConfigError, match="condition=polka: unknown class; the classes are jig, reel, waltz"):
        model.head.generate(model, condition="polka")
