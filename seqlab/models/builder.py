"""The one place a run's config becomes a network: ``model.*`` → embedding, encoder, head → :class:`SequenceModel`,
and (with optimizer and scheduler) → :class:`SequenceLitModule`, from a config or from a checkpoint.

Everything that turns options into modules lives here, so the model classes stay plain containers and each option
is read (and refused when wrong) in one place. The call tree: docs/architecture.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigError
from seqlab.heads.base import Head, HeadContext
from seqlab.models.module import CHECKPOINT_KEY, SequenceLitModule, load_checkpoint
from seqlab.models.sequence_model import SequenceModel
from seqlab.plugins import plugin_requirements, require_plugins
from seqlab.registry import ENCODERS, HEADS
from seqlab.schema import check_node
from seqlab.schema import model as schema
from seqlab.spec import DataSpec

#: the nodes of ``model.*`` that their own config groups fill; the rest is the schema's ``model=default``
PARTS = ("cell", "encoder", "head")

#: the head each data task gets when ``head=auto``
DEFAULT_HEADS = {
    "language_model": "many_to_many",
    "tagging": "many_to_many",
    "classification": "many_to_one",
    "translation": "seq2seq",
    "conditional_generation": "one_to_many",
    "regression": "regression",
}


# -- options -----------------------------------------------------------------------------------------------------------
def refuse(error: str | None) -> None:
    if error:
        raise ConfigError(error)


def model_options(model: dict[str, Any]) -> dict[str, Any]:
    """``config["model"]`` → the options :func:`build_model` takes (what a checkpoint stores as ``model_config``;
    ``pretrained_vectors`` loads later). An unknown key is refused with a did-you-mean (else it would do nothing)."""
    refuse(check_node("model", "default", {k: v for k, v in model.items() if k not in PARTS}, "model"))
    options = {k: v for k, v in model.items() if k != "pretrained_vectors"}
    return {**options, "freeze_embedding": bool(options.get("freeze_embedding", False))}


def check_model(spec: DataSpec, options: dict[str, Any]) -> None:
    """Refuse in one line what breaks the schema (:mod:`seqlab.schema`) of ``model.*``, of the cell, of the encoder
    or of the head (``head=auto`` resolved for the task). Pre-flight checks the same; this holds direct use (tests,
    :func:`load_module`) to it, as the constructors do not check again. A plugin's name is left to its constructor."""
    refuse(check_node("model", "default", {k: v for k, v in options.items() if k not in PARTS}, "model"))
    encoder, head = options["encoder"], options["head"]
    for group, name, node in (
        ("cell", options["cell"].get("name"), options["cell"]),
        ("encoder", encoder.get("name", "recurrent"), encoder),
        ("head", head_name(head, spec), head),
    ):
        refuse(check_node(group, name, node, f"model.{group}"))


# -- the parts ---------------------------------------------------------------------------------------------------------
class OneHot(nn.Module):
    """Fixed one-hot input encoding: ids ``(B, T)`` → ``(B, T, V)``; nothing to train."""

    def __init__(self, vocab_size: int, padding_idx: int = 0):
        super().__init__()
        self.register_buffer("weight", torch.eye(vocab_size), persistent=False)
        self.weight[padding_idx].zero_()

    def forward(self, ids: Tensor) -> Tensor:
        return self.weight[ids]


def build_embedding(kind: str, spec: DataSpec, dim: int, freeze: bool = False) -> tuple[nn.Module, int]:
    """``model.embedding`` → the module that maps ids ``(B, T)`` (or features ``(B, T, F)``) to ``(B, T, size)``, and
    its ``size``: ``learned`` ids → ``dim``; ``onehot`` ids → the vocabulary size; ``linear`` features → ``dim`` by a
    learned linear map; ``identity`` features as they are."""
    features = spec.input_features
    if features and kind not in ("linear", "identity"):
        raise ConfigError(
            f"model.embedding={kind}: the data gives {features} real-valued features per step, not token ids; "
            "use model.embedding=linear or identity"
        )
    if kind in ("linear", "identity") and not features:
        raise ConfigError(f"model.embedding={kind} needs real-valued inputs; the data gives token ids")
    embedding, size = {
        "linear": lambda: (nn.Linear(features, dim), dim),
        "identity": lambda: (nn.Identity(), features),
        "learned": lambda: (nn.Embedding(spec.vocab_size, dim, padding_idx=spec.pad_id), dim),
        "onehot": lambda: (OneHot(spec.vocab_size, spec.pad_id), spec.vocab_size),
    }[kind]()
    for parameter in embedding.parameters() if freeze else ():
        parameter.requires_grad_(False)
    return embedding, size


def build_encoder(options: dict[str, Any], input_size: int, spec: DataSpec, cell: dict[str, Any]) -> nn.Module:
    """``model.encoder`` (``name``, default ``recurrent``) → the registered encoder, by its ``build``."""
    options = dict(options)
    name = options.pop("name", "recurrent")
    try:
        return ENCODERS.get(name).build(input_size, task=spec.task, cell=cell, **options)
    except TypeError as err:
        raise ConfigError(f"model.encoder: encoder '{name}' does not accept these options ({err})") from None


def head_name(options: dict[str, Any], spec: DataSpec) -> str:
    """``model.head.name``; ``auto`` (or none) picks the task's default head (:data:`DEFAULT_HEADS`)."""
    name = options.get("name", "auto")
    return DEFAULT_HEADS[spec.task] if name == "auto" else name


def build_head(options: dict[str, Any], ctx: HeadContext) -> tuple[Head, str]:
    """``model.head`` → the head and its registered name; a head refuses a task it does not serve."""
    name = head_name(options, ctx.spec)
    options = {k: v for k, v in options.items() if k != "name"}
    head_cls = HEADS.get(name)
    if head_cls.tasks and ctx.spec.task not in head_cls.tasks:
        raise ConfigError(
            f"head={name} does not fit the data's task '{ctx.spec.task}'; it serves {', '.join(head_cls.tasks)}"
        )
    try:
        return head_cls(ctx, **options), name
    except TypeError as err:
        raise ConfigError(f"model.head: {name} does not accept these options ({err})") from None


def build_model(
    spec: DataSpec,
    cell: dict[str, Any],
    head: dict[str, Any],
    encoder: dict[str, Any],
    embedding: str = schema.Model.embedding,
    embedding_dim: int = schema.Model.embedding_dim,
    freeze_embedding: bool = schema.Model.freeze_embedding,
    init_range: float | None = schema.Model.init_range,
    embedding_dropout: float = schema.Model.embedding_dropout,
) -> SequenceModel:
    """The network of one run: ``embedding → encoder → head`` (see :class:`SequenceModel` for the options).

    >>> from seqlab.data.vocab import Tokenizer, Vocabulary
    >>> spec = DataSpec("language_model", Vocabulary.build([list("abc")]), Tokenizer("char"))
    >>> model = build_model(spec, {"name": "gru"}, {"name": "auto"}, {"hidden_size": 8}, embedding_dim=4)
    >>> model.head_name, type(model.encoder).__name__, model.options["embedding_dim"]
    ('many_to_many', 'RecurrentEncoder', 4)
    """
    options = {
        "cell": dict(cell),
        "head": dict(head),
        "encoder": dict(encoder),
        "embedding": embedding,
        "embedding_dim": embedding_dim,
        "freeze_embedding": freeze_embedding,
        "init_range": init_range,
        "embedding_dropout": embedding_dropout,
    }
    check_model(spec, options)
    embed, input_size = build_embedding(embedding, spec, embedding_dim, freeze_embedding)
    enc = build_encoder(encoder, input_size, spec, cell)
    ctx = HeadContext(spec, enc.output_size, input_size, cell=dict(cell), encoder=enc.head_options())
    head_module, name = build_head(head, ctx)
    if init_range is not None:
        init_uniform(embed, head_module, init_range)
    return SequenceModel(spec, embed, enc, head_module, name, options)


def init_uniform(embedding: nn.Module, head: Head, init_range: float) -> None:
    """``model.init_range = r``: the learned embedding's weights and the head's ``output_layer()``'s
    ~ U(−r, r), the output bias 0 — pytorch/examples ``word_language_model/model.py`` ``init_weights`` (r = 0.1).
    Zaremba et al. 2014 start *every* parameter in U(−0.1, 0.1) for their small model: the callback
    :class:`~seqlab.experiments.schedules.UniformInit` (``+experiment=word_lm_zaremba_small``). ``null`` keeps
    PyTorch's defaults (``nn.Embedding`` N(0, 1), ``nn.Linear`` U(±1/√fan_in)); why it matters: docs/experiments.md."""
    with torch.no_grad():
        if isinstance(embedding, nn.Embedding):
            nn.init.uniform_(embedding.weight, -init_range, init_range)
            if embedding.padding_idx is not None:  # as nn.Embedding's own init: the padding row stays zero
                embedding.weight[embedding.padding_idx].zero_()
        out = head.output_layer()
        if out is not None:
            nn.init.uniform_(out.weight, -init_range, init_range)
            if out.bias is not None:
                nn.init.zeros_(out.bias)


# -- the LightningModule -----------------------------------------------------------------------------------------------
def make_module(
    spec: DataSpec,
    model_config: dict[str, Any],
    optimizer: dict[str, Any] | None = None,
    scheduler: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> SequenceLitModule:
    """The LightningModule around :func:`build_model`, recording the plugins of its parts for checkpoints."""
    model = build_model(spec, **model_config)
    required = plugin_requirements(
        {
            "cell": model_config["cell"]["name"],
            "head": model.head_name,
            "datamodule": ((config or {}).get("data") or {}).get("name"),
            "encoder": (model_config.get("encoder") or {}).get("name", "recurrent"),
        }
    )
    return SequenceLitModule(model, optimizer, scheduler, config=config, required_plugins=required)


def build_module(config: dict[str, Any], spec: DataSpec) -> SequenceLitModule:
    """A resolved run config and the data's spec → the LightningModule, pretrained vectors loaded if asked for."""
    module = make_module(
        spec,
        model_options(config["model"]),
        optimizer=config.get("optimizer"),
        scheduler=config.get("scheduler") or None,
        config=config,
    )
    if config["model"].get("pretrained_vectors"):
        module.model.load_pretrained_vectors(config["model"]["pretrained_vectors"])
    return module


def load_module(path: str | Path, map_location: str = "cpu") -> SequenceLitModule:
    """Rebuild a trained module from a checkpoint alone, in eval mode; its plugins must be loaded."""
    checkpoint = load_checkpoint(path, map_location)
    meta = checkpoint[CHECKPOINT_KEY]
    require_plugins(meta.get("plugins", []), source=f"ckpt_path={path}")
    module = make_module(
        DataSpec.from_dict(meta["spec"]),
        meta["model_config"],
        config=checkpoint.get("hyper_parameters", {}).get("config"),
    )
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


def check_monitored_metrics(config: dict[str, Any], module: SequenceLitModule) -> None:
    """Refuse, before training, a callback monitoring a metric the head never logs (Lightning would fail later)."""
    names = ["loss", *module.val_metrics]
    logged = {f"val/{name}" for name in [*names, *module.model.head.derived_metrics(dict.fromkeys(names, 1.0))]}
    for name, callback in (config.get("callbacks") or {}).items():
        monitor = (callback or {}).get("monitor") if isinstance(callback, dict) else None
        if monitor and monitor.startswith("val/") and monitor not in logged:
            raise ConfigError(
                f"callbacks.{name}.monitor={monitor}: head {module.model.head_name} logs {', '.join(sorted(logged))}; "
                f"monitor one of them (callbacks.{name}.monitor=val/loss)"
            )
