"""Non-recurrent encoders: the Recurrent contract, causality, windows, order-freedom, continuation, every head."""

from __future__ import annotations

import pytest
import torch

from seqlab.data.base import DataSpec
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.encoders import BagOfWordsEncoder, EncoderState, FixedWindowEncoder, RecurrentEncoder, TransformerEncoder
from seqlab.models.builder import build_encoder, build_model
from seqlab.models.sequence_model import SequenceModel
from seqlab.registry import ENCODERS, ConfigError

ENCODER_OPTIONS = {
    "fixed_window": {"window": 3, "hidden_size": 12},
    "bag_of_words": {"hidden_size": 12},
    "transformer": {"hidden_size": 12, "num_heads": 2, "num_layers": 2, "dropout": 0.0},
}


def encoder_for(name: str, task: str, num_states: int, options: dict) -> torch.nn.Module:
    """The model builder's encoder ``name`` for input size 5, a ``task`` spec and a cell with ``num_states``."""
    spec = DataSpec(task, Vocabulary.build([list("abc")]), Tokenizer())
    return build_encoder({"name": name, **options}, 5, spec, {"name": "lstm" if num_states == 2 else "gru"})


def make(name: str, causal: bool, num_states: int = 2, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    task = "language_model" if causal else "classification"
    return encoder_for(name, task, num_states, {**ENCODER_OPTIONS[name], **extra}).eval()


@pytest.mark.parametrize("name", list(ENCODER_OPTIONS))
@pytest.mark.parametrize("causal", [True, False])
def test_encoder_follows_the_recurrent_contract(name, causal):
    encoder = make(name, causal)
    outputs, state = encoder(torch.randn(3, 7, 5), torch.tensor([7, 4, 1]))
    assert outputs.shape == (3, 7, encoder.output_size) == (3, 7, 12)
    assert isinstance(state, EncoderState) and len(state) == 2
    assert all(s.shape == (1, 3, 12) for s in state) and not state[1].any()
    assert torch.isfinite(outputs).all()


@pytest.mark.parametrize("name", list(ENCODER_OPTIONS))
def test_causal_outputs_never_depend_on_later_inputs(name):
    encoder = make(name, causal=True)
    x = torch.randn(2, 8, 5)
    changed = x.clone()
    changed[:, 5:] += 3.0
    before, after = encoder(x)[0], encoder(changed)[0]
    assert torch.allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert not torch.allclose(before[:, 5:], after[:, 5:], atol=1e-3)


def test_non_causal_transformer_outputs_see_later_inputs():
    encoder = make("transformer", causal=False)
    x = torch.randn(2, 8, 5)
    changed = x.clone()
    changed[:, 7] += 3.0
    assert not torch.allclose(encoder(x)[0][:, 0], encoder(changed)[0][:, 0], atol=1e-4)


def test_fixed_window_step_sees_only_the_last_n_inputs():
    encoder = make("fixed_window", causal=True)  # window 3: output t reads x_{t-2}, x_{t-1}, x_t
    x = torch.randn(1, 8, 5)
    changed = x.clone()
    changed[:, 2] += 3.0
    before, after = encoder(x)[0], encoder(changed)[0]
    assert not torch.allclose(before[:, 2:5], after[:, 2:5], atol=1e-4)
    assert torch.allclose(before[:, 5:], after[:, 5:], atol=1e-6)


def test_bag_of_words_is_order_free_and_ignores_padding():
    encoder = make("bag_of_words", causal=False)
    x = torch.randn(1, 6, 5)
    shuffled = x[:, torch.randperm(6)]
    assert torch.allclose(encoder(x)[0], encoder(shuffled)[0], atol=1e-6)
    padded = torch.cat([x, torch.randn(1, 3, 5)], dim=1)
    out, state = encoder(padded, torch.tensor([6]))
    assert torch.allclose(out[:, :6], encoder(x)[0], atol=1e-6)
    assert torch.allclose(state[0], encoder(x)[1][0], atol=1e-6)


def test_sum_pool_and_causal_running_mean():
    summed = make("bag_of_words", causal=False, pool="sum")
    x = torch.randn(1, 4, 5)
    assert torch.allclose(summed(x)[0][:, 0], summed.net(x.sum(1)), atol=1e-6)
    running = make("bag_of_words", causal=True)
    assert torch.allclose(running(x)[0][:, 1], running.net(x[:, :2].mean(1)), atol=1e-6)


@pytest.mark.parametrize("name", list(ENCODER_OPTIONS))
def test_padding_does_not_change_real_steps(name):
    encoder = make(name, causal=False)
    x = torch.randn(2, 5, 5)
    padded = torch.cat([x, torch.randn(2, 4, 5)], dim=1)
    alone, state_alone = encoder(x)
    out, state = encoder(padded, torch.tensor([5, 5]).clone().fill_(5))
    assert torch.allclose(alone, out[:, :5], atol=1e-5)
    assert torch.allclose(state_alone[0], state[0], atol=1e-5)


@pytest.mark.parametrize("name", list(ENCODER_OPTIONS))
def test_continuing_from_the_final_state_equals_one_pass(name):
    encoder = make(name, causal=True)
    x = torch.randn(2, 9, 5)
    full, _ = encoder(x)
    first, state = encoder(x[:, :4])
    second, state = encoder(x[:, 4:7], None, state)
    third, _ = encoder(x[:, 7:], None, state)
    assert torch.allclose(full, torch.cat([first, second, third], dim=1), atol=1e-5)


def test_a_recurrent_shaped_state_conditions_every_output():
    encoder = make("fixed_window", causal=True, num_states=1)
    x = torch.randn(2, 4, 5)
    shift = torch.randn(1, 2, 12)
    assert torch.allclose(encoder(x, None, (shift,))[0], encoder(x)[0] + shift[0][:, None], atol=1e-6)


def test_learned_positions_and_length_limit():
    encoder = make("transformer", causal=True, positional="learned", max_length=6)
    assert encoder(torch.randn(1, 6, 5))[0].shape == (1, 6, 12)
    with pytest.raises(ConfigError, match="max_length=6 is shorter than a sequence of 7 steps"):
        encoder(torch.randn(1, 7, 5))


@pytest.mark.parametrize(
    "name, options, task, message",
    [
        ("transformer", {"hidden_size": 10, "num_heads": 4}, "classification", "model.encoder.num_heads=4 must divide"),
        ("transformer", {"positional": "rotary"}, "classification",
         "model.encoder.positional='rotary': expected sinusoidal or learned"),
        ("transformer", {"max_length": 0}, "classification", "model.encoder.max_length=0: expected an integer >= 1"),
        ("transformer", {"num_heads": 0}, "classification", "model.encoder.num_heads=0: expected an integer >= 1"),
        ("transformer", {"causal": False}, "language_model", "model.encoder.causal=false: a language_model encoder"),
        ("transformer", {"causal": "yes"}, "classification", "model.encoder.causal='yes': expected auto, true or"),
        ("fixed_window", {"window": 0}, "classification", "model.encoder.window=0: expected an integer >= 1"),
        ("bag_of_words", {"pool": "max"}, "classification", "model.encoder.pool='max': expected mean or sum"),
        ("bag_of_words", {"hidden_size": 0}, "classification", "model.encoder.hidden_size=0: expected an integer > 0"),
        ("bag_of_words", {"num_layers": 0}, "classification", "model.encoder.num_layers=0: expected an integer >= 1"),
        ("fixed_window", {"dropout": 1.0}, "classification", "model.encoder.dropout=1.0: expected a number >= 0 and"),
        ("bag_of_words", {"bidirectional": True}, "classification",
         "model.encoder.bidirectional: encoder 'bag_of_words' has no option 'bidirectional'"),
    ],
)
def test_bad_options_are_one_line_config_errors(name, options, task, message):
    """Through the model builder, which checks the options against the encoder's schema before building it."""
    spec = DataSpec(task, VOCAB, Tokenizer(), classes=["n", "y"])
    with pytest.raises(ConfigError) as err:
        build_model(spec, {"name": "gru"}, {"name": "auto"}, {"name": name, **ENCODER_OPTIONS[name], **options})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_plugin_encoders_causal_option_is_checked_by_the_encoder_contract():
    """The schema knows only seqlab's encoders: ``Encoder.build`` itself refuses a ``causal`` that is not a choice."""
    with pytest.raises(ConfigError, match="model.encoder.causal must be auto, true or false, got 'yes'"):
        TransformerEncoder.build(5, task="classification", cell={"name": "gru"}, causal="yes")


def test_registry_names_and_unknown_encoder():
    assert {"recurrent", "fixed_window", "bag_of_words", "transformer"} <= set(ENCODERS.names())
    assert ENCODERS.get("recurrent") is RecurrentEncoder and ENCODERS.owner("recurrent") == "seqlab"
    assert ENCODERS.get("transformer") is TransformerEncoder
    assert (ENCODERS.get("fixed_window"), ENCODERS.get("bag_of_words")) == (FixedWindowEncoder, BagOfWordsEncoder)
    with pytest.raises(ConfigError, match="unknown encoder 'rnn'; choose one of: bag_of_words"):
        ENCODERS.get("rnn")


# -- every head ----------------------------------------------------------------------------------------------------
VOCAB = Vocabulary.build([list("abcdef")])


def model_for(task: str, head: dict, encoder: str, cell: str = "lstm", **spec_extra) -> SequenceModel:
    spec = DataSpec(task, VOCAB, Tokenizer(), **spec_extra)
    torch.manual_seed(0)
    return build_model(spec, {"name": cell}, head, {"name": encoder, **ENCODER_OPTIONS[encoder]}, embedding_dim=6)


@pytest.mark.parametrize("encoder", list(ENCODER_OPTIONS))
def test_every_head_trains_and_generates_with_each_encoder(encoder):
    ids = torch.tensor([[4, 5, 6, 7], [5, 6, 0, 0]])
    lengths = torch.tensor([4, 2])
    classify = model_for("classification", {"name": "many_to_one", "pool": "mean"}, encoder, classes=["n", "y"])
    out = classify({"inputs": ids, "lengths": lengths})
    classify.head.loss(out, {"targets": torch.tensor([0, 1])}).backward()
    assert out["logits"].shape == (2, 2)

    lm = model_for("language_model", {"name": "many_to_many"}, encoder)
    out = lm({"inputs": ids, "lengths": lengths})
    assert out["logits"].shape == (2, 4, len(VOCAB))
    samples = lm.head.generate(lm, prompt=[4, 5], num_samples=2, max_length=6, seed=0, stop_at_eos=False)
    assert [len(s) for s in samples] == [6, 6]

    translate = model_for("translation", {"name": "seq2seq", "attention": "luong", "score": "dot"}, encoder, "gru")
    batch = {"inputs": ids, "lengths": lengths, "targets_in": torch.tensor([[2, 6, 5], [2, 4, 0]]),
             "targets": torch.tensor([[6, 5, 3], [4, 3, 0]]), "target_lengths": torch.tensor([3, 2])}
    translate.head.loss(translate(batch), batch).backward()
    assert len(translate.head.generate(translate, source=[[4, 5], [6]], max_length=4, temperature=0)) == 2

    conditional = model_for("conditional_generation", {"name": "one_to_many"}, encoder, classes=["x", "y"])
    batch = {"condition": torch.tensor([0, 1]), "inputs": torch.tensor([[2, 4, 5], [2, 5, 0]]),
             "targets": torch.tensor([[4, 5, 3], [5, 3, 0]]), "lengths": torch.tensor([3, 2])}
    logits = conditional(batch)["logits"]
    assert not torch.allclose(logits[0], logits[1, :, :], atol=1e-4)  # the condition reaches the encoder
    assert len(conditional.head.generate(conditional, condition="y", num_samples=2, max_length=4, seed=0)) == 2


def test_the_default_encoder_is_recurrent_itself():
    from seqlab.cells import Recurrent

    spec = DataSpec("language_model", VOCAB, Tokenizer())
    for encoder in ({"hidden_size": 8}, {"name": "recurrent", "hidden_size": 8, "bidirectional": False}):
        assert isinstance(build_model(spec, {"name": "gru"}, {"name": "auto"}, encoder).encoder, Recurrent)
    # heads see Recurrent's options (for a decoder of the same kind); other encoders as one layer of their size
    model = build_model(spec, {"name": "gru"}, {"name": "auto"}, {"hidden_size": 8, "num_layers": 2, "dropout": 0.1})
    assert model.encoder.head_options() == {
        "hidden_size": 8, "num_layers": 2, "bidirectional": False, "dropout": 0.1, "path": "auto", "compile": False
    }
    assert make("transformer", True).head_options() == {"hidden_size": 12, "num_layers": 1}


@pytest.mark.parametrize(
    ("encoder", "message"),
    [
        ({"hidden_size": 0}, "model.encoder.hidden_size=0: expected an integer > 0"),
        ({"hidden_size": 8, "num_layers": 0}, "model.encoder.num_layers=0: expected an integer >= 1"),
        ({"hidden_size": 8, "dropout": 1.0}, "model.encoder.dropout=1.0: expected a number >= 0 and < 1"),
        ({"hidden_size": 8, "path": "fast"}, "model.encoder.path='fast': expected auto, fused, structured, step or"),
        ({"hidden_size": 8, "window": 3}, "model.encoder.window: encoder 'recurrent' has no option 'window'"),
        ({"name": "rnn", "hidden_size": 8}, "unknown encoder 'rnn'"),
    ],
)
def test_the_recurrent_encoder_is_built_like_the_others_with_one_line_errors(encoder, message):
    spec = DataSpec("classification", VOCAB, Tokenizer(), classes=["n", "y"])
    with pytest.raises(ConfigError, match=message):
        build_model(spec, {"name": "gru"}, {"name": "auto"}, encoder)


def test_a_frozen_embedding_is_not_trained():
    spec = DataSpec("language_model", VOCAB, Tokenizer())
    model = build_model(spec, {"name": "gru"}, {"name": "auto"}, {"hidden_size": 8}, freeze_embedding=True)
    assert not model.embedding.weight.requires_grad and model.encoder.cells[0].W_x.requires_grad
