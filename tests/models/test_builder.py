"""seqlab.models.builder: the one place the model config becomes a network, and checkpoints become a module again."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.encoders import Encoder
from seqlab.errors import CheckpointError, ConfigError
from seqlab.models.builder import build_model, load_module, make_module, model_options
from seqlab.registry import ENCODERS, registering_as
from seqlab.spec import DataSpec

SPEC = DataSpec("language_model", Vocabulary.build([list("abcd")]), Tokenizer("char"))
MODEL = {"cell": {"name": "gru"}, "head": {"name": "auto"}, "encoder": {"hidden_size": 8}, "embedding_dim": 4}


def test_model_options_refuse_an_unknown_key_in_one_line():
    assert model_options({**MODEL, "pretrained_vectors": None})["freeze_embedding"] is False
    with pytest.raises(ConfigError) as err:
        model_options({**MODEL, "embeding_dim": 8})
    assert str(err.value) == (
        "model.embeding_dim: model 'default' has no option 'embeding_dim' (did you mean embedding_dim?); its options "
        "are: embedding, embedding_dim, embedding_dropout, freeze_embedding, init_range, pretrained_vectors"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"embedding": "glove"}, "model.embedding='glove': expected learned, onehot, linear or identity ("),
        ({"embedding_dim": 0}, "model.embedding_dim=0: expected an integer > 0"),
        ({"embedding": "linear"}, "model.embedding=linear needs real-valued inputs; the data gives token ids"),
        ({"head": {"name": "many_to_one"}}, "head=many_to_one does not fit the data's task 'language_model'"),
        ({"head": {"name": "many_to_many", "pool": "mean"}}, "model.head.pool: head 'many_to_many' has no option"),
        ({"encoder": {"name": "transformer", "hidden_size": 8, "heads": 2}},
         "model.encoder.heads: encoder 'transformer' has no option 'heads' (did you mean num_heads?)"),
    ],
)
def test_bad_model_options_are_one_line_config_errors(options, message):
    with pytest.raises(ConfigError) as err:
        build_model(SPEC, **{**MODEL, **options})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "options"),
    [
        (["model.embedding=glove"], {"embedding": "glove"}),
        (["model.embedding_dropout=1.0"], {"embedding_dropout": 1.0}),
        (["model.encoder.path=fast"], {"encoder": {"hidden_size": 8, "path": "fast"}}),
        (["cell=indrnn", "model.cell.recurrent_max=0"], {"cell": {"name": "indrnn", "recurrent_max": 0}}),
        (["head=many_to_one", "model.head.pool=first"], {"head": {"name": "many_to_one", "pool": "first"}}),
        (["head=regression", "model.head.pool=max"], {"head": {"name": "regression", "pool": "max"}}),
    ],
)
def test_the_builder_refuses_what_pre_flight_refuses_with_the_same_line(overrides, options, tmp_path, monkeypatch):
    """One schema behind both: the command line is refused before torch, direct library use by the builder (the
    constructors no longer check what the schema bounds)."""
    from seqlab.run.preflight import check_composes

    monkeypatch.chdir(tmp_path)
    spec = DataSpec("classification", SPEC.vocab, SPEC.tokenizer, classes=["n", "y"])
    with pytest.raises(ConfigError) as err:
        build_model(spec, **{**MODEL, **options})
    assert check_composes(overrides) == str(err.value)


def test_the_model_keeps_the_options_it_was_built_from():
    model = build_model(SPEC, **MODEL)
    assert model.options == {
        **MODEL,
        "embedding": "learned",
        "freeze_embedding": False,
        "init_range": None,
        "embedding_dropout": 0.0,
    }
    assert model.head_name == "many_to_many" and model.encoder.output_size == 8


class LastInput(Encoder):
    """Each step's output is a linear map of its own input (causal, nothing carried)."""

    def __init__(self, input_size: int, causal: bool, num_states: int = 1, hidden_size: int = 8):
        super().__init__(causal, num_states)
        self.output_size = hidden_size
        self.proj = torch.nn.Linear(input_size, hidden_size)

    def encode(self, x, mask, lengths, context):
        return self.proj(x), None


@pytest.fixture
def plugin_encoder():
    """``last_input`` registered by a plugin ``probe_encoders`` for the test, removed after it."""
    with registering_as("probe_encoders"):
        ENCODERS.register("last_input", LastInput)
    yield "last_input"
    ENCODERS._entries.pop("last_input", None)
    ENCODERS._owners.pop("last_input", None)


def test_a_plugin_encoders_checkpoint_records_it_and_needs_it_to_load(plugin_encoder, tmp_path):
    model = {**MODEL, "encoder": {"name": plugin_encoder, "hidden_size": 6}}
    module = make_module(SPEC, model, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    assert module.required_plugins == [
        {
            "plugin": "probe_encoders",
            "package": "probe_encoders",
            "version": "unknown",
            "provides": {"encoder": plugin_encoder},
        }
    ]
    ids = torch.tensor([[2, 4, 5, 6, 7]] * 2)
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:], "lengths": torch.full((2,), 4)}
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(module, train_dataloaders=DataLoader([batch, batch], batch_size=None))
    trainer.save_checkpoint(tmp_path / "run.ckpt")

    loaded = load_module(tmp_path / "run.ckpt")
    assert isinstance(loaded.model.encoder, LastInput) and not loaded.training
    torch.testing.assert_close(loaded.model(batch)["logits"], module.eval().model(batch)["logits"])

    ENCODERS._entries.pop(plugin_encoder)  # the plugin is gone: loading names what is missing, in one line
    with pytest.raises(CheckpointError) as err:
        load_module(tmp_path / "run.ckpt")
    assert str(err.value) == (
        f"ckpt_path={tmp_path / 'run.ckpt'}: needs encoder 'last_input' from plugin 'probe_encoders'; "
        "install it: pip install probe_encoders"
    )
