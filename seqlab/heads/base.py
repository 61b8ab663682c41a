"""The Head contract: what a model predicts from the encoder, its loss, its metrics, and how it generates."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from seqlab.cells.recurrent import Recurrent, at_last_step, last_step_index, length_mask, mean_over_real_steps
from seqlab.errors import NonFiniteError
from seqlab.spec import DataSpec

#: target id that losses and metrics skip (padded steps)
IGNORE = -100


class Backbone(Protocol):
    """What a head sees of the model: the embedding → encoder part (public plugin API).

    :class:`~seqlab.models.sequence_model.SequenceModel` is one; heads depend on these five names only (heads must
    not import :mod:`seqlab.models`).

    - ``spec``: the data's :class:`~seqlab.spec.DataSpec`;
    - ``embedding``: ids ``(B, T)`` → vectors ``(B, T, E)``; a learned one has ``weight (V, E)`` (tied weights);
    - ``encoder``: ``(x (B, T, E), lengths (B,) | None, state) → (outputs (B, T, encoder_size), final state)`` — a
      :class:`~seqlab.cells.Recurrent` or an :class:`~seqlab.encoders.Encoder`, for heads feeding their own inputs;
    - ``encode(ids, lengths, state)``: ``encoder(embedding(ids), lengths, state)``;
    - ``parameters()``: to find the device.
    """

    spec: DataSpec
    embedding: nn.Module
    encoder: nn.Module

    def encode(self, ids: Tensor, lengths: Tensor | None = None, state: Any = None) -> tuple[Tensor, Any]: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


@dataclass
class HeadContext:
    """What a head may use to build itself: the data spec, the model's sizes, and the model's recurrent config.

    ``encoder_size`` is the encoder's output size ``D*H``; ``cell`` is ``{"name": ..., **cell options}`` and
    ``encoder`` the encoder's ``head_options()``, from which :meth:`build_recurrent` builds a decoder.
    """

    spec: DataSpec
    encoder_size: int
    embedding_dim: int
    cell: dict[str, Any] = field(default_factory=lambda: {"name": "lstm"})
    encoder: dict[str, Any] = field(default_factory=dict)

    @property
    def bidirectional(self) -> bool:
        return bool(self.encoder.get("bidirectional", False))

    @property
    def num_layers(self) -> int:
        return int(self.encoder.get("num_layers", 1))

    def build_recurrent(self, input_size: int, hidden_size: int) -> Recurrent:
        """A left-to-right :class:`~seqlab.cells.Recurrent` with the model's cell, layer count and loop options."""
        cell = dict(self.cell)
        loop = {k: v for k, v in self.encoder.items() if k in ("dropout", "path", "compile")}
        return Recurrent(cell.pop("name"), input_size, hidden_size, num_layers=self.num_layers, **loop, **cell)


class Head(nn.Module):
    """Base class of heads (public plugin API). A head turns encoder outputs into predictions for one task.

    Implement :meth:`predict` (encoder outputs ``(B, T, D*H)`` → dict with at least ``logits``) and :meth:`loss`;
    that is a complete head. Optionally :meth:`make_metrics` (logged as ``val/<name>``) with :meth:`update_metrics`,
    and :meth:`generate`; ``val/loss`` and ``test/loss`` are always logged (docs/heads.md, "Metrics"). The default
    :meth:`forward` runs ``model.encode`` over ``batch["inputs"]`` and calls :meth:`predict`; heads that run the
    encoder themselves override it. Gradient-flow diagnostics read :meth:`terminal_loss`, :meth:`pools_over_steps`.

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
    #: whether :meth:`generate` needs an input sequence (seq2seq's ``source``): prompt-only samplers skip such heads
    generates_from_source: ClassVar[bool] = False

    def forward(self, model: Backbone, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        encoded, final_state = model.encode(batch["inputs"], batch.get("lengths"), state)
        return {**self.predict(encoded, batch), "state": final_state}

    def predict(self, encoded: Tensor, batch: dict[str, Tensor]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement predict() or forward()")

    def loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def make_metrics(self) -> dict[str, Any]:
        """torchmetrics objects keyed by name (logged as ``val/<name>``, ``test/<name>``)."""
        return {}

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        """Feed one batch to the metrics made by :meth:`make_metrics`."""

    def derived_metrics(self, values: dict[str, float]) -> dict[str, float]:
        """Metrics computed from the epoch's values (e.g. perplexity from the mean loss); logged beside them."""
        return {}

    def terminal_loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        """``L_T``: the loss of each sequence's last real step alone (mean over rows), whose gradient says how far
        back a signal reaches. Default: :meth:`loss`; per-step heads return :func:`last_step_cross_entropy`."""
        return self.loss(out, batch)

    def pools_over_steps(self) -> bool:
        """Whether :meth:`terminal_loss` reads the encoder's outputs at every step (mean, max or attention pooling):
        the gradient-flow probe then lets gradient reach the encoder through each row's last real step only."""
        return False

    def output_layer(self) -> nn.Linear | None:
        """The layer mapping to the logits, which ``model.init_range`` draws from U(−r, r) with a zero bias; or None."""
        return None

    def generate(self, model: Backbone, **options: Any) -> list[Any]:
        raise NotImplementedError(f"head {type(self).__name__} does not generate")

    @property
    def generates(self) -> bool:
        return type(self).generate is not Head.generate


class TokenHead(Head):
    """A head predicting a token at every step (``many_to_many``, ``one_to_many``, ``seq2seq``): ``logits (B, T, V)``
    against ``targets (B, T)``, steps at or past ``batch[lengths_key]`` skipped; loss and ``accuracy`` per real token.
    Subclasses set ``out`` (the output layer, or None) and ``num_outputs`` (``V``)."""

    #: the batch key of the targets' lengths
    lengths_key: ClassVar[str] = "lengths"
    out: nn.Linear | None
    num_outputs: int

    def targets(self, batch: dict[str, Tensor]) -> Tensor:
        """``batch["targets"] (B, T)`` with every step at or past its sequence's length set to :data:`IGNORE`."""
        targets = batch["targets"]
        mask = length_mask(batch.get(self.lengths_key), targets.shape[1], targets.device)
        return targets if mask is None else targets.masked_fill(~mask, IGNORE)

    def output_layer(self) -> nn.Linear | None:
        return self.out

    def loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        return token_cross_entropy(out["logits"], self.targets(batch))

    def terminal_loss(self, out: dict[str, Any], batch: dict[str, Tensor]) -> Tensor:
        return last_step_cross_entropy(out["logits"], batch["targets"], batch.get(self.lengths_key))

    def make_metrics(self) -> dict[str, Any]:
        return {
            "loss": MeanMetric(),
            "accuracy": MulticlassAccuracy(self.num_outputs, average="micro", ignore_index=IGNORE),
        }

    def update_metrics(self, metrics: nn.ModuleDict, out: dict[str, Any], batch: dict[str, Tensor]) -> None:
        logits, targets = out["logits"], self.targets(batch)
        tokens = (targets != IGNORE).sum()
        metrics["loss"].update(token_cross_entropy(logits, targets, "sum") / tokens.clamp(min=1), weight=tokens)
        metrics["accuracy"].update(logits.argmax(-1), targets)

    def derived_metrics(self, values: dict[str, float]) -> dict[str, float]:
        """Perplexity from the epoch's mean cross-entropy ``values["loss"]`` (nats per token: weighted by tokens)."""
        return {"perplexity": math.exp(min(values["loss"], 50.0))} if "loss" in values else {}


def token_cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``logits (B, T, V)`` against ``targets (B, T)``, skipping :data:`IGNORE` steps."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE, reduction=reduction
    )


def dropout_layer(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or nothing at ``p = 0`` (a zero-rate dropout still draws and applies a mask)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def sample_next(logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> Tensor:
    """Sample one id per row of ``logits (B, V)``; ``temperature=0`` is greedy, ``top_k`` keeps the k best."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if not bool(torch.isfinite(probs).all()):  # torch.multinomial would stop with a RuntimeError deep in the loop
        raise NonFiniteError("the model's next-token probabilities are not finite (NaN or inf): it cannot be sampled")
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def pool_steps(encoded: Tensor, lengths: Tensor | None, pool: str, directions: int) -> Tensor:
    """``encoded (B, T, D*H)`` → ``(B, D*H)``, padding never counted: ``last`` — each row's last real step (with two
    directions the backward half is taken at step 0, where it has read the whole sequence); ``mean`` / ``max`` —
    over real steps; ``none`` — no pooling, ``encoded`` as it is."""
    if pool == "none":
        return encoded
    if pool == "last":
        pooled, half = at_last_step(encoded, lengths), encoded.shape[-1] // 2
        return pooled if directions == 1 else torch.cat([pooled[:, :half], encoded[:, 0, half:]], dim=-1)
    mask = length_mask(lengths, encoded.shape[1], encoded.device)
    if pool == "mean":
        return mean_over_real_steps(encoded, mask)
    return (encoded if mask is None else encoded.masked_fill(~mask[..., None], float("-inf"))).max(dim=1).values


def last_step_cross_entropy(logits: Tensor, targets: Tensor, lengths: Tensor | None) -> Tensor:
    """Cross-entropy of each row's last real step of ``logits (B, T, V)`` against ``targets (B, T)``, mean over rows:
    :meth:`Head.terminal_loss` of a head predicting every step."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    last = last_step_index(lengths, logits.shape[0], logits.shape[1], logits.device)
    return F.cross_entropy(logits[rows, last].float(), targets[rows, last])


def seeded_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (a fresh random seed when None)."""
    return torch.Generator(device=device).manual_seed(seed if seed is not None else torch.seed())


def sample_sequences(
    run: Callable[[Tensor, Any], tuple[Tensor, Any]],
    inputs: Tensor,
    state: Any,
    max_length: int,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator | None,
    eos_id: int | None,
) -> list[list[int]]:
    """The sampling loop shared by generating heads: ``run(ids (B, T), state) → (logits (B, T', V), state)`` reads
    ``inputs (B, T)``, then each token sampled from the last step's logits, as ``(B, 1)``. A row stops after
    ``eos_id`` (kept in its sample; None: never) or at ``max_length`` tokens."""

    logits, state = run(inputs, state)
    samples: list[list[int]] = [[] for _ in range(inputs.shape[0])]
    done = torch.zeros(inputs.shape[0], dtype=torch.bool, device=inputs.device)
    for _ in range(max_length):
        token = sample_next(logits[:, -1], temperature, top_k, generator)
        for i, t in enumerate(token.tolist()):
            if not done[i]:
                samples[i].append(t)
        if eos_id is not None:
            done |= token == eos_id
            if bool(done.all()):
                break
        logits, state = run(token[:, None], state)
    return samples
