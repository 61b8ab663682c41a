"""Many-to-one: one label per sequence — sentiment, tune type, any sequence classification."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassRecall

from seqlab.cells.recurrent import length_mask
from seqlab.heads.base import Head, HeadContext, dropout_layer, pool_steps
from seqlab.registry import ConfigError
from seqlab.schema import model as schema


class AttentionPooling(nn.Module):
    """Additive self-attention pooling (Yang et al. 2016): ``a_t = softmax_t(vᵀ tanh(W e_t + b))``, ``Σ_t a_t e_t``.

    ``encoded (B, T, D)``, ``mask (B, T)`` (True on real steps) → ``pooled (B, D)``, ``weights (B, T)`` (zero on
    padding, summing to 1 over real steps).
    """

    def __init__(self, size: int, attention_size: int):
        super().__init__()
        self.project = nn.Linear(size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, encoded: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        scores = self.score(torch.tanh(self.project(encoded))).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(encoded.dtype)
        return torch.einsum("bt,btd->bd", weights, encoded), weights


class ManyToOneHead(Head):
    """One label per sequence: encoder outputs ``(B, T, D*H)`` → pooled ``(B, D*H)`` → ``logits (B, C)``.

    Batch keys (task ``classification``): ``inputs (B, T)``, ``lengths (B,)``, ``targets (B,)`` (``spec.classes`` ids).

    ``pool``: ``last``, ``mean``, ``max`` (:func:`pool_steps`) or ``attention`` (its weights come back as
    ``out["attention"] (B, T)``); ``class_weights`` weigh the cross-entropy. More: docs/heads.md.

    >>> import torch
    >>> from seqlab.spec import DataSpec
    >>> from seqlab.data.vocab import Tokenizer, Vocabulary
    >>> from seqlab.models.builder import build_model
    >>> spec = DataSpec("classification", Vocabulary.build([list("ab")]), Tokenizer(), classes=["no", "yes"])
    >>> model = build_model(spec, {"name": "gru"}, {"name": "many_to_one", "pool": "attention"},
    ...                       {"hidden_size": 8, "bidirectional": True}, embedding_dim=4)
    >>> out = model({"inputs": torch.tensor([[4, 5, 4], [5, 4, 0]]), "lengths": torch.tensor([3, 2])})
    >>> tuple(out["logits"].shape), tuple(out["attention"].shape), float(out["attention"][1, 2])
    ((2, 2), (2, 3), 0.0)
    """

    tasks = ("classification",)

    def __init__(
        self,
        ctx: HeadContext,
        pool: str = schema.ManyToOne.pool,
        attention_size: int = schema.ManyToOne.attention_size,
        dropout: float = schema.ManyToOne.dropout,
        class_weights: str | list[float] | None = schema.ManyToOne.class_weights,
    ):
        super().__init__()
        num_classes = ctx.spec.num_classes
        if num_classes < 2:
            raise ConfigError(f"head=many_to_one needs at least 2 classes in the data spec, got {num_classes}")
        self.pool = pool
        self.num_classes = num_classes
        self.num_directions = 2 if ctx.bidirectional else 1
        self.attention = AttentionPooling(ctx.encoder_size, attention_size) if pool == "attention" else None
        self.dropout = dropout_layer(dropout)
        self.out = nn.Linear(ctx.encoder_size, num_classes)
        self.register_buffer("class_weights", resolve_class_weights(class_weights, ctx), persistent=False)

    def predict(self, encoded: Tensor, batch: dict[str, Tensor]) -> dict[str, Any]:
        lengths = batch.get("lengths")
        out: dict[str, Any] = {}
        if self.pool == "attention":
            pooled, out["attention"] = self.attention(encoded, length_mask(lengths, encoded.shape[1], encoded.device))
        else:
            pooled = pool_steps(encoded, lengths, self.pool, self.num_directions)
        out["logits"] = self.out(self.dropout(pooled))
        return out

    def pools_over_steps(self) -> bool:
        return self.pool != "last"

    def output_layer(self) -> nn.Linear | None:
        return self.out

    def loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(out["logits"].float(), batch["targets"], weight=self.class_weights)

    def make_metrics(self) -> dict[str, Any]:
        return {
            "loss": MeanMetric(),
            "accuracy": MulticlassAccuracy(self.num_classes, average="micro"),
            "macro_f1": MulticlassF1Score(self.num_classes, average="macro"),
            "macro_recall": MulticlassRecall(self.num_classes, average="macro"),
        }

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        targets = batch["targets"]
        metrics["loss"].update(self.loss(out, batch), weight=targets.numel())
        predictions = out["logits"].argmax(-1)
        for name in ("accuracy", "macro_f1", "macro_recall"):
            metrics[name].update(predictions, targets)


def resolve_class_weights(option: str | list[float] | None, ctx: HeadContext) -> Tensor | None:
    """``model.head.class_weights`` → a ``(C,)`` tensor or None, with clear errors."""
    if option is None:
        return None
    if option == "spec":
        if ctx.spec.class_weights is None:
            raise ConfigError("model.head.class_weights=spec: the data spec carries no class_weights")
        option = list(ctx.spec.class_weights)
    weights = [float(w) for w in option]
    if len(weights) != ctx.spec.num_classes:
        raise ConfigError(
            f"model.head.class_weights has {len(weights)} values but the data has {ctx.spec.num_classes} classes"
        )
    if any(w < 0 for w in weights) or not any(weights):
        raise ConfigError("model.head.class_weights must be non-negative and not all zero")
    return torch.tensor(weights)
