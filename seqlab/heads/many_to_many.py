"""Many-to-many: a prediction at every step — language models and aligned tagging."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.heads.base import Backbone, HeadContext, TokenHead, dropout_layer, sample_sequences, seeded_generator
from seqlab.metrics import EntityF1, is_bio
from seqlab.registry import ConfigError
from seqlab.schema import model as schema


class ManyToManyHead(TokenHead):
    """One prediction per input step: ``logits (B, T, V)`` from encoder outputs ``(B, T, D*H)``.

    Batch keys: ``inputs (B, T)`` token ids, ``targets (B, T)``, optional ``lengths (B,)`` (padding never counts).

    Language models (task ``language_model``): ``V`` is the vocabulary, ``targets`` the next tokens; the encoder
    must run left to right (a bidirectional one would see the answer); ``tie_weights`` shares the output matrix with
    the input embedding (Press & Wolf 2017; projected when sizes differ). Tagging (task ``tagging``): one tag id per
    input token, ``V`` tags (``spec.target_vocab`` or ``spec.classes``); bidirectional encoders are welcome.
    Metrics beyond ``loss`` and ``accuracy``: ``perplexity``, ``bpc`` for language models, ``entity_f1`` for BIO tags.
    """

    tasks = ("language_model", "tagging")

    def __init__(
        self,
        ctx: HeadContext,
        tie_weights: bool = schema.ManyToMany.tie_weights,
        dropout: float = schema.ManyToMany.dropout,
    ):
        super().__init__()
        spec = ctx.spec
        self.language_model = spec.task == "language_model"
        vocab = spec.target_vocab if spec.task == "tagging" and spec.target_vocab else spec.vocab
        self.num_outputs = len(vocab) if (self.language_model or spec.target_vocab) else spec.num_classes
        #: BIO tag names (scored by entity-level F1), or None
        tagging_bio = spec.task == "tagging" and spec.target_vocab is not None and is_bio(vocab.itos)
        self.bio_tags = list(vocab.itos) if tagging_bio else None
        if self.language_model and ctx.bidirectional:
            raise ConfigError(
                "head=many_to_many: a language model needs a left-to-right encoder; "
                "set model.encoder.bidirectional=false"
            )
        if not self.language_model and tie_weights:
            raise ConfigError("model.head.tie_weights=true needs a language model (output vocabulary = input one)")
        if self.num_outputs < 1:
            raise ConfigError("head=many_to_many for tagging needs spec.target_vocab or spec.classes (the tags)")
        self.tie_weights = tie_weights
        self.dropout = dropout_layer(dropout)
        if tie_weights:  # a projection to the embedding's size where the encoder's differs
            same_size = ctx.encoder_size == ctx.embedding_dim
            self.project = nn.Identity() if same_size else nn.Linear(ctx.encoder_size, ctx.embedding_dim)
            self.out = None
            self.out_bias = nn.Parameter(torch.zeros(self.num_outputs))
        else:
            self.out = nn.Linear(ctx.encoder_size, self.num_outputs)

    def logits(self, model: Backbone, encoded: Tensor) -> Tensor:
        encoded = self.dropout(encoded)
        if self.out is not None:
            return self.out(encoded)
        return F.linear(self.project(encoded), model.embedding.weight, self.out_bias)

    def forward(self, model: Backbone, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        encoded, final_state = model.encode(batch["inputs"], batch.get("lengths"), state)
        return {"logits": self.logits(model, encoded), "state": final_state}

    def make_metrics(self) -> dict[str, Any]:
        metrics = super().make_metrics()
        if self.bio_tags:
            metrics["entity_f1"] = EntityF1(self.bio_tags)
        return metrics

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        super().update_metrics(metrics, out, batch)
        if "entity_f1" in metrics:
            metrics["entity_f1"].update(out["logits"].argmax(-1), self.targets(batch))

    def derived_metrics(self, values: dict[str, float]) -> dict[str, float]:
        """Perplexity and bits per token follow from the mean cross-entropy (in nats per token)."""
        if not self.language_model or "loss" not in values:
            return {}
        return {**super().derived_metrics(values), "bpc": values["loss"] / math.log(2)}

    @property
    def generates(self) -> bool:
        """Only language models generate; a tagger does not."""
        return self.language_model

    @torch.no_grad()
    def generate(
        self,
        model: Backbone,
        prompt: list[int] | None = None,
        num_samples: int = 1,
        max_length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop_at_eos: bool = True,
    ) -> list[list[int]]:
        """Sample continuations of ``prompt`` (token ids), read after ``spec.start_context()`` (the document separator
        windows/stream models train on, or ``<bos>``): a state seen in training. Deterministic for a ``seed``."""
        if not self.language_model:
            raise ValueError("only language models generate")
        device = next(model.parameters()).device
        generator = seeded_generator(device, seed)
        prompt = [*model.spec.start_context(), *(prompt or [])]
        inputs = torch.tensor([prompt] * num_samples, device=device)

        def run(ids: Tensor, state: Any) -> tuple[Tensor, Any]:
            encoded, state = model.encode(ids, None, state)
            return self.logits(model, encoded[:, -1:]), state

        eos_id = model.spec.vocab.eos_id if stop_at_eos else None
        return sample_sequences(run, inputs, None, max_length, temperature, top_k, generator, eos_id)
