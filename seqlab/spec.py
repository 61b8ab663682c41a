"""What the model knows about the data: the task names and :class:`DataSpec`. Shared by data, models and heads.

It imports only :mod:`seqlab.data.vocab` (plain data), so heads and the model builder need no datamodule."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from seqlab.data.vocab import Tokenizer, Vocabulary

#: what a datamodule can serve; each task has a default head (``head=auto``, see :mod:`seqlab.models.builder`)
TASKS = ("language_model", "classification", "translation", "conditional_generation", "tagging", "regression")


@dataclass
class DataSpec:
    """Everything the model needs to know about the data — the model never reads the data's config.

    ``task`` is one of :data:`TASKS`; ``target_vocab`` is the output vocabulary where it differs (translation, tagging).
    """

    task: str
    vocab: Vocabulary
    tokenizer: Tokenizer
    target_vocab: Vocabulary | None = None
    target_tokenizer: Tokenizer | None = None
    classes: list[str] = field(default_factory=list)
    #: consecutive training batches continue the same streams (truncated BPTT: the module carries state)
    stateful: bool = False
    #: optional loss weight per class (e.g. inverse training frequency), used by ``model.head.class_weights=spec``
    class_weights: list[float] | None = None
    #: real-valued features per step when ``inputs`` are float vectors ``(B, T, F)`` (0: token ids ``(B, T)``)
    input_features: int = 0
    #: ids sampling and scoring start from (language models): the document separator of windows/streams; None: <bos>
    start_ids: list[int] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task '{self.task}'; tasks are {', '.join(TASKS)}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return self.vocab.pad_id

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def start_context(self) -> list[int]:
        """The ids a language model's sample or score starts from (see ``start_ids``)."""
        return list(self.start_ids) if self.start_ids else [self.vocab.bos_id]

    def encode(self, text: str) -> list[int]:
        """Text → input ids (no ``<bos>``/``<eos>`` added)."""
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def decode(self, ids: list[int], target: bool = False) -> str:
        """Ids → text, special tokens dropped; ``target=True`` uses the target vocabulary where there is one."""
        vocab = self.target_vocab if target and self.target_vocab else self.vocab
        tokenizer = self.target_tokenizer if target and self.target_tokenizer else self.tokenizer
        return tokenizer.detokenize(vocab.decode(ids, skip_specials=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, strings, numbers) — what checkpoints store."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["classes"] = list(self.classes)
        out["vocab"] = self.vocab.to_dict()
        out["tokenizer"] = self.tokenizer.to_dict()
        out["target_vocab"] = self.target_vocab.to_dict() if self.target_vocab else None
        out["target_tokenizer"] = self.target_tokenizer.to_dict() if self.target_tokenizer else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        data = dict(data)
        data.pop("max_length", None)  # written by older seqlab versions (caches, checkpoints); nothing read it
        data["vocab"] = Vocabulary.from_dict(data["vocab"])
        data["tokenizer"] = Tokenizer.from_dict(data["tokenizer"])
        if data.get("target_vocab"):
            data["target_vocab"] = Vocabulary.from_dict(data["target_vocab"])
        if data.get("target_tokenizer"):
            data["target_tokenizer"] = Tokenizer.from_dict(data["target_tokenizer"])
        return cls(**data)
