"""Helpers for the datamodule tests: build a datamodule on a private cache and read one batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def prepared(cls: type, cache_dir: Path, **options: Any):
    """A datamodule of ``cls`` prepared and set up on ``cache_dir``."""
    datamodule = cls(cache_dir=str(cache_dir), **options)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def first_batch(datamodule, split: str = "train") -> dict:
    loader = {"train": datamodule.train_dataloader, "validation": datamodule.val_dataloader}[split]()
    return next(iter(loader))


def cache_entries(cache_dir: Path) -> list[str]:
    """Everything in a cache folder, temporary build folders included."""
    return sorted(p.name for p in Path(cache_dir).iterdir()) if Path(cache_dir).exists() else []
