"""The adding problem (Le, Jaitly & Hinton 2015; after Hochreiter & Schmidhuber 1997): a long-range memory test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.base import DataSpec, SeqDataModule
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
from seqlab.errors import DataError
from seqlab.schema import data as schema

#: mean squared error of always predicting 1 (the sum of two U[0, 1] values has variance 2/12)
CONSTANT_BASELINE_MSE = 1 / 6


def adding_examples(count: int, seq_len: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``count`` sequences: ``values (N, T)`` uniform in [0, 1), ``markers (N, T)`` with one 1 in each half (as in
    Le et al. 2015), and ``target (N,)``, the sum of the two marked values."""
    values = rng.random((count, seq_len), dtype=np.float32)
    half = seq_len // 2
    first = rng.integers(0, half, size=count)
    second = rng.integers(half, seq_len, size=count)
    markers = np.zeros((count, seq_len), dtype=np.float32)
    rows = np.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return {"values": values, "markers": markers, "target": target.astype(np.float32)}


class AddingDataModule(SeqDataModule):
    """The adding problem (``data=adding``; task ``regression``, head ``regression``).

    The examples are :func:`adding_examples`, generated from ``seed``. Predicting 1 whatever the input scores
    ≈ 0.167 (:data:`CONSTANT_BASELINE_MSE`); a model that carries the first marked value across the sequence gets
    near 0. Batches: ``inputs (B, T, 2)`` float (value, marker), ``lengths (B,)`` (all ``T``), ``targets (B,)``
    float; ``input_features = 2``, for ``model.embedding=identity`` (the paper's setup) or ``linear``.

    >>> dm = AddingDataModule(seq_len=6, num_train=4, num_val=2, num_test=2, cache_dir="/tmp/seqlab-doctest")
    >>> dm.setup("fit")
    >>> batch = next(iter(dm.train_dataloader()))
    >>> tuple(batch["inputs"].shape), int(batch["inputs"][0, :, 1].sum())
    ((4, 6, 2), 2)
    >>> bool(torch.allclose((batch["inputs"][..., 0] * batch["inputs"][..., 1]).sum(1), batch["targets"]))
    True
    """

    name = "adding"

    def __init__(
        self,
        source: str = schema.Adding.source,
        seq_len: int = schema.Adding.seq_len,
        num_train: int = schema.Adding.num_train,
        num_val: int = schema.Adding.num_val,
        num_test: int = schema.Adding.num_test,
        **kwargs: Any,
    ):
        super().__init__(source=source, **kwargs)
        if self.source != "builtin:adding":
            raise DataError(f"data.source: the adding problem is generated; use builtin:adding, not '{self.source}'")
        self.seq_len = seq_len
        self.sizes = {"train": num_train, "validation": num_val, "test": num_test}

    def build(self, out_dir: Path) -> None:
        import datasets

        rng = np.random.default_rng(self.seed)
        keys: dict[str, list[bytes]] = {}
        for split, count in self.sizes.items():
            columns = adding_examples(count, self.seq_len, rng)
            self.write_split(out_dir, split, datasets.Dataset.from_dict({k: list(v) for k, v in columns.items()}))
            # an example's identity: its values and markers, exactly (the splits are drawn apart, not split)
            keys[split] = [v.tobytes() + m.tobytes() for v, m in zip(columns["values"], columns["markers"])]
        self.write_split_report(out_dir, keys, ())
        spec = DataSpec(
            task="regression",
            vocab=Vocabulary(SPECIALS),
            tokenizer=Tokenizer(),
            input_features=2,
        )
        self.write_spec(out_dir, spec)

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        values = torch.from_numpy(np.stack([e["values"] for e in examples]))
        markers = torch.from_numpy(np.stack([e["markers"] for e in examples]))
        return {
            "inputs": torch.stack([values, markers], dim=-1),
            "lengths": torch.full((len(examples),), values.shape[1], dtype=torch.long),
            "targets": torch.tensor(np.array([e["target"] for e in examples]), dtype=torch.float32),
        }
