"""Sequence → one real number, or one per step (task ``regression``): the adding problem, forecasting."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric, MeanSquaredError

from seqlab.cells.recurrent import length_mask
from seqlab.heads.base import Head, HeadContext, dropout_layer, pool_steps
from seqlab.registry import ConfigError
from seqlab.schema import model as schema


class RegressionHead(Head):
    """One real number per sequence: encoder outputs ``(B, T, D*H)`` → pooled ``(B, D*H)`` → ``logits (B,)``.

    The many-to-one shape with a squared-error loss. Batch keys: ``inputs`` (token ids ``(B, T)`` or float vectors
    ``(B, T, F)``), ``lengths (B,)``, ``targets (B,)`` float. ``pool``: ``last`` or ``mean`` (:func:`pool_steps`).
    Metrics: ``loss`` and ``mse`` (both the mean squared error, over examples).

    ``pool=none`` is the many-to-many shape: one number per step, ``logits (B, T)``, against ``step_targets (B, T)``
    (``data=timeseries``), averaged over real steps. A bidirectional encoder is refused (step t would read the later
    steps it predicts); a non-recurrent one needs ``model.encoder.causal=true`` (``auto`` is not causal here).

    >>> import torch
    >>> from seqlab.spec import DataSpec
    >>> from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
    >>> from seqlab.models.builder import build_model
    >>> spec = DataSpec("regression", Vocabulary(SPECIALS), Tokenizer(), input_features=2)
    >>> model = build_model(spec, {"name": "lstm"}, {"name": "auto"}, {"hidden_size": 8}, embedding="identity")
    >>> out = model({"inputs": torch.rand(3, 5, 2), "lengths": torch.tensor([5, 5, 5])})
    >>> tuple(out["logits"].shape), model.head_name
    ((3,), 'regression')
    """

    tasks = ("regression",)

    def __init__(
        self,
        ctx: HeadContext,
        pool: str = schema.Regression.pool,
        dropout: float = schema.Regression.dropout,
    ):
        super().__init__()
        if pool == "none" and ctx.bidirectional:
            raise ConfigError(
                "model.head.pool=none predicts the value after every step, so it needs a left-to-right encoder: "
                "a bidirectional one reads the later steps it predicts; use model.encoder.bidirectional=false or "
                "pool=last"
            )
        self.pool = pool
        self.num_directions = 2 if ctx.bidirectional else 1
        self.dropout = dropout_layer(dropout)
        self.out = nn.Linear(ctx.encoder_size, 1)

    def predict(self, encoded: Tensor, batch: dict[str, Tensor]) -> dict[str, Any]:
        pooled = pool_steps(encoded, batch.get("lengths"), self.pool, self.num_directions)
        return {"logits": self.out(self.dropout(pooled)).squeeze(-1)}

    def pairs(self, out: dict[str, Any], batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(predictions, targets)`` flattened over the examples (``pool=none``: over their real steps)."""
        if self.pool != "none":
            return out["logits"].float(), batch["targets"].float()
        if "step_targets" not in batch:
            raise ConfigError(
                "model.head.pool=none predicts every step, but the data has no per-step targets (step_targets); "
                "use data=timeseries or model.head.pool=last"
            )
        logits, targets = out["logits"].float(), batch["step_targets"].float()
        mask = length_mask(batch.get("lengths"), logits.shape[1], logits.device)
        return (logits, targets) if mask is None else (logits[mask], targets[mask])

    def pools_over_steps(self) -> bool:
        return self.pool != "last"

    def output_layer(self) -> nn.Linear | None:
        return self.out

    def loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        return F.mse_loss(*self.pairs(out, batch))

    def make_metrics(self) -> dict[str, Any]:
        return {"loss": MeanMetric(), "mse": MeanSquaredError()}

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        predictions, targets = self.pairs(out, batch)
        metrics["loss"].update(F.mse_loss(predictions, targets), weight=targets.numel())
        metrics["mse"].update(predictions.detach(), targets)
