"""SequenceModel: embedding → recurrent encoder → head, built from the data spec and the model config."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqlab.cells import Recurrent
from seqlab.data.base import DataSpec
from seqlab.heads.base import Head, HeadContext
from seqlab.registry import CELLS, HEADS, ConfigError

#: the head each data task gets when ``head=auto``
DEFAULT_HEADS = {
    "language_model": "many_to_many",
    "tagging": "many_to_many",
    "classification": "many_to_one",
    "translation": "seq2seq",
    "conditional_generation": "one_to_many",
    "regression": "regression",
}


class OneHot(nn.Module):
    """Fixed one-hot input encoding: ids ``(B, T)`` → ``(B, T, V)``; nothing to train."""

    def __init__(self, vocab_size: int, padding_idx: int = 0):
        super().__init__()
        self.register_buffer("weight", torch.eye(vocab_size), persistent=False)
        self.weight[padding_idx].zero_()
        self.embedding_dim = vocab_size

    def forward(self, ids: Tensor) -> Tensor:
        return self.weight[ids]


class FeatureProjection(nn.Linear):
    """Real-valued inputs ``(B, T, F)`` → ``(B, T, dim)`` by a learned linear map (``model.embedding=linear``)."""

    def __init__(self, features: int, dim: int):
        super().__init__(features, dim)
        self.embedding_dim = dim


class FeatureIdentity(nn.Identity):
    """Real-valued inputs ``(B, T, F)`` passed to the encoder as they are (``model.embedding=identity``)."""

    def __init__(self, features: int):
        super().__init__()
        self.embedding_dim = features


def build_embedding(kind: str, vocab_size: int, dim: int, padding_idx: int, features: int = 0) -> nn.Module:
    if features and kind not in ("linear", "identity"):
        raise ConfigError(
            f"model.embedding={kind}: the data gives {features} real-valued features per step, not token ids; "
            "use model.embedding=linear or identity"
        )
    if kind in ("linear", "identity") and not features:
        raise ConfigError(f"model.embedding={kind} needs real-valued inputs; the data gives token ids")
    if kind == "linear":
        return FeatureProjection(features, dim)
    if kind == "identity":
        return FeatureIdentity(features)
    if kind == "learned":
        return nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
    if kind == "onehot":
        return OneHot(vocab_size, padding_idx)
    raise ConfigError(f"model.embedding must be 'learned', 'onehot', 'linear' or 'identity', got '{kind}'")


def build_encoder(
    encoder: dict[str, Any], input_size: int, spec: DataSpec, cell_name: str, cell: dict[str, Any]
) -> tuple[nn.Module, dict[str, Any]]:
    """``model.encoder`` → the encoder and the runner options heads see (``HeadContext.encoder``).

    ``name: recurrent`` (or none) runs the cell with :class:`Recurrent`; another name selects a registered
    :mod:`seqlab.encoders` encoder, which heads see as one left-to-right layer of its output size."""
    name = encoder.pop("name", "recurrent")
    if name != "recurrent":
        from seqlab.encoders import build_encoder as build_registered

        num_states = len(CELLS.get(cell_name).state_names)
        module = build_registered(name, input_size, spec.task, num_states, encoder)
        return module, {"hidden_size": module.output_size, "num_layers": 1}
    hidden_size = encoder.pop("hidden_size")
    if hidden_size <= 0:
        raise ConfigError(f"model.encoder.hidden_size must be positive, got {hidden_size}")
    return Recurrent(cell_name, input_size, hidden_size, **encoder, **cell), {"hidden_size": hidden_size, **encoder}


def head_name(head_cfg: dict[str, Any], spec: DataSpec) -> str:
    name = head_cfg.get("name", "auto")
    return DEFAULT_HEADS[spec.task] if name == "auto" else name


class SequenceModel(nn.Module):
    """The network of one run: ``embedding → encoder (Recurrent, or a :mod:`seqlab.encoders` one) → head``.

    ``embedding``: ``learned`` or ``onehot`` (token ids), ``linear`` or ``identity`` (real-valued inputs
    ``(B, T, spec.input_features)``); ``encoder``: runner options (``hidden_size``, ``num_layers``,
    ``bidirectional``, ``dropout``, ``path``, ``compile``), or ``name`` and the options of another encoder
    (``fixed_window``, ``bag_of_words``, ``transformer``); ``freeze_embedding`` stops training the embedding;
    ``cell``: ``{"name": ..., **cell options}``; ``head``: ``{"name": ..., **head options}``.
    ``encode(ids (B, T), lengths, state)`` returns ``(outputs (B, T, D*H), final state)``; ``forward(batch)`` returns
    the head's output dict.
    """

    def __init__(
        self,
        spec: DataSpec,
        cell: dict[str, Any],
        head: dict[str, Any],
        encoder: dict[str, Any],
        embedding: str = "learned",
        embedding_dim: int = 128,
        freeze_embedding: bool = False,
    ):
        super().__init__()
        self.spec = spec
        if embedding_dim <= 0:
            raise ConfigError(f"model.embedding_dim must be positive, got {embedding_dim}")
        self.embedding = build_embedding(embedding, spec.vocab_size, embedding_dim, spec.pad_id, spec.input_features)
        input_size = self.embedding.embedding_dim
        cell = dict(cell)
        cell_name = cell.pop("name")
        if freeze_embedding:
            for parameter in self.embedding.parameters():
                parameter.requires_grad_(False)
        self.encoder, encoder = build_encoder(dict(encoder), input_size, spec, cell_name, cell)
        head = dict(head)
        name = head_name(head, spec)
        head.pop("name", None)
        head_cls = HEADS.get(name)
        if head_cls.tasks and spec.task not in head_cls.tasks:
            raise ConfigError(
                f"head={name} does not fit the data's task '{spec.task}'; it serves {', '.join(head_cls.tasks)}"
            )
        ctx = HeadContext(
            spec=spec,
            encoder_size=self.encoder.output_size,
            embedding_dim=input_size,
            cell={"name": cell_name, **cell},
            encoder=encoder,
        )
        try:
            self.head: Head = head_cls(ctx, **head)
        except TypeError as err:
            raise ConfigError(f"model.head: {name} does not accept these options ({err})") from None
        self.head_name = name

    def load_pretrained_vectors(self, path: str) -> None:
        """Copy word vectors from a GloVe/word2vec text file into the learned embedding (``model.pretrained_vectors``);
        words missing from the file keep their random initialisation. The coverage is logged."""
        from seqlab.data.embeddings import load_pretrained_embedding

        if not isinstance(self.embedding, nn.Embedding):
            raise ConfigError("model.pretrained_vectors needs model.embedding=learned")
        load_pretrained_embedding(self.embedding.weight, path, self.spec.vocab, self.spec.pad_id)

    def encode(self, ids: Tensor, lengths: Tensor | None = None, state: Any = None) -> tuple[Tensor, Any]:
        return self.encoder(self.embedding(ids), lengths, state)

    def forward(self, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        return self.head(self, batch, state)
