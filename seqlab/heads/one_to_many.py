"""One-to-many: a label (or a vector) → a sequence — e.g. a tune of a given type."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqlab.heads.base import Backbone, HeadContext, TokenHead, dropout_layer, sample_sequences, seeded_generator
from seqlab.registry import CELLS, ConfigError
from seqlab.schema import model as schema

Condition = int | str | list[int | str] | None


class OneToManyHead(TokenHead):
    """A sequence generated from a condition: the model's embedding and encoder are the decoder (left to right).

    Batch keys (task ``conditional_generation``): ``condition (B,)`` class ids or ``(B, C)`` class weights,
    ``inputs (B, T)`` = ``<bos>`` + tokens, ``targets (B, T)`` = tokens + ``<eos>``, ``lengths (B,)``.

    The condition (an embedding of ``condition_dim``) sets every layer's initial state (``condition_init``: ``tanh``
    of a linear map per state tensor) and/or is projected and added to each step's input (``condition_input``).
    The encoder must not be bidirectional.

    >>> import torch
    >>> from seqlab.spec import DataSpec
    >>> from seqlab.data.vocab import Tokenizer, Vocabulary
    >>> from seqlab.models.builder import build_model
    >>> spec = DataSpec("conditional_generation", Vocabulary.build([list("ab")]), Tokenizer(), classes=["x", "y"])
    >>> model = build_model(spec, {"name": "lstm"}, {"name": "one_to_many", "condition_input": True},
    ...                       {"hidden_size": 8}, embedding_dim=4)
    >>> batch = {"condition": torch.tensor([0, 1]), "inputs": torch.tensor([[2, 4, 5], [2, 5, 0]]),
    ...          "targets": torch.tensor([[4, 5, 3], [5, 3, 0]]), "lengths": torch.tensor([3, 2])}
    >>> tuple(model(batch)["logits"].shape)
    (2, 3, 6)
    >>> len(model.head.generate(model, condition="y", num_samples=2, max_length=5, seed=0))
    2
    """

    tasks = ("conditional_generation",)

    def __init__(
        self,
        ctx: HeadContext,
        condition_init: bool = schema.OneToMany.condition_init,
        condition_input: bool = schema.OneToMany.condition_input,
        condition_dim: int | None = schema.OneToMany.condition_dim,
        dropout: float = schema.OneToMany.dropout,
    ):
        super().__init__()
        spec = ctx.spec
        if ctx.bidirectional:
            raise ConfigError(
                "head=one_to_many uses the encoder as a left-to-right decoder; set model.encoder.bidirectional=false"
            )
        if not (condition_init or condition_input):
            raise ConfigError(
                "head=one_to_many: set model.head.condition_init or model.head.condition_input to true "
                "(otherwise the condition is ignored)"
            )
        if spec.num_classes < 1:
            raise ConfigError("head=one_to_many needs the data spec's classes (the conditions)")
        condition_dim = condition_dim or ctx.embedding_dim
        self.classes = list(spec.classes)
        self.num_outputs = spec.vocab_size
        self.hidden_size = int(ctx.encoder["hidden_size"]) if "hidden_size" in ctx.encoder else ctx.encoder_size
        self.num_layers = ctx.num_layers
        self.num_states = len(CELLS.get(ctx.cell["name"]).state_names)
        self.condition_embedding = nn.Embedding(len(self.classes), condition_dim)
        state_size = self.num_states * self.num_layers * self.hidden_size
        self.condition_to_state = nn.Linear(condition_dim, state_size) if condition_init else None
        self.condition_to_input = nn.Linear(condition_dim, ctx.embedding_dim) if condition_input else None
        self.dropout = dropout_layer(dropout)
        self.out = nn.Linear(ctx.encoder_size, self.num_outputs)

    def condition_vector(self, condition: Tensor) -> Tensor:
        """``(B,)`` class ids → ``(B, condition_dim)``; a float ``(B, C)`` vector mixes the class embeddings."""
        if condition.is_floating_point():
            return condition.to(self.condition_embedding.weight.dtype) @ self.condition_embedding.weight
        return self.condition_embedding(condition)

    def initial_state(self, condition: Tensor) -> tuple[Tensor, ...]:
        """The decoder's initial state from ``condition (B, condition_dim)``: one ``(layers, B, H)`` per state."""
        B = condition.shape[0]
        flat = torch.tanh(self.condition_to_state(condition))
        per_state = flat.view(B, self.num_states, self.num_layers, self.hidden_size).permute(1, 2, 0, 3)
        return tuple(s.contiguous() for s in per_state)

    def decode(
        self, model: Backbone, inputs: Tensor, condition: Tensor, lengths: Tensor | None, state: Any = None
    ) -> tuple[Tensor, Any]:
        """Run the decoder over ``inputs (B, T)`` given ``condition (B, condition_dim)`` → ``logits (B, T, V)``.
        ``state`` continues a previous call (generation); None starts from the condition."""
        x = model.embedding(inputs)
        if self.condition_to_input is not None:
            x = x + self.condition_to_input(condition)[:, None].to(x.dtype)
        if state is None and self.condition_to_state is not None:
            state = self.initial_state(condition)
        encoded, final_state = model.encoder(x, lengths, state)
        return self.out(self.dropout(encoded)), final_state

    def forward(self, model: Backbone, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        condition = self.condition_vector(batch["condition"])
        logits, final_state = self.decode(model, batch["inputs"], condition, batch.get("lengths"), state)
        return {"logits": logits, "state": final_state}

    def class_ids(self, condition: Condition, num_samples: int) -> list[int]:
        """The class id of every sample: None → the classes in turn; a name or id → ``num_samples`` of it;
        a list → ``num_samples`` of each listed condition, in order."""
        if condition is None:
            return [i % len(self.classes) for i in range(num_samples)]
        listed = condition if isinstance(condition, list) else [condition]
        ids = []
        for c in listed:
            if isinstance(c, str):
                if c not in self.classes:
                    raise ConfigError(f"condition={c}: unknown class; the classes are {', '.join(self.classes)}")
                c = self.classes.index(c)
            if not 0 <= int(c) < len(self.classes):
                raise ConfigError(f"condition={c}: class ids go from 0 to {len(self.classes) - 1}")
            ids += [int(c)] * num_samples
        return ids

    @torch.no_grad()
    def generate(
        self,
        model: Backbone,
        condition: Condition = None,
        prompt: list[int] | None = None,
        num_samples: int = 1,
        max_length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop_at_eos: bool = True,
    ) -> list[list[int]]:
        """Sample sequences of ``condition`` (:meth:`class_ids`) after ``<bos>`` + ``prompt``, the same per ``seed``."""
        device = next(model.parameters()).device
        generator = seeded_generator(device, seed)
        ids = torch.tensor(self.class_ids(condition, num_samples), device=device)
        vector = self.condition_vector(ids)
        inputs = torch.tensor([[model.spec.vocab.bos_id, *(prompt or [])]] * len(ids), device=device)

        def run(ids: Tensor, state: Any) -> tuple[Tensor, Any]:
            return self.decode(model, ids, vector, None, state)

        eos_id = model.spec.vocab.eos_id if stop_at_eos else None
        return sample_sequences(run, inputs, None, max_length, temperature, top_k, generator, eos_id)
