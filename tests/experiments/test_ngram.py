"""The n-gram baseline: interpolated Kneser-Ney checked against probabilities computed by hand, normalised over the
vocabulary, and scored on the sequences the model is scored on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqlab.experiments.ngram import KneserNeyLM, scored_sequences

#: the corpus of the hand computation: tokens a=0, b=1, c=2, one sequence "a b a b c a b"
CORPUS = [np.array([0, 1, 0, 1, 2, 0, 1])]


def test_bigram_probabilities_equal_the_hand_computation():
    """Bigrams: ab ×3, ba ×1, bc ×1, ca ×1. Continuation counts N1+(•w) over the 4 distinct bigrams: a 2 (b·, c·),
    b 1, c 1. D = 0.5, V = 3.

    P1(w) = max(N1+(•w) − D, 0)/4 + D · 3/4 · 1/3: P1(a) = 1.5/4 + 0.125 = 0.5, P1(b) = P1(c) = 0.25.
    P(b | a): c(ab) = 3, c(a•) = 3, N1+(a•) = 1 → 2.5/3 + 0.5 · 1/3 · 0.25 = 0.875.
    P(c | b): c(bc) = 1, c(b•) = 2, N1+(b•) = 2 → 0.5/2 + 0.5 · 2/2 · 0.25 = 0.375.
    P(a | c): c(ca) = 1, c(c•) = 1, N1+(c•) = 1 → 0.5/1 + 0.5 · 1/1 · 0.5 = 0.75.
    """
    lm = KneserNeyLM(CORPUS, order=2, vocab_size=3, discounts=[0.5, 0.5])
    p = lm.probabilities([np.array([0, 1, 2, 0])])
    assert p.tolist() == pytest.approx([0.875, 0.375, 0.75])


def test_trigram_probabilities_equal_the_hand_computation():
    """Trigrams: aba, bab, abc, bca, cab (each once). Order 2 uses continuation counts N1+(•vw) over them:
    ab 2 (·ab from b and c), ba 1, bc 1, ca 1; order 1 those over the distinct bigrams, as above. D = 0.5 everywhere.

    P2(c | b) = (1 − 0.5)/N1+(•b•) + 0.5 · N1+(b•)/N1+(•b•) · P1(c), N1+(•b•) = ba + bc = 2, N1+(b•) = 2:
              = 0.25 + 0.5 · 1 · 0.25 = 0.375.
    P3(c | a b) = (1 − 0.5)/c(ab•) + 0.5 · N1+(ab•)/c(ab•) · P2(c | b), c(ab•) = 2 (aba, abc), N1+(ab•) = 2:
              = 0.25 + 0.5 · 0.375 = 0.4375.
    The first target has one token of history: it is scored by order 2, P2(b | a) = (2 − 0.5)/2 + 0.5 · 1/2 · 0.25
    = 0.8125.
    """
    lm = KneserNeyLM(CORPUS, order=3, vocab_size=3, discounts=[0.5, 0.5, 0.5])
    assert lm.probabilities([np.array([0, 1, 2])]).tolist() == pytest.approx([0.8125, 0.4375])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_over_the_vocabulary_after_any_history(order):
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 6, 300), rng.integers(0, 6, 40)]
    lm = KneserNeyLM(train, order=order, vocab_size=7)  # token 6 never occurs: it still gets a share
    for history in ([0], [3], [1, 2], [5, 5, 0], [6, 6, 6]):
        total = sum(float(lm.probabilities([np.array([*history, w])])[-1]) for w in range(7))
        assert total == pytest.approx(1.0, abs=1e-12), history
    assert float(lm.probabilities([np.array([0, 6])])[0]) > 0


def test_estimated_discounts_follow_ney_essen_kneser():
    lm = KneserNeyLM(CORPUS, order=2, vocab_size=3)
    # bigram counts 3, 1, 1, 1: n1 = 3, n2 = 0 → D = 3/3 = 1.0; unigram continuation counts 2, 1, 1 → 2/(2 + 2) = 0.5
    assert [o.discount for o in lm.orders] == [0.5, 1.0]


def test_the_baseline_scores_the_streams_the_model_is_scored_on(tmp_path):
    from seqlab.data.text import WordTextDataModule
    from seqlab.experiments.ngram import ngram_figures

    folder = tmp_path / "wt"
    folder.mkdir()
    (folder / "train.txt").write_text("a b a b c a b\n" * 20)
    (folder / "valid.txt").write_text("a b c a b a b\n" * 4)
    (folder / "test.txt").write_text("c c c a\n" * 4)
    dm = WordTextDataModule(cache_dir=str(tmp_path / "c"), source=str(folder), batch_size=2, eval_batch_size=2, bptt=3)
    dm.prepare_data()
    dm.setup("fit")
    rows = scored_sequences(dm, "validation")
    assert len(rows) == 2 and sum(len(r) for r in rows) == len(dm.streams["validation"])  # 2 streams, as evaluated
    figures = ngram_figures(dm, order=3)
    assert figures["baseline/ngram_val_perplexity"] == pytest.approx(math.exp(figures["baseline/ngram_val_loss"]))
    assert figures["baseline/ngram_val_perplexity"] < figures["baseline/ngram_test_perplexity"]
    assert set(figures) == {f"baseline/ngram_{s}_{m}" for s in ("val", "test") for m in ("loss", "perplexity", "bpc")}
