"""model.init_range and model.embedding_dropout: pytorch/examples word_language_model's initialisation and embedding
dropout, and the word_lm recipe that uses them (issue 15: one epoch of seqlab's word_lm ended at half main.py's
perplexity because the embedding started at N(0, 1) instead of U(-0.1, 0.1); docs/experiments.md)."""

from __future__ import annotations

import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.errors import ConfigError
from seqlab.heads import Head
from seqlab.models.builder import build_model, model_options
from seqlab.paths import conf_dir
from seqlab.registry import HEADS
from seqlab.spec import DataSpec

WORDS = [f"w{i}" for i in range(2000)]
SPEC = DataSpec("language_model", Vocabulary.build([WORDS]), Tokenizer("word"))
MODEL = {"cell": {"name": "lstm"}, "head": {"name": "many_to_many"}, "encoder": {"hidden_size": 64}}


def test_init_range_draws_embedding_and_output_weights_from_the_uniform_with_a_zero_bias():
    torch.manual_seed(0)
    model = build_model(SPEC, **MODEL, embedding_dim=64, init_range=0.1)
    for weight in (model.embedding.weight, model.head.out.weight):
        real = weight[1:] if weight is model.embedding.weight else weight  # row 0: padding
        assert real.abs().max() <= 0.1
        assert real.std().item() == pytest.approx(0.1 / math.sqrt(3), rel=0.02)  # U(-r, r) has std r/√3
    assert torch.count_nonzero(model.head.out.bias) == 0
    assert torch.count_nonzero(model.embedding.weight[SPEC.pad_id]) == 0
    assert model.options["init_range"] == 0.1


def test_without_init_range_the_embedding_keeps_pytorchs_standard_normal():
    torch.manual_seed(0)
    model = build_model(SPEC, **MODEL, embedding_dim=64)
    assert model.embedding.weight[1:].std().item() == pytest.approx(1.0, rel=0.02)
    assert model.options["init_range"] is None and model.options["embedding_dropout"] == 0.0


def test_embedding_dropout_drops_the_encoders_input_in_training_only():
    torch.manual_seed(0)
    model = build_model(SPEC, **MODEL, embedding_dim=64, embedding_dropout=0.5)
    seen: list[torch.Tensor] = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    ids = torch.randint(4, len(SPEC.vocab), (8, 30))
    embedded = model.embedding(ids).detach()
    model.train()
    model.encode(ids)
    kept = seen[-1] != 0
    assert kept.float().mean().item() == pytest.approx(0.5, abs=0.03)
    assert torch.allclose(seen[-1][kept], 2 * embedded[kept])  # inverted dropout: kept values scaled by 1/(1-p)
    model.eval()
    model.encode(ids)
    assert torch.equal(seen[-1], embedded)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"init_range": 0.0}, "model.init_range=0.0: expected null or a number > 0"),
        ({"init_range": -0.1}, "model.init_range=-0.1: expected null or a number > 0"),
        ({"embedding_dropout": 1.0}, "model.embedding_dropout=1.0: expected a number >= 0 and < 1"),
    ],
)
def test_bad_init_range_or_embedding_dropout_is_a_one_line_config_error(options, message):
    with pytest.raises(ConfigError) as err:
        build_model(SPEC, **MODEL, **options)
    assert str(err.value) == message


def test_word_lm_starts_as_pytorch_examples_word_language_model():
    """The recipe documented as the reproduction of pytorch/examples builds main.py's network: embedding and decoder
    weights U(-0.1, 0.1), decoder bias 0, dropout 0.2 on the embeddings, between the LSTM layers and on the outputs
    and the forget-gate bias of torch.nn.LSTM's uniform init (0 here; docs/experiments.md measures the difference)."""
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=word_lm"])
    options = model_options(OmegaConf.to_container(cfg.model, resolve=True))
    torch.manual_seed(0)
    model = build_model(SPEC, **options)
    assert model.embedding.weight.abs().max() <= 0.1 and model.head.out.weight.abs().max() <= 0.1
    assert torch.count_nonzero(model.head.out.bias) == 0
    assert model.embedding_dropout.p == 0.2 and model.head.dropout.p == 0.2
    assert options["encoder"]["dropout"] == 0.2 and options["encoder"]["num_layers"] == 2
    assert options["cell"] == {"name": "lstm", "forget_bias": 0.0}


class ProjectedHead(Head):
    """A plugin head whose logits layer is not called ``out``: it declares it."""

    tasks = ("language_model",)

    def __init__(self, ctx):
        super().__init__()
        self.to_vocab = torch.nn.Linear(ctx.encoder_size, ctx.spec.vocab_size)

    def predict(self, encoded, batch):
        return {"logits": self.to_vocab(encoded)}

    def loss(self, out, batch):
        return torch.nn.functional.cross_entropy(out["logits"].flatten(0, 1), batch["targets"].flatten())

    def output_layer(self):
        return self.to_vocab


class UndeclaredProjectedHead(ProjectedHead):
    def output_layer(self):
        return None


@pytest.fixture
def projected_heads():
    for name, cls in (("projected", ProjectedHead), ("projected_undeclared", UndeclaredProjectedHead)):
        HEADS.register(name, cls)
    yield
    for name in ("projected", "projected_undeclared"):
        HEADS._entries.pop(name)
        HEADS._owners.pop(name)


def test_init_range_reaches_the_output_layer_a_head_declares_and_leaves_an_undeclared_one_alone(projected_heads):
    torch.manual_seed(0)
    declared = build_model(SPEC, **{**MODEL, "head": {"name": "projected"}}, embedding_dim=64, init_range=0.01)
    assert declared.head.to_vocab.weight.abs().max() <= 0.01 and torch.count_nonzero(declared.head.to_vocab.bias) == 0
    torch.manual_seed(0)
    undeclared = build_model(SPEC, **{**MODEL, "head": {"name": "projected_undeclared"}}, embedding_dim=64,
                             init_range=0.01)
    assert undeclared.head.to_vocab.weight.abs().max() > 0.01  # PyTorch's U(±1/√64) = U(±0.125) init kept
