"""Sequence-to-sequence: an encoder-decoder for unaligned sequences — translation, date normalisation, reversal."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence
from torchmetrics import MeanMetric
from torchmetrics.text import CHRFScore, SacreBLEUScore

from seqlab.cells.recurrent import length_mask
from seqlab.heads.attention import Attention, save_attention_heatmap
from seqlab.heads.base import (
    IGNORE,
    Backbone,
    HeadContext,
    TokenHead,
    dropout_layer,
    sample_sequences,
    seeded_generator,
)
from seqlab.heads.beam_search import beam_search
from seqlab.registry import ConfigError
from seqlab.schema import model as schema


class Memory(NamedTuple):
    """What the decoder reads from one encoded source batch: outputs ``(B, S, D*H)``, mask ``(B, S)``, and the
    attention's precomputed keys — in the order :class:`Attention` takes them after the query."""

    outputs: Tensor
    mask: Tensor | None
    keys: Tensor | None

    def repeat(self, times: int) -> Memory:
        """Each row repeated ``times`` (rows stay grouped: beams of one source)."""
        return Memory(*(None if t is None else t.repeat_interleave(times, dim=0) for t in self))


class Seq2SeqHead(TokenHead):
    """Encoder-decoder: the model's embedding + encoder read the source, a decoder of the same cell writes the target.

    Batch keys (task ``translation``): ``inputs (B, S)`` source ids, ``lengths (B,)`` source lengths;
    ``targets_in (B, T)`` = ``<bos>`` + target, ``targets (B, T)`` = target + ``<eos>``, ``target_lengths (B,)``
    (ids in ``spec.target_vocab``, or ``spec.vocab`` when there is none).

    The decoder has the encoder's layer count and output size ``D*H`` (a bidirectional encoder's final states,
    directions joined per layer, start it). ``attention``: ``none``, ``bahdanau`` (additive score on the previous
    decoder state, the context fed with the next input; Bahdanau et al. 2015) or ``luong`` (``score`` on the current
    decoder state, then ``h̃ = tanh(W_c [c; s])``; Luong et al. 2015).

    ``forward`` returns ``logits (B, T, V)`` and ``attention (B, T, S)`` (teacher-forced); in eval mode also greedy
    ``predictions`` (at most ``2 * length + 10`` tokens), which ``bleu``, ``chrf`` and ``exact_match`` score.

    >>> import torch
    >>> from seqlab.spec import DataSpec
    >>> from seqlab.data.vocab import Tokenizer, Vocabulary
    >>> from seqlab.models.builder import build_model
    >>> spec = DataSpec("translation", Vocabulary.build([list("abc")]), Tokenizer())
    >>> model = build_model(spec, {"name": "gru"}, {"name": "seq2seq", "attention": "luong", "score": "dot"},
    ...                       {"hidden_size": 8, "bidirectional": True}, embedding_dim=4)
    >>> batch = {"inputs": torch.tensor([[4, 5, 6], [6, 4, 0]]), "lengths": torch.tensor([3, 2]),
    ...          "targets_in": torch.tensor([[2, 6, 5], [2, 4, 0]]), "targets": torch.tensor([[6, 5, 3], [4, 3, 0]]),
    ...          "target_lengths": torch.tensor([3, 2])}
    >>> out = model(batch)
    >>> tuple(out["logits"].shape), tuple(out["attention"].shape)
    ((2, 3, 7), (2, 3, 3))
    >>> len(model.head.generate(model, source=[[4, 5], [6]], max_length=4, temperature=0))
    2
    """

    tasks = ("translation",)
    generates_from_source = True
    lengths_key = "target_lengths"

    def __init__(
        self,
        ctx: HeadContext,
        attention: str = schema.Seq2Seq.attention,
        score: str | None = schema.Seq2Seq.score,
        attention_size: int | None = schema.Seq2Seq.attention_size,
        teacher_forcing: float = schema.Seq2Seq.teacher_forcing,
        beam_size: int = schema.Seq2Seq.beam_size,
        length_penalty: float = schema.Seq2Seq.length_penalty,
        dropout: float = schema.Seq2Seq.dropout,
    ):
        super().__init__()
        if attention == "luong" and (score or "general") not in ("dot", "general"):
            raise ConfigError(f"model.head.score for luong attention is dot or general, got '{score}'")
        if attention == "bahdanau" and score not in (None, "additive"):
            raise ConfigError(f"model.head.score for bahdanau attention is additive, got '{score}'")
        self.spec = ctx.spec
        self.target_vocab = ctx.spec.target_vocab or ctx.spec.vocab
        self.num_outputs = len(self.target_vocab)
        self.attention_kind = attention
        self.teacher_forcing = teacher_forcing
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.num_layers = ctx.num_layers
        self.num_directions = 2 if ctx.bidirectional else 1
        size = ctx.encoder_size
        self.target_embedding = nn.Embedding(self.num_outputs, ctx.embedding_dim, padding_idx=self.target_vocab.pad_id)
        context_input = size if attention == "bahdanau" else 0
        self.decoder = ctx.build_recurrent(ctx.embedding_dim + context_input, size)
        kind = "additive" if attention == "bahdanau" else (score or "general")
        self.attention = Attention(kind, size, size, attention_size) if attention != "none" else None
        self.combine = nn.Linear(2 * size, size) if attention != "none" else None
        self.dropout = dropout_layer(dropout)
        self.out = nn.Linear(size, self.num_outputs)

    def encode(self, model: Backbone, inputs: Tensor, lengths: Tensor | None) -> tuple[Memory, tuple]:
        """Source ``(B, S)`` → the decoder's memory and initial state (each layer's directions joined)."""
        outputs, final = model.encode(inputs, lengths)
        keys = self.attention.precompute(outputs) if self.attention is not None else None
        memory = Memory(outputs, length_mask(lengths, inputs.shape[1], inputs.device), keys)
        L, D = self.num_layers, self.num_directions
        state = tuple(s.view(L, D, *s.shape[1:]).transpose(1, 2).flatten(2).contiguous() for s in final)
        return memory, state

    def _output(self, decoded: Tensor, context: Tensor | None) -> Tensor:
        if context is not None:
            decoded = torch.tanh(self.combine(torch.cat([context, decoded], dim=-1)))
        return self.out(self.dropout(decoded))

    def step(self, token: Tensor, state: tuple, memory: Memory) -> tuple[Tensor, tuple, Tensor | None]:
        """One decoder step: previous tokens ``(B,)`` → ``logits (B, V)``, new state, attention ``(B, S)``."""
        x = self.target_embedding(token)
        context = weights = None
        if self.attention_kind == "bahdanau":
            context, weights = self.attention(state[0][-1], *memory)
            x = torch.cat([x, context], dim=-1)
        decoded, state = self.decoder(x[:, None], None, state)
        decoded = decoded[:, 0]
        if self.attention_kind == "luong":
            context, weights = self.attention(decoded, *memory)
        return self._output(decoded, context), state, weights

    def _teacher_forced(self, targets_in: Tensor, target_lengths: Tensor | None, state: tuple, memory: Memory):
        """All steps in one decoder pass, when every input is the true token and attention is none or luong."""
        decoded, _ = self.decoder(self.target_embedding(targets_in), target_lengths, state)
        if self.attention_kind == "none":
            return self._output(decoded, None), None
        context, weights = self.attention(decoded, *memory)
        return self._output(decoded, context), weights

    def forward(self, model: Backbone, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        memory, state = self.encode(model, batch["inputs"], batch.get("lengths"))
        targets_in = batch["targets_in"]
        forcing = self.teacher_forcing if self.training else 1.0
        if forcing >= 1.0 and self.attention_kind != "bahdanau":  # every input known: all steps at once
            logits, attention = self._teacher_forced(targets_in, batch.get("target_lengths"), state, memory)
        else:
            logits, attention = self._step_loop(targets_in, state, memory, forcing)
        out: dict[str, Any] = {"logits": logits, "attention": attention}
        if not self.training:
            inputs, lengths = batch["inputs"], batch.get("lengths")
            limits = [2 * int(n) + 10 for n in (lengths if lengths is not None else [inputs.shape[1]] * len(inputs))]
            predictions, _ = self._sample(memory, state, max(limits), 0.0, None, None)
            out["predictions"] = [p[:limit] for p, limit in zip(predictions, limits)]
        return out

    def _step_loop(self, targets_in: Tensor, state: tuple, memory: Memory, forcing: float):
        logits, weights = [], []
        for t in range(targets_in.shape[1]):
            token = targets_in[:, t]
            if t > 0 and forcing < 1.0:  # the true token with probability `forcing`, else the model's own
                own = logits[-1].argmax(-1)
                token = torch.where(torch.rand(token.shape, device=token.device) < forcing, token, own)
            step_logits, state, step_weights = self.step(token, state, memory)
            logits.append(step_logits)
            weights.append(step_weights)
        attention = torch.stack(weights, 1) if weights[0] is not None else None
        return torch.stack(logits, 1), attention

    def make_metrics(self) -> dict[str, Any]:
        return {
            **super().make_metrics(),
            "bleu": SacreBLEUScore(tokenize="13a"),
            # chrF (Popović 2015; sacrebleu's default): character n-grams only. torchmetrics' default adds word
            # bigrams (chrF++), which a one-word target (an ISO date) never has: perfect output read 0.875
            "chrf": CHRFScore(n_word_order=0),
            "exact_match": MeanMetric(),
        }

    def reference_ids(self, batch: dict[str, Tensor]) -> list[list[int]]:
        """Each example's target ids: real steps of ``targets`` without the final ``<eos>``."""
        eos, pad = self.target_vocab.eos_id, self.target_vocab.pad_id
        rows = [[t for t in row if t != IGNORE and t != pad] for row in self.targets(batch).tolist()]
        return [ids[:-1] if ids and ids[-1] == eos else ids for ids in rows]

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        super().update_metrics(metrics, out, batch)
        references, predictions = self.reference_ids(batch), out["predictions"]
        hypotheses = [self.spec.decode(p, target=True) for p in predictions]
        texts = [[self.spec.decode(r, target=True)] for r in references]
        metrics["bleu"].update(hypotheses, texts)
        metrics["chrf"].update(hypotheses, texts)
        metrics["exact_match"].update(torch.tensor([float(p == r) for p, r in zip(predictions, references)]))

    def _sample(
        self,
        memory: Memory,
        state: tuple,
        max_length: int,
        temperature: float,
        top_k: int | None,
        generator: torch.Generator | None,
    ) -> tuple[list[list[int]], list[Tensor]]:
        """Greedy (``temperature=0``) or sampled decoding of a batch; ids without ``<eos>`` and, per sequence,
        its attention ``(len + 1, S)`` (the row of the ``<eos>`` step included; empty without attention)."""
        weights: list[Tensor] = []

        def run(ids: Tensor, state: tuple) -> tuple[Tensor, tuple]:
            logits, state, step_weights = self.step(ids[:, 0], state, memory)
            if step_weights is not None:
                weights.append(step_weights)
            return logits[:, None], state

        bos = torch.full((memory.outputs.shape[0], 1), self.target_vocab.bos_id, device=memory.outputs.device)
        eos = self.target_vocab.eos_id
        samples = sample_sequences(run, bos, state, max_length, temperature, top_k, generator, eos)
        stacked = torch.stack(weights, 1) if weights else None
        attention = [stacked[i, : len(s)] if stacked is not None else torch.empty(0) for i, s in enumerate(samples)]
        return [s[:-1] if s and s[-1] == eos else s for s in samples], attention

    def encode_sources(self, model: Backbone, sources: list[list[int]]) -> tuple[Memory, tuple]:
        """Source id lists, padded into one batch → :meth:`encode`."""
        if not sources or any(len(s) == 0 for s in sources):
            raise ValueError("seq2seq needs non-empty source id lists to translate")
        device = next(model.parameters()).device
        rows = [torch.tensor(ids, device=device) for ids in sources]
        padded = pad_sequence(rows, batch_first=True, padding_value=self.spec.pad_id)
        return self.encode(model, padded, torch.tensor([len(s) for s in sources], device=device))

    @torch.no_grad()
    def generate(
        self,
        model: Backbone,
        source: list[list[int]] | None = None,
        prompt: list[int] | None = None,
        num_samples: int = 1,
        max_length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        beam_size: int | None = None,
        length_penalty: float | None = None,
    ) -> list[list[int]]:
        """Translate ``source`` (a list of source id lists; ``prompt`` alone stands for one source): ``num_samples``
        target id lists per source, without ``<eos>`` — the best beams with ``beam_size`` > 1 (default:
        ``model.head.beam_size``), else samples (``temperature`` 0: greedy), deterministic for a ``seed``."""
        sources = source if source is not None else ([list(prompt)] if prompt else None)
        if sources is None:
            raise ValueError("seq2seq translates a source: pass source=[[ids...], ...]")
        beam_size = self.beam_size if beam_size is None else beam_size
        length_penalty = self.length_penalty if length_penalty is None else length_penalty
        if beam_size > 1:
            results = []
            for ids in sources:
                memory, state = self.encode_sources(model, [ids])
                width = max(beam_size, num_samples)  # every source's beams read its memory, repeated
                step = partial(self.step, memory=memory.repeat(width))
                vocab = self.target_vocab
                hypotheses = beam_search(step, state, vocab.bos_id, vocab.eos_id, width, max_length, length_penalty)
                results += (hypotheses + hypotheses[:1] * num_samples)[:num_samples]
            return results
        memory, state = self.encode_sources(model, [ids for ids in sources for _ in range(num_samples)])
        generator = seeded_generator(memory.outputs.device, seed)
        return self._sample(memory, state, max_length, temperature, top_k, generator)[0]

    @torch.no_grad()
    def save_attention_maps(
        self, model: Backbone, sources: list[list[int]], dirpath: str | Path, max_length: int = 100
    ) -> list[Path]:
        """Greedy-translate a few sources and write one attention heat map each: ``dirpath/attention_<i>.png``."""
        if self.attention is None:
            return []
        memory, state = self.encode_sources(model, sources)
        predictions, attention = self._sample(memory, state, max_length, 0.0, None, None)
        paths = [Path(dirpath) / f"attention_{i}.png" for i in range(len(sources))]
        for ids, source, weights, path in zip(predictions, sources, attention, paths):
            target_tokens = self.target_vocab.decode(ids) + ["<eos>"] * (weights.shape[0] > len(ids))
            save_attention_heatmap(weights, self.spec.vocab.decode(source), target_tokens, path)
        return paths
