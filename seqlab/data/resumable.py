"""Data loading that resumes exactly: the shuffle order is a function of (seed, epoch) and the loader's position is
checkpointed, so a run resumed mid-epoch sees the same batches as one never interrupted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler


class EpochSampler(Sampler[int]):
    """Indices ``0..n-1``, shuffled by ``seed + epoch`` (``set_epoch`` is called by Lightning at each epoch) or in
    order. Unlike ``RandomSampler`` it keeps no generator state, so a fresh process reproduces any epoch's order.

    >>> s = EpochSampler(5, seed=1); s.set_epoch(3); a = list(s); s.set_epoch(3); a == list(s)
    True
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` whose position Lightning saves in checkpoints (``state_dict``/``load_state_dict``).

    After ``load_state_dict`` the next pass reads and drops the batches already consumed (any dataset works)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._consumed = 0
        self._skip = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        iterator = super().__iter__()
        skip, self._skip = self._skip, 0
        self._consumed = 0
        for _ in range(skip):
            next(iterator)
            self._consumed += 1
        return self._count(iterator)

    def _count(self, iterator: Iterator[Any]) -> Iterator[Any]:
        for batch in iterator:
            self._consumed += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self._consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._skip = int(state.get("consumed", 0))
