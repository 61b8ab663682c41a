"""An n-gram language model with interpolated Kneser-Ney smoothing: the count baseline beside every LM figure.

Interpolated Kneser-Ney as Chen & Goodman describe it (1998, "An empirical study of smoothing techniques for language
modeling"), one discount per order, each order interpolated with the next lower one and the unigram with the uniform
distribution, so no token gets probability 0:

    P_k(w | h) = max(a(h w) − D_k, 0) / a(h •) + D_k · N1+(h •) / a(h •) · P_{k−1}(w | h′)     (a(h •) > 0)
    P_k(w | h) = P_{k−1}(w | h′)                                                               (a(h •) = 0)
    P_0(w) = 1 / V

with a = c (counts) at the top order and a = N1+(• ·) below (N1+(• g): the distinct tokens seen before g), h′ the
history without its first token, N1+(h •) the distinct tokens seen after h. D_k = n1 / (n1 + 2 n2) unless given
(Ney, Essen & Kneser 1994; n_r: the k-grams with a = r). A history never crosses a sequence start; a sequence's first
tokens are scored with the shorter history they have (the top order then uses continuation counts, as lower ones do).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytorch_lightning as pl
from numpy.lib.stride_tricks import sliding_window_view
from pytorch_lightning.utilities import rank_zero_only

from seqlab.experiments.callbacks import publish
from seqlab.schema import callbacks as options


def _keys(sequences: list[np.ndarray], k: int, vocab_size: int) -> np.ndarray:
    """The k-gram keys (``sum t[i+j] · V^(k−1−j)``) of every k-gram inside each sequence."""
    powers = vocab_size ** np.arange(k - 1, -1, -1, dtype=np.int64)
    keys = [sliding_window_view(np.asarray(s, dtype=np.int64), k) @ powers for s in sequences if len(s) >= k]
    return np.concatenate(keys) if keys else np.zeros(0, np.int64)


def _lookup(keys: np.ndarray, values: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """``values`` at ``asked`` keys of the sorted unique ``keys``; 0 where a key is absent."""
    if not len(keys):
        return np.zeros(len(asked), values.dtype if len(values) else np.int64)
    where = np.minimum(np.searchsorted(keys, asked), len(keys) - 1)
    return np.where(keys[where] == asked, values[where], 0)


class _Order:
    """The counts of one order: a(g) per k-gram g, and per history h: a(h •) and N1+(h •)."""

    def __init__(self, grams: np.ndarray, counts: np.ndarray, vocab_size: int, discount: float | None):
        self.grams, self.counts = grams, counts
        histories = grams // vocab_size
        self.histories, first = np.unique(histories, return_index=True)
        self.history_totals = np.add.reduceat(counts, first) if len(first) else np.zeros(0, np.int64)
        self.history_types = np.diff(np.append(first, len(grams)))
        if discount is None:
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        self.discount = float(discount)


class KneserNeyLM:
    """Interpolated Kneser-Ney n-gram model of ``order`` over token ids ``0 … vocab_size − 1``.

    >>> lm = KneserNeyLM([np.array([0, 1, 0, 1, 2])], order=2, vocab_size=3, discounts=[0.5, 0.5])
    >>> round(float(lm.probabilities([np.array([0, 1])])[0]), 4)  # P(1 | 0) = 1.5/2 + 0.5 · 1/2 · 1/3
    0.8333
    """

    def __init__(self, sequences: list[np.ndarray], order: int, vocab_size: int, discounts: list[float] | None = None):
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if vocab_size ** order >= 2**62:
            raise ValueError(f"vocabulary {vocab_size} and order {order}: n-gram keys would overflow int64")
        self.order, self.vocab_size = order, vocab_size
        discounts = discounts or [None] * order
        self.orders: list[_Order] = []
        for k in range(1, order + 1):
            if k == order:  # the top order: plain counts
                grams, counts = np.unique(_keys(sequences, k, vocab_size), return_counts=True)
            else:  # lower orders: continuation counts N1+(• g) over the distinct (k+1)-grams
                suffixes = np.unique(_keys(sequences, k + 1, vocab_size)) % vocab_size**k
                grams, counts = np.unique(suffixes, return_counts=True)
            self.orders.append(_Order(grams, counts, vocab_size, discounts[k - 1]))

    def probabilities(self, sequences: list[np.ndarray]) -> np.ndarray:
        """P(t_i | the up to ``order − 1`` tokens before it in its sequence) for every token after the first of
        each sequence, in order."""
        out = []
        V = self.vocab_size  # noqa: N806 (the vocabulary size, as in the equations)
        for seq in sequences:
            seq = np.asarray(seq, dtype=np.int64)
            if len(seq) < 2:
                continue
            targets = np.arange(1, len(seq))
            p = np.full(len(targets), 1.0 / V)
            for k in range(1, self.order + 1):
                usable = targets >= k - 1  # the history of k − 1 tokens lies inside the sequence
                level = self.orders[k - 1]
                key = np.zeros(len(targets), np.int64)
                for j in range(k):
                    key = key * V + seq[np.maximum(targets - (k - 1) + j, 0)]
                a = _lookup(level.grams, level.counts, key).astype(float)
                total = _lookup(level.histories, level.history_totals, key // V).astype(float)
                types = _lookup(level.histories, level.history_types, key // V).astype(float)
                seen = usable & (total > 0)
                share = np.where(seen, total, 1.0)
                d = level.discount
                p = np.where(seen, np.maximum(a - d, 0) / share + d * types / share * p, p)
            out.append(p)
        return np.concatenate(out) if out else np.zeros(0)


def scored_sequences(datamodule: Any, split: str) -> list[np.ndarray]:
    """A language-model split as the model reads it: the sequences whose tokens after the first are its targets —
    the parallel streams of ``mode=stream`` (``eval_batch_size`` rows for val, ``test_batch_size`` for test), or
    the Arrow rows (windows, lines, tunes). For ``train`` a stream is one sequence, and non-overlapping windows
    (``stride == seq_len``: each one's last token the next one's first) are joined back into their stream."""
    if getattr(datamodule, "mode", None) == "stream":
        ids = np.asarray(datamodule.streams[split], dtype=np.int64)
        if split == "train":
            return [ids]
        rows = datamodule.eval_batch_size
        if split == "test":
            rows = getattr(datamodule, "test_batch_size", rows)
        length = len(ids) // rows
        return list(ids[: rows * length].reshape(rows, length))
    column = datamodule.splits[split].with_format("numpy")["ids"]
    rows = [np.asarray(r, dtype=np.int64) for r in column]
    joined = getattr(datamodule, "mode", None) == "windows" and datamodule.stride == datamodule.seq_len
    if split == "train" and joined and rows:
        return [np.concatenate([rows[0], *(r[1:] for r in rows[1:])])]
    return rows


def ngram_figures(datamodule: Any, order: int) -> dict[str, float]:
    """Fit :class:`KneserNeyLM` of ``order`` on the training split, score validation and test: loss (nats per
    token), perplexity and bits per token of each, keyed ``baseline/ngram_<split>_<metric>``."""
    lm = KneserNeyLM(scored_sequences(datamodule, "train"), order, datamodule.spec.vocab_size)
    out: dict[str, float] = {}
    for name, split in (("val", "validation"), ("test", "test")):
        if split not in datamodule.splits:
            continue
        nats = float(-np.log(lm.probabilities(scored_sequences(datamodule, split))).mean())
        out[f"baseline/ngram_{name}_loss"] = nats
        out[f"baseline/ngram_{name}_perplexity"] = math.exp(nats)
        out[f"baseline/ngram_{name}_bpc"] = nats / math.log(2)
    return out


class NGramBaseline(pl.Callback):
    """At the end of fit, an interpolated Kneser-Ney n-gram model (:class:`KneserNeyLM`) counted on the training
    split and scored on validation and test the way the model is: the count model's figure beside the network's.

    For language models and conditional generation (counted without the condition); others are skipped.
    :func:`ngram_figures` are published and printed (``_bpc``: bits per token, per character for character models).
    """

    def __init__(self, order: int = options.NGramBaseline.order):
        self.order = order

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        task = pl_module.model.spec.task
        if task not in ("language_model", "conditional_generation") or trainer.datamodule is None:
            return
        started = time.perf_counter()
        vocab = trainer.datamodule.spec.vocab_size
        if vocab ** self.order >= 2**62:  # the n-gram keys are int64 (KneserNeyLM): a large vocabulary, a lower order
            print(f"seqlab: note: no {self.order}-gram baseline for a vocabulary of {vocab} (its keys would overflow "
                  f"int64); set callbacks.ngram_baseline.order lower, e.g. "
                  f"{max(1, math.ceil(62 / math.log2(vocab)) - 1)}", flush=True)
            return
        results = ngram_figures(trainer.datamodule, self.order)
        publish(trainer, results)
        model = trainer.callback_metrics.get("val/perplexity")
        versus = f" (the model: val/perplexity = {float(model):.2f})" if model is not None else ""
        if task == "conditional_generation":
            versus += "; unconditional: the count model does not see the condition"
        print(
            f"seqlab: {self.order}-gram Kneser-Ney baseline/ngram_val_perplexity = "
            f"{results.get('baseline/ngram_val_perplexity', float('nan')):.2f}{versus}; counted and scored in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
