"""Batching shared by the datamodules: padding collates, a length-bucketed batch sampler, BPTT streams."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DistributedSampler, IterableDataset, Sampler


def column_array(dataset: Any, column: str) -> np.ndarray:
    """One column of an Arrow dataset as a numpy array, read straight from Arrow (no per-row Python)."""
    return dataset.data.column(column).to_numpy()


def flat_ids(dataset: Any) -> np.ndarray:
    """The ``ids`` lists of all rows of an Arrow dataset, concatenated (no Python loop)."""
    column = dataset.with_format("arrow")["ids"]
    return column.combine_chunks().flatten().to_numpy().astype(np.int32) if len(column) else np.zeros(0, np.int32)


def pad_batch(sequences: Sequence[Sequence[int] | np.ndarray], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into ``ids (B, T_max)`` (int64) and return ``lengths (B,)``.

    >>> ids, lengths = pad_batch([[5, 6, 7], [8]])
    >>> ids.tolist(), lengths.tolist()
    ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    out = torch.full((len(sequences), int(lengths.max()) if len(sequences) else 0), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.from_numpy(np.array(seq, dtype=np.int64))
    return out, lengths


def collate_language_model(examples: list[dict[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows ``ids = <bos> … <eos>`` → ``inputs (B, T)`` (without the last id), ``targets (B, T)`` (without the
    first), ``lengths (B,)``; padding never counts."""
    inputs, lengths = pad_batch([e["ids"][:-1] for e in examples], pad_id)
    targets, _ = pad_batch([e["ids"][1:] for e in examples], pad_id)
    return {"inputs": inputs, "targets": targets, "lengths": lengths}


def collate_classification(examples: list[dict[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows ``ids``, ``label`` → ``inputs (B, T)``, ``lengths (B,)``, ``targets (B,)``."""
    ids, lengths = pad_batch([e["ids"] for e in examples], pad_id)
    labels = torch.tensor([int(e["label"]) for e in examples], dtype=torch.long)
    return {"inputs": ids, "lengths": lengths, "targets": labels}


def collate_conditional(examples: list[dict[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows ``ids = <bos> … <eos>``, ``label`` → language-model keys plus ``condition (B,)``."""
    batch = collate_language_model(examples, pad_id)
    batch["condition"] = torch.tensor([int(e["label"]) for e in examples], dtype=torch.long)
    return batch


def collate_translation(examples: list[dict[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows ``src``, ``tgt = <bos> … <eos>`` → ``inputs (B, S)``, ``lengths (B,)``, ``targets_in (B, T)``
    (``<bos>`` + target), ``targets (B, T)`` (target + ``<eos>``), ``target_lengths (B,)``."""
    inputs, lengths = pad_batch([e["src"] for e in examples], pad_id)
    targets_in, target_lengths = pad_batch([e["tgt"][:-1] for e in examples], pad_id)
    targets, _ = pad_batch([e["tgt"][1:] for e in examples], pad_id)
    return {
        "inputs": inputs,
        "lengths": lengths,
        "targets_in": targets_in,
        "targets": targets,
        "target_lengths": target_lengths,
    }


class BucketBatchSampler(BatchSampler):
    """Batches of similar lengths, so little of each batch is padding.

    Each pool of ``batch_size * pool_batches`` indices from ``sampler`` is sorted by ``lengths`` and cut into
    batches; with ``shuffle`` the batch order is shuffled by ``seed`` and the epoch (:meth:`set_epoch`).

    Distributed training: Lightning's ``use_distributed_sampler`` rebuilds this sampler with a ``DistributedSampler``
    as ``sampler``, so each rank buckets its own share. Without it, ``num_replicas`` and ``rank`` deal the batches
    out round-robin, every rank getting the same number.

    >>> from torch.utils.data import SequentialSampler
    >>> lengths = [5, 1, 4, 2]
    >>> list(BucketBatchSampler(SequentialSampler(lengths), 2, lengths, shuffle=False))
    [[1, 3], [2, 0]]
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        lengths: Sequence[int] | np.ndarray,
        drop_last: bool = False,
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        super().__init__(sampler, batch_size, drop_last)
        self.lengths = np.asarray(lengths)
        self.shuffle, self.seed, self.pool_batches = shuffle, seed, pool_batches
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    @property
    def _splits_by_rank(self) -> bool:
        return self.num_replicas > 1 and not isinstance(self.sampler, DistributedSampler)

    def _all_batches(self) -> list[list[int]]:
        indices = np.fromiter(iter(self.sampler), dtype=np.int64)
        pool = self.batch_size * self.pool_batches
        batches: list[list[int]] = []
        for start in range(0, len(indices), pool):
            chunk = indices[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            random.Random(self.seed * 100_003 + self.epoch).shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        if self._splits_by_rank:
            per_rank = math.ceil(len(batches) / self.num_replicas)
            batches = (batches + batches[: per_rank * self.num_replicas - len(batches)])[self.rank :: self.num_replicas]
        return iter(batches)

    def __len__(self) -> int:
        # every full pool makes pool_batches batches; the rest of the indices, one more pool
        full, rest = divmod(len(self.sampler), self.batch_size * self.pool_batches)  # type: ignore[arg-type]
        last = rest // self.batch_size if self.drop_last else math.ceil(rest / self.batch_size)
        count = full * self.pool_batches + last
        return math.ceil(count / self.num_replicas) if self._splits_by_rank else count


class StreamBatches(IterableDataset):
    """One token stream cut into ``batch_size`` parallel streams and BPTT windows (truncated back-propagation).

    The stream is reshaped to ``(num_replicas * batch_size, L)``; this rank keeps its ``batch_size`` rows, and batch
    ``i`` holds columns ``[i*bptt, (i+1)*bptt]``, so row ``b`` of batch ``i+1`` continues row ``b`` of batch ``i``
    (the module carries the recurrent state across). Yields ``inputs (B, bptt)``, ``targets (B, bptt)`` and
    ``lengths (B,)``; use with ``DataLoader(batch_size=None)``. Lightning leaves iterable datasets alone under DDP,
    so the rank split here is the only one.

    >>> batches = list(StreamBatches(np.arange(10), batch_size=2, bptt=2))
    >>> batches[0]["inputs"].tolist(), batches[1]["inputs"].tolist()
    ([[0, 1], [5, 6]], [[2, 3], [7, 8]])
    """

    def __init__(self, ids: np.ndarray, batch_size: int, bptt: int, num_replicas: int = 1, rank: int = 0):
        streams = num_replicas * batch_size
        length = len(ids) // streams
        if length < 2:
            raise ValueError(f"a stream of {len(ids)} tokens is too short for {streams} parallel streams")
        grid = np.asarray(ids[: streams * length], dtype=np.int64).reshape(streams, length)
        self.data = torch.from_numpy(grid[rank * batch_size : (rank + 1) * batch_size].copy())
        self.bptt = bptt

    def __len__(self) -> int:
        return math.ceil((self.data.shape[1] - 1) / self.bptt)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rows, length = self.data.shape
        for start in range(0, length - 1, self.bptt):
            width = min(self.bptt, length - 1 - start)
            yield {
                "inputs": self.data[:, start : start + width],
                "targets": self.data[:, start + 1 : start + 1 + width],
                "lengths": torch.full((rows,), width, dtype=torch.long),
            }
