"""``encoder=recurrent`` (the default): ``model.cell`` run by :class:`~seqlab.cells.Recurrent`, built like others."""

from __future__ import annotations

from typing import Any

from seqlab.cells.recurrent import Recurrent
from seqlab.schema import model as schema


class RecurrentEncoder(Recurrent):
    """:class:`~seqlab.cells.Recurrent` with the builder's constructor (:meth:`build`) and the options heads read
    (:meth:`head_options`). Nothing else differs: same parameters, same state-dict keys, same paths."""

    @classmethod
    def build(cls, input_size: int, *, task: str, cell: dict[str, Any], **options: Any) -> RecurrentEncoder:
        """``model.encoder`` options and ``model.cell`` (``{"name": ..., **cell options}``) → the encoder. ``task``
        is not checked here: a head that reads left to right refuses a bidirectional encoder with its own message."""
        cell = dict(cell)
        hidden_size = options.pop("hidden_size", schema.Recurrent.hidden_size)
        return cls(cell.pop("name"), input_size, hidden_size, **options, **cell)

    def head_options(self) -> dict[str, Any]:
        """What :class:`~seqlab.heads.HeadContext` calls ``encoder``: the options a decoder of the same kind needs."""
        return {
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.num_directions == 2,
            "dropout": self.dropout,
            "path": self.path,
            "compile": self.compile,
        }
