"""Beam search over the steps of a decoder (the seq2seq head's ``beam_size``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def beam_search(step: Callable[..., tuple[Any, ...]], state: tuple[Tensor, ...], bos_id: int, eos_id: int,
                beam_size: int, max_length: int, length_penalty: float) -> list[list[int]]:
    """Beam search for one source: ``state`` holds ``(layers, 1, H)`` tensors and ``step(tokens (beam_size,),
    state) → (logits (beam_size, V), state, ...)`` decodes one step of every beam. Returns the hypotheses (ids
    without ``<eos>``) best first, scored by log-probability / GNMT's ``((5 + length) / 6) ** length_penalty``."""
    state = tuple(s.repeat_interleave(beam_size, dim=1) for s in state)
    device = state[0].device
    token = torch.full((beam_size,), bos_id, device=device)
    scores = torch.full((beam_size,), float("-inf"), device=device)
    scores[0] = 0.0  # all beams start identical: keep one until they differ
    alive: list[list[int]] = [[] for _ in range(beam_size)]
    finished: list[tuple[float, list[int]]] = []

    def normalised(score: float, length: int) -> float:
        return score / (((5 + length) / 6) ** length_penalty)

    for _ in range(max_length):
        logits, state = step(token, state)[:2]
        total = scores[:, None] + F.log_softmax(logits.float(), dim=-1)
        best, index = total.flatten().topk(2 * beam_size)
        keep: list[tuple[int, int, float]] = []  # (beam, token, score) of the beams that go on
        for score, flat in zip(best.tolist(), index.tolist()):
            beam, tok = divmod(flat, logits.shape[-1])
            if score == float("-inf"):
                break
            if tok == eos_id:
                finished.append((normalised(score, len(alive[beam]) + 1), alive[beam]))
            elif len(keep) < beam_size:
                keep.append((beam, tok, score))
        if len(finished) >= beam_size or not keep:
            break
        keep += [(keep[0][0], keep[0][1], float("-inf"))] * (beam_size - len(keep))  # pad with dead beams
        keep_beam, keep_token, keep_score = zip(*keep)
        order = torch.tensor(keep_beam, device=device)
        state = tuple(s.index_select(1, order) for s in state)
        alive = [alive[b] + [t] for b, t in zip(keep_beam, keep_token)]
        token = torch.tensor(keep_token, device=device)
        scores = torch.tensor(keep_score, device=device)
    if not finished:
        finished = [(normalised(s, len(a)), a) for s, a in zip(scores.tolist(), alive) if s > float("-inf")]
    return [ids for _, ids in sorted(finished, key=lambda f: -f[0])]
