"""Many-to-many: a prediction at every step — language models and aligned tagging."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from seqlab.heads.base import Head, HeadContext, sample_next

if TYPE_CHECKING:
    from seqlab.models.sequence_model import SequenceModel

IGNORE = -100


class ManyToManyHead(Head):
    """One prediction per input step: ``logits (B, T, V)`` from encoder outputs ``(B, T, D*H)``.

    For language models (task ``language_model``) ``V`` is the vocabulary and ``targets`` are the next tokens;
    ``tie_weights`` shares the output matrix with the input embedding (Press & Wolf 2017; needs a projection when
    sizes differ). For tagging ``V`` is the number of tags. Padded steps (``lengths``) never count in the loss.
    Metrics: ``loss``, ``perplexity`` and ``bpc`` (bits per token — per character for char models) for language
    models; ``accuracy`` always.
    """

    tasks = ("language_model", "tagging")

    def __init__(self, ctx: HeadContext, tie_weights: bool = False, dropout: float = 0.0):
        super().__init__()
        spec = ctx.spec
        self.language_model = spec.task == "language_model"
        vocab = spec.target_vocab if spec.task == "tagging" and spec.target_vocab else spec.vocab
        self.num_outputs = len(vocab) if (self.language_model or spec.target_vocab) else spec.num_classes
        self.tie_weights = tie_weights
        self.dropout = nn.Dropout(dropout)
        if tie_weights:
            self.project = (
                nn.Identity()
                if ctx.encoder_size == ctx.embedding_dim
                else nn.Linear(ctx.encoder_size, ctx.embedding_dim)
            )
            self.out = None
            self.out_bias = nn.Parameter(torch.zeros(self.num_outputs))
        else:
            self.out = nn.Linear(ctx.encoder_size, self.num_outputs)

    def logits(self, model: SequenceModel, encoded: Tensor) -> Tensor:
        encoded = self.dropout(encoded)
        if self.out is not None:
            return self.out(encoded)
        return F.linear(self.project(encoded), model.embedding.weight, self.out_bias)

    def forward(self, model: SequenceModel, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        encoded, final_state = model.encode(batch["inputs"], batch.get("lengths"), state)
        return {"logits": self.logits(model, encoded), "state": final_state}

    def _targets(self, batch: dict[str, Tensor]) -> Tensor:
        targets = batch["targets"]
        lengths = batch.get("lengths")
        if lengths is not None:
            steps = torch.arange(targets.shape[1], device=targets.device)
            targets = targets.masked_fill(steps[None, :] >= lengths[:, None], IGNORE)
        return targets

    def loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        logits = out["logits"]
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            self._targets(batch).reshape(-1),
            ignore_index=IGNORE,
        )

    def make_metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            "loss": MeanMetric(),
            "accuracy": MulticlassAccuracy(self.num_outputs, average="micro", ignore_index=IGNORE),
        }
        return metrics

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        targets = self._targets(batch)
        logits = out["logits"]
        tokens = (targets != IGNORE).sum()
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            targets.reshape(-1),
            ignore_index=IGNORE,
            reduction="sum",
        )
        metrics["loss"].update(nll / tokens.clamp(min=1), weight=tokens)
        metrics["accuracy"].update(logits.argmax(-1), targets)

    def derived_metrics(self, values: dict[str, float]) -> dict[str, float]:
        """Perplexity and bits per token follow from the mean cross-entropy (in nats per token)."""
        if not self.language_model or "loss" not in values:
            return {}
        loss = values["loss"]
        return {"perplexity": math.exp(min(loss, 50.0)), "bpc": loss / math.log(2)}

    @torch.no_grad()
    def generate(
        self,
        model: SequenceModel,
        prompt: list[int] | None = None,
        num_samples: int = 1,
        max_length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop_at_eos: bool = True,
    ) -> list[list[int]]:
        """Sample continuations of ``prompt`` (token ids; ``<bos>`` when empty). Deterministic for a ``seed``."""
        if not self.language_model:
            raise ValueError("only language models generate")
        device = next(model.parameters()).device
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
        spec = model.spec
        prompt = list(prompt) if prompt else [spec.vocab.bos_id]
        inputs = torch.tensor([prompt] * num_samples, device=device)
        encoded, state = model.encode(inputs, None, None)
        logits = self.logits(model, encoded[:, -1:])[:, -1]
        samples: list[list[int]] = [[] for _ in range(num_samples)]
        done = torch.zeros(num_samples, dtype=torch.bool, device=device)
        for _ in range(max_length):
            token = sample_next(logits, temperature, top_k, generator)
            for i, t in enumerate(token.tolist()):
                if not done[i]:
                    samples[i].append(t)
            if stop_at_eos:
                done |= token == spec.vocab.eos_id
                if bool(done.all()):
                    break
            encoded, state = model.encode(token[:, None], None, state)
            logits = self.logits(model, encoded)[:, -1]
        return samples
