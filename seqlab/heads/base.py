"""The Head contract: what a model predicts from the encoder, its loss, its metrics, and how it generates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from seqlab.data.base import DataSpec

if TYPE_CHECKING:
    from seqlab.models.sequence_model import SequenceModel


@dataclass
class HeadContext:
    """What a head may use to build itself: the data spec and the model's encoder output size."""

    spec: DataSpec
    encoder_size: int
    embedding_dim: int


class Head(nn.Module):
    """Base class of heads (public plugin API). A head turns encoder outputs into predictions for one task.

    Implement :meth:`forward` (``model, batch → dict`` with at least ``logits``), :meth:`loss` and
    :meth:`make_metrics` (torchmetrics, keyed by name); generating heads also implement :meth:`generate`.
    The default :meth:`forward` runs the model's embedding and encoder over ``batch["inputs"]`` and calls
    :meth:`predict` on the encoder outputs ``(B, T, D*H)``; heads that run the encoder themselves override it.
    The LightningModule only calls these methods, so it never depends on the task.

    >>> import torch
    >>> from seqlab.heads import Head
    >>> class LastStepRegression(Head):
    ...     tasks = ("regression",)
    ...     def __init__(self, ctx):
    ...         super().__init__()
    ...         self.out = torch.nn.Linear(ctx.encoder_size, 1)
    ...     def predict(self, encoded, batch):
    ...         return {"logits": self.out(encoded[:, -1]).squeeze(-1)}
    ...     def loss(self, out, batch):
    ...         return torch.nn.functional.mse_loss(out["logits"], batch["targets"])
    """

    #: data tasks this head serves by default (``head=auto``)
    tasks: ClassVar[tuple[str, ...]] = ()

    def forward(self, model: SequenceModel, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        encoded, final_state = model.encode(batch["inputs"], batch.get("lengths"), state)
        out = self.predict(encoded, batch)
        out["state"] = final_state
        return out

    def predict(self, encoded: Tensor, batch: dict[str, Tensor]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement predict() or forward()")

    def loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def make_metrics(self) -> dict[str, Any]:
        """torchmetrics objects keyed by name (logged as ``val/<name>``, ``test/<name>``)."""
        return {}

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        """Feed one batch to the metrics made by :meth:`make_metrics`."""

    def generate(self, model: SequenceModel, **options: Any) -> list[Any]:
        raise NotImplementedError(f"head {type(self).__name__} does not generate")

    @property
    def generates(self) -> bool:
        return type(self).generate is not Head.generate


def sample_next(
    logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> Tensor:
    """Sample one id per row of ``logits (B, V)``; ``temperature=0`` is greedy, ``top_k`` keeps the k best."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
