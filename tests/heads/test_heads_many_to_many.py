"""many_to_many: aligned tagging learns a context-dependent tag and ignores padding; language models learn and
generate deterministically."""

from __future__ import annotations

import pytest
import torch
from head_helpers import make_model, make_spec, pad, train

from seqlab.data.vocab import Vocabulary
from seqlab.registry import ConfigError

#: tag each token by whether it repeats the token before it (ids: a=4, b=5, c=6)
TAGGING = make_spec("tagging", list("abc"), classes=["new", "repeat"])


def repeat_batch(rng: torch.Generator, size: int) -> dict[str, torch.Tensor]:
    sequences = [
        (4 + torch.randint(0, 3, (int(torch.randint(2, 10, (1,), generator=rng)),), generator=rng)).tolist()
        for _ in range(size)
    ]
    tags = [[0] + [int(s[t] == s[t - 1]) for t in range(1, len(s))] for s in sequences]
    inputs, lengths = pad(sequences)
    targets, _ = pad(tags, value=1)  # padding tagged "repeat" on purpose: the loss must not see it
    return {"inputs": inputs, "lengths": lengths, "targets": targets}


@pytest.mark.parametrize(("cell", "encoder"), [("gru", {}), ("lstm", {"bidirectional": True})])
def test_tagging_learns_a_tag_that_depends_on_the_previous_token(cell, encoder):
    model = make_model(TAGGING, {"name": "many_to_many"}, cell=cell, **encoder)
    rng = torch.Generator().manual_seed(0)
    train(model, lambda step: repeat_batch(rng, 32), steps=120)
    batch = repeat_batch(torch.Generator().manual_seed(99), 200)
    metrics = torch.nn.ModuleDict(model.head.make_metrics())
    with torch.no_grad():
        model.head.update_metrics(metrics, model(batch), batch)
    assert float(metrics["accuracy"].compute()) >= 0.97
    assert model.head.generates is False


def test_tagging_loss_and_metrics_ignore_padded_steps():
    model = make_model(TAGGING, {"name": "many_to_many"}, hidden_size=8, bidirectional=True).eval()
    batch = repeat_batch(torch.Generator().manual_seed(1), 6)
    changed = dict(batch, targets=batch["targets"].clone())
    padded = torch.arange(batch["inputs"].shape[1])[None, :] >= batch["lengths"][:, None]
    changed["targets"][padded] = 0
    with torch.no_grad():
        out = model(batch)
        assert torch.equal(model.head.loss(out, batch), model.head.loss(out, changed))
        for i, n in enumerate(batch["lengths"].tolist()):
            alone = model({"inputs": batch["inputs"][i : i + 1, :n], "lengths": batch["lengths"][i : i + 1]})
            torch.testing.assert_close(out["logits"][i, :n], alone["logits"][0], atol=1e-5, rtol=1e-4)


def test_tagging_takes_its_tags_from_the_target_vocabulary_when_there_is_one():
    spec = make_spec("tagging", list("abc"), target_vocab=Vocabulary(["<pad>", "<unk>", "<bos>", "<eos>", "N", "V"]))
    model = make_model(spec, {"name": "many_to_many"}, hidden_size=8)
    assert model({"inputs": torch.tensor([[4, 5]])})["logits"].shape == (1, 2, 6)


LANGUAGE = make_spec("language_model", list("abcd"))
CYCLE = [4, 5, 6, 7] * 6  # abcd abcd ...


def test_a_language_model_learns_a_deterministic_sequence_and_generates_it():
    model = make_model(LANGUAGE, {"name": "many_to_many", "tie_weights": True})
    batch = {"inputs": torch.tensor([[2, *CYCLE[:-1]]] * 4), "targets": torch.tensor([CYCLE] * 4)}
    train(model, lambda step: batch, steps=80)
    # generation reads the prompt after the start context the model was trained from (<bos> here), so the trained
    # sequence comes back from no prompt at all, and a prompt inside it is continued as trained
    assert model.head.generate(model, temperature=0, max_length=8, stop_at_eos=False) == [CYCLE[:8]]
    assert model.head.generate(model, prompt=CYCLE[:2], temperature=0, max_length=6, stop_at_eos=False) == [CYCLE[2:8]]
    with torch.no_grad():
        values = {"loss": float(model.head.loss(model(batch), batch))}
    assert model.head.derived_metrics(values)["perplexity"] < 1.1


def test_language_model_sampling_is_deterministic_for_a_seed():
    model = make_model(LANGUAGE, {"name": "many_to_many"}, hidden_size=8)
    options = dict(num_samples=3, max_length=10, temperature=1.0, top_k=3)
    assert model.head.generate(model, seed=5, **options) == model.head.generate(model, seed=5, **options)
    assert model.head.generate(model, seed=5, **options) != model.head.generate(model, seed=6, **options)


@pytest.mark.parametrize(
    ("spec", "head", "encoder", "message"),
    [
        (LANGUAGE, {}, {"bidirectional": True}, "a language model needs a left-to-right encoder"),
        (TAGGING, {"tie_weights": True}, {}, "model.head.tie_weights=true needs a language model"),
        (make_spec("tagging", list("ab")), {}, {}, "needs spec.target_vocab or spec.classes"),
    ],
)
def test_bad_combinations_are_one_clear_config_error(spec, head, encoder, message):
    with pytest.raises(ConfigError, match=message):
        make_model(spec, {"name": "many_to_many", **head}, **encoder)
