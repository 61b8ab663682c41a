"""seq2seq: learns to reverse digit strings with attention, beats no attention on long inputs, decodes correctly."""

from __future__ import annotations

import pytest
import torch
from head_helpers import DIGITS, make_model, make_spec, pad, train

from seqlab.heads.seq2seq import Seq2SeqHead
from seqlab.registry import ConfigError

SPEC = make_spec("translation", DIGITS)
BOS, EOS = 2, 3


def reversal_batch(rng: torch.Generator, size: int, shortest: int, longest: int) -> dict[str, torch.Tensor]:
    """Random digit strings (ids 4–13) and their reversals, in the translation batch layout."""
    sources = []
    for _ in range(size):
        length = int(torch.randint(shortest, longest + 1, (1,), generator=rng))
        sources.append([4 + int(d) for d in torch.randint(0, 10, (length,), generator=rng)])
    targets = [list(reversed(s)) for s in sources]
    inputs, lengths = pad(sources)
    targets_in, target_lengths = pad([[BOS, *t] for t in targets])
    targets_out, _ = pad([[*t, EOS] for t in targets])
    return {
        "inputs": inputs,
        "lengths": lengths,
        "targets_in": targets_in,
        "targets": targets_out,
        "target_lengths": target_lengths,
    }


def exact_match(model, batch) -> float:
    with torch.no_grad():
        predictions = model(batch)["predictions"]
    references = model.head.reference_ids(batch)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def trained_reverser(attention: str):
    model = make_model(
        SPEC, {"name": "seq2seq", "attention": attention}, hidden_size=32, embedding_dim=16, bidirectional=True
    )
    rng = torch.Generator().manual_seed(0)
    train(model, lambda step: reversal_batch(rng, 32, 3, 8), steps=300)
    return model


@pytest.fixture(scope="module")
def bahdanau_reverser():
    return trained_reverser("bahdanau")


def test_seq2seq_with_attention_learns_to_reverse_digit_strings(bahdanau_reverser):
    held_out = reversal_batch(torch.Generator().manual_seed(99), 200, 3, 8)
    assert exact_match(bahdanau_reverser, held_out) >= 0.95


def test_attention_beats_no_attention_on_long_inputs(bahdanau_reverser):
    without = trained_reverser("none")
    longest = reversal_batch(torch.Generator().manual_seed(7), 200, 8, 8)
    with_attention, no_attention = exact_match(bahdanau_reverser, longest), exact_match(without, longest)
    assert with_attention >= 0.9
    assert with_attention > no_attention + 0.3


def test_beam_search_of_width_one_is_greedy_and_wider_beams_give_ranked_hypotheses(bahdanau_reverser):
    model, head = bahdanau_reverser, bahdanau_reverser.head
    sources = [[4, 5, 6, 7], [13, 12, 4, 9, 9, 8]]
    greedy = head.generate(model, source=sources, temperature=0, max_length=12)
    assert greedy == [[7, 6, 5, 4], [8, 9, 9, 4, 12, 13]]
    assert head.generate(model, source=sources, beam_size=1, temperature=0, max_length=12) == greedy
    best_three = head.generate(model, source=sources[:1], beam_size=3, num_samples=3, max_length=12)
    assert best_three[0] == greedy[0] and len(best_three) == 3 and len({tuple(h) for h in best_three}) == 3


def test_sampling_is_deterministic_for_a_seed(bahdanau_reverser):
    model, head = bahdanau_reverser, bahdanau_reverser.head
    options = dict(source=[[4, 5, 6]], num_samples=4, temperature=3.0, max_length=6)
    assert head.generate(model, seed=1, **options) == head.generate(model, seed=1, **options)
    assert head.generate(model, seed=1, **options) != head.generate(model, seed=2, **options)


def test_attention_heat_maps_are_written_as_png(bahdanau_reverser, tmp_path):
    paths = bahdanau_reverser.head.save_attention_maps(bahdanau_reverser, [[4, 5, 6], [7, 8, 9, 10, 11]], tmp_path)
    assert [p.name for p in paths] == ["attention_0.png", "attention_1.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


@pytest.mark.parametrize(
    ("cell", "head", "encoder"),
    [
        ("lstm", {"attention": "bahdanau"}, {"bidirectional": True, "num_layers": 2}),
        ("gru", {"attention": "luong", "score": "dot"}, {"bidirectional": True}),
        ("rnn_tanh", {"attention": "luong", "score": "general"}, {"num_layers": 2}),
        ("mingru", {"attention": "none"}, {}),
    ],
)
def test_padding_never_changes_logits_attention_or_predictions(cell, head, encoder):
    model = make_model(SPEC, {"name": "seq2seq", **head}, cell=cell, hidden_size=8, **encoder).eval()
    batch = reversal_batch(torch.Generator().manual_seed(3), 4, 2, 6)
    with torch.no_grad():
        together = model(batch)
        for i in range(4):
            n, m = int(batch["lengths"][i]), int(batch["target_lengths"][i])
            alone = model(
                {
                    "inputs": batch["inputs"][i : i + 1, :n],
                    "lengths": batch["lengths"][i : i + 1],
                    "targets_in": batch["targets_in"][i : i + 1, :m],
                    "targets": batch["targets"][i : i + 1, :m],
                    "target_lengths": batch["target_lengths"][i : i + 1],
                }
            )
            torch.testing.assert_close(together["logits"][i, :m], alone["logits"][0], atol=1e-5, rtol=1e-4)
            if together["attention"] is not None:
                torch.testing.assert_close(together["attention"][i, :m, :n], alone["attention"][0])
                assert float(together["attention"][i, :m, n:].abs().sum()) == 0.0
            assert together["predictions"][i] == alone["predictions"][0]


@pytest.mark.parametrize("head", [{"attention": "luong", "score": "general"}, {"attention": "none"}])
def test_the_parallel_teacher_forced_pass_equals_the_step_by_step_decoder(head):
    model = make_model(SPEC, {"name": "seq2seq", **head}, hidden_size=8, bidirectional=True).eval()
    batch = reversal_batch(torch.Generator().manual_seed(4), 3, 2, 5)
    with torch.no_grad():
        parallel = model(batch)
        memory, state = model.head.encode(model, batch["inputs"], batch["lengths"])
        stepped, attention = model.head._step_loop(batch["targets_in"], state, memory, forcing=1.0)
    steps = batch["target_lengths"].max()
    mask = torch.arange(steps)[None, :] < batch["target_lengths"][:, None]
    torch.testing.assert_close(parallel["logits"][mask], stepped[mask], atol=1e-5, rtol=1e-4)


def test_teacher_forcing_below_one_trains_on_the_models_own_predictions():
    model = make_model(SPEC, {"name": "seq2seq", "attention": "luong", "teacher_forcing": 0.5}, hidden_size=8)
    batch = reversal_batch(torch.Generator().manual_seed(5), 8, 2, 5)
    model.train()
    torch.manual_seed(0)
    first = model.head.loss(model(batch), batch)
    torch.manual_seed(1)
    second = model.head.loss(model(batch), batch)
    assert torch.isfinite(first) and not torch.equal(first, second)  # the coin flips change what is fed
    model.eval()
    assert torch.equal(model.head.loss(model(batch), batch), model.head.loss(model(batch), batch))


def test_metrics_score_bleu_chrf_and_exact_match_on_detokenised_text():
    spec = make_spec("translation", list("abc "), target_vocab=None)
    model = make_model(spec, {"name": "seq2seq"}, hidden_size=8).eval()
    head: Seq2SeqHead = model.head
    metrics = torch.nn.ModuleDict(head.make_metrics())
    targets_text = ["a b c", "c c"]
    targets = [spec.encode(t) for t in targets_text]
    batch = {
        "targets": pad([[*t, EOS] for t in targets])[0],
        "target_lengths": torch.tensor([len(t) + 1 for t in targets]),
    }
    out = {"logits": torch.zeros(2, batch["targets"].shape[1], len(spec.vocab)), "predictions": [targets[0], [6]]}
    head.update_metrics(metrics, out, batch)
    values = {name: float(m.compute()) for name, m in metrics.items()}
    assert values["exact_match"] == 0.5
    assert 0.0 < values["chrf"] < 1.0 and 0.0 <= values["bleu"] < 1.0
    assert set(head.derived_metrics(values)) == {"perplexity"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attention": "global"}, "model.head.attention='global': expected none, bahdanau or luong"),
        ({"attention": "luong", "score": "additive"}, "model.head.score for luong attention is dot or general"),
        ({"attention": "bahdanau", "score": "dot"}, "model.head.score for bahdanau attention is additive"),
        ({"teacher_forcing": 1.5}, "model.head.teacher_forcing=1.5: expected a number >= 0 and <= 1"),
        ({"beam_size": 0}, "model.head.beam_size=0: expected an integer >= 1"),
        ({"beem_size": 3}, "model.head.beem_size: head 'seq2seq' has no option 'beem_size' (did you mean beam_size?)"),
    ],
)
def test_bad_options_are_one_clear_config_error(options, message):
    with pytest.raises(ConfigError) as err:
        make_model(SPEC, {"name": "seq2seq", **options})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_generate_needs_a_source():
    model = make_model(SPEC, {"name": "seq2seq"}, hidden_size=8)
    with pytest.raises(ValueError, match="pass source="):
        model.head.generate(model)


def test_chrf_of_a_perfect_one_word_translation_is_one():
    """chrF proper (characters only): an exact ISO date scores 1, where chrF++'s word bigrams would cap it at 0.875."""
    spec = make_spec("translation", list("0123456789-"), target_vocab=None)
    head: Seq2SeqHead = make_model(spec, {"name": "seq2seq"}, hidden_size=8).eval().head
    metrics = torch.nn.ModuleDict(head.make_metrics())
    target = spec.encode("2021-03-03")
    batch = {"targets": pad([[*target, EOS]])[0], "target_lengths": torch.tensor([len(target) + 1])}
    out = {"logits": torch.zeros(1, batch["targets"].shape[1], len(spec.vocab)), "predictions": [target]}
    head.update_metrics(metrics, out, batch)
    assert float(metrics["chrf"].compute()) == pytest.approx(1.0)
