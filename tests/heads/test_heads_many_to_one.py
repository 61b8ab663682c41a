"""many_to_one: learns an order-dependent label that no bag-of-words model can, for every pooling; masks hold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from head_helpers import make_model, make_spec, pad, train

from seqlab.registry import ConfigError

# ids: A=4, B=5, fillers 6-8
SPEC = make_spec("classification", ["A", "B", "x", "y", "z"], classes=["B first", "A first"])
A, B = 4, 5


def order_batch(rng: torch.Generator, pairs: int) -> dict[str, torch.Tensor]:
    """Sequences holding one A and one B among fillers; label 1 when A comes first. Every sequence comes with its
    twin, A and B swapped: same bag of tokens, opposite label — so any bag-of-words model scores exactly 50 %."""
    sequences, labels = [], []
    for _ in range(pairs):
        length = int(torch.randint(3, 9, (1,), generator=rng))
        tokens = (6 + torch.randint(0, 3, (length,), generator=rng)).tolist()
        i, j = sorted(torch.randperm(length, generator=rng)[:2].tolist())
        tokens[i], tokens[j] = A, B
        twin = list(tokens)
        twin[i], twin[j] = B, A
        sequences += [tokens, twin]
        labels += [1, 0]
    inputs, lengths = pad(sequences)
    return {"inputs": inputs, "lengths": lengths, "targets": torch.tensor(labels)}


def accuracy(model, batch) -> float:
    with torch.no_grad():
        return float((model(batch)["logits"].argmax(-1) == batch["targets"]).float().mean())


def test_twins_defeat_bag_of_words_by_construction():
    batch = order_batch(torch.Generator().manual_seed(0), 50)
    bags = [torch.bincount(row, minlength=9)[4:] for row in batch["inputs"]]
    assert all(torch.equal(bags[k], bags[k + 1]) for k in range(0, len(bags), 2))
    assert batch["targets"][0::2].tolist() == [1] * 50 and batch["targets"][1::2].tolist() == [0] * 50


@pytest.mark.parametrize(
    ("pool", "cell", "encoder"),
    [
        ("last", "lstm", {}),
        ("last", "gru", {"bidirectional": True}),
        ("mean", "gru", {}),
        ("max", "lstm", {"num_layers": 2}),
        ("attention", "gru", {"bidirectional": True}),
    ],
)
def test_many_to_one_learns_which_token_comes_first(pool, cell, encoder):
    model = make_model(SPEC, {"name": "many_to_one", "pool": pool}, cell=cell, **encoder)
    rng = torch.Generator().manual_seed(1)
    train(model, lambda step: order_batch(rng, 16), steps=100)
    assert accuracy(model, order_batch(torch.Generator().manual_seed(99), 200)) >= 0.95


@pytest.mark.parametrize("pool", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize(("cell", "encoder"), [("lstm", {"bidirectional": True, "num_layers": 2}), ("indrnn", {})])
def test_padding_never_changes_the_prediction(pool, cell, encoder):
    model = make_model(SPEC, {"name": "many_to_one", "pool": pool}, cell=cell, hidden_size=8, **encoder).eval()
    batch = order_batch(torch.Generator().manual_seed(2), 3)
    with torch.no_grad():
        together = model(batch)
        for i, n in enumerate(batch["lengths"].tolist()):
            alone = model({"inputs": batch["inputs"][i : i + 1, :n], "lengths": batch["lengths"][i : i + 1]})
            torch.testing.assert_close(together["logits"][i], alone["logits"][0], atol=1e-5, rtol=1e-4)
            if pool == "attention":
                torch.testing.assert_close(together["attention"][i, :n], alone["attention"][0])
                assert float(together["attention"][i, n:].sum()) == 0.0


def test_bidirectional_last_joins_forward_last_step_and_backward_first_step():
    model = make_model(SPEC, {"name": "many_to_one", "pool": "last"}, cell="gru", hidden_size=8, bidirectional=True)
    batch = order_batch(torch.Generator().manual_seed(3), 3)
    with torch.no_grad():
        out = model(batch)
        h = out["state"][0]  # (layers * 2, B, H): the forward direction's last real step, the backward's first
        expected = model.head.out(torch.cat([h[0], h[1]], dim=-1))
    torch.testing.assert_close(out["logits"], expected)


def test_class_weights_come_from_the_spec_or_the_config():
    weighted_spec = make_spec(
        "classification", ["A", "B", "x", "y", "z"], classes=["no", "yes"], class_weights=[1.0, 3.0]
    )
    batch = order_batch(torch.Generator().manual_seed(4), 4)
    for spec, option in [(weighted_spec, "spec"), (SPEC, [1.0, 3.0])]:
        model = make_model(spec, {"name": "many_to_one", "class_weights": option}, hidden_size=8)
        out = model(batch)
        expected = F.cross_entropy(out["logits"], batch["targets"], weight=torch.tensor([1.0, 3.0]))
        torch.testing.assert_close(model.head.loss(out, batch), expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pool": "first"}, "model.head.pool='first': expected last, mean, max or attention"),
        ({"attention_size": 0}, "model.head.attention_size=0: expected an integer > 0"),
        ({"class_weights": "spec"}, "model.head.class_weights=spec: the data spec carries no class_weights"),
        ({"class_weights": [1.0]}, "model.head.class_weights has 1 values but the data has 2 classes"),
        ({"class_weights": [0.0, -1.0]}, "model.head.class_weights must be non-negative and not all zero"),
        ({"class_weights": "balanced"}, "model.head.class_weights='balanced': expected null, spec or a list"),
        ({"pooling": "mean"}, "model.head.pooling: head 'many_to_one' has no option 'pooling' (did you mean pool?)"),
    ],
)
def test_bad_options_are_one_clear_config_error(options, message):
    with pytest.raises(ConfigError) as err:
        make_model(SPEC, {"name": "many_to_one", **options})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_metrics_are_accuracy_macro_f1_and_macro_recall():
    model = make_model(SPEC, {"name": "many_to_one"}, hidden_size=8)
    metrics = torch.nn.ModuleDict(model.head.make_metrics())
    targets = torch.tensor([0, 0, 0, 1])
    logits = F.one_hot(torch.tensor([0, 0, 0, 0]), 2).float()  # always "B first"
    model.head.update_metrics(metrics, {"logits": logits}, {"targets": targets})
    values = {name: float(m.compute()) for name, m in metrics.items()}
    assert values["accuracy"] == pytest.approx(0.75)
    assert values["macro_recall"] == pytest.approx(0.5)
    assert values["macro_f1"] == pytest.approx((6 / 7) / 2)
    assert model.head.generates is False
