"""SequenceModel: embedding → encoder → head, the network of one run (built by :mod:`seqlab.models.builder`)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from seqlab.data.embeddings import load_pretrained_embedding
from seqlab.errors import ConfigError
from seqlab.heads.base import Head, dropout_layer
from seqlab.spec import DataSpec


class SequenceModel(nn.Module):
    """The network of one run: ``embedding → encoder → head``. A container: :func:`seqlab.models.builder.build_model`
    turns the ``model`` options (:mod:`seqlab.schema.model`; kept in ``options``, what checkpoints store) into the
    parts, and this class only wires them (it is the heads' :class:`~seqlab.heads.Backbone`).

    ``encode(ids (B, T) or features (B, T, spec.input_features), lengths, state)`` returns ``(outputs (B, T, D*H),
    final state)``; ``forward(batch)`` returns the head's output dict.
    """

    def __init__(
        self,
        spec: DataSpec,
        embedding: nn.Module,
        encoder: nn.Module,
        head: Head,
        head_name: str,
        options: dict[str, Any],
    ):
        super().__init__()
        self.spec = spec
        self.embedding = embedding
        self.encoder = encoder
        self.head = head
        #: the registered name of the head (``head=auto`` resolved)
        self.head_name = head_name
        #: the options the model was built from (:func:`~seqlab.models.builder.build_model`'s arguments)
        self.options = options
        #: dropout on the embedding outputs (``options["embedding_dropout"]``; checkpoints without it have none)
        self.embedding_dropout = dropout_layer(float(options.get("embedding_dropout", 0.0)))

    def load_pretrained_vectors(self, path: str) -> None:
        """Copy GloVe/word2vec vectors into the learned embedding (missing words stay random; coverage logged)."""
        if not isinstance(self.embedding, nn.Embedding):
            raise ConfigError("model.pretrained_vectors needs model.embedding=learned")
        load_pretrained_embedding(self.embedding.weight, path, self.spec.vocab, self.spec.pad_id)

    def encode(self, ids: Tensor, lengths: Tensor | None = None, state: Any = None) -> tuple[Tensor, Any]:
        return self.encoder(self.embedding_dropout(self.embedding(ids)), lengths, state)

    def forward(self, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        return self.head(self, batch, state)
