"""Splits: the one table of split names, seeded splitting with duplicates grouped, and the split report."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from seqlab.errors import DataError
from seqlab.paths import write_json

log = logging.getLogger("seqlab.data")

ALL_SPLITS = ("train", "validation", "test")
#: the names sources give their splits (hub split names, file stems such as ``dev.conllu``) → seqlab's
SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation", "dev": "validation", "test": "test"}
#: the run file (and the cache file) that says how the splits were made and how much of val/test occurs in train
SPLITS_FILE = "data_splits.json"


def split_by_seed(
    items: list[Any], fractions: tuple[float, ...], seed: int, key: Callable[[Any], Hashable] | None = None
) -> dict[str, list[Any]]:
    """Assign items to train/validation/test by a seeded shuffle (the same seed, the same split; order kept).

    Items with equal ``key`` (the normalised text) form one group that goes to one split whole, so no validation or
    test example also occurs in train; without duplicates the split is the same as without ``key``.
    """
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item) if key else i, []).append(i)
    members = list(groups.values())
    order = list(range(len(members)))
    random.Random(seed).shuffle(order)
    n_train = round(fractions[0] * len(members))
    n_val = round(fractions[1] * len(members))
    cuts = {"train": order[:n_train], "validation": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {s: [items[i] for i in sorted(i for g in idx for i in members[g])] for s, idx in cuts.items() if idx}


def split_report(keys: dict[str, list[Hashable]], made: tuple[str, ...] = ()) -> dict[str, Any]:
    """How the splits look: ``{"train": N, "val": N, "test": N, "duplicates_grouped": K, "val_overlap": x,
    "test_overlap": y}``.

    ``keys``: each split's normalised texts; ``made``: the splits :func:`split_by_seed` made (the rest came with the
    source). ``K``: examples of those splits kept with a duplicate; ``x``/``y``: share of val/test texts also in
    train (empty texts, a WikiText blank line, not counted).
    """
    train = set(keys.get("train", []))

    def overlap(split: str) -> float:
        texts = [k for k in keys.get(split, []) if k != ""]
        return round(sum(k in train for k in texts) / len(texts), 6) if texts else 0.0

    made_keys = [k for split in made for k in keys.get(split, [])]
    return {
        "train": len(keys.get("train", [])),
        "val": len(keys.get("validation", [])),
        "test": len(keys.get("test", [])),
        "duplicates_grouped": len(made_keys) - len(set(made_keys)),
        "val_overlap": overlap("validation"),
        "test_overlap": overlap("test"),
    }


def save_split_report(recorded: Path, run_dir: Path, sizes: dict[str, int], name: str, source: str) -> dict[str, Any]:
    """Copy the report a build ``recorded`` (or, without one, the split ``sizes``) to ``<run_dir>/data_splits.json``
    and say in one line when val/test texts also occur in train."""
    if recorded.exists():
        report = json.loads(recorded.read_text())
    else:
        report = {"train": sizes.get("train", 0), "val": sizes.get("validation", 0), "test": sizes.get("test", 0)}
        report.update(duplicates_grouped=None, val_overlap=None, test_overlap=None, near_duplicates=None)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / SPLITS_FILE, report, indent=2)
    if report["val_overlap"] or report["test_overlap"]:
        # a built-in corpus's splits are fixed: a note in config.log; a source's own splits: kept (figures on
        # them compare with published ones), so the warning says how to have seqlab split it instead
        builtin = source.startswith("builtin:")
        advice = ("a built-in corpus's fixed splits" if builtin else "the source's own splits, kept as given; "
                  "for splits with duplicates grouped give one file and data.split")
        (log.info if builtin else log.warning)(
            "%s: %.1f %% of the validation and %.1f %% of the test examples of %s also occur in train (%s; see %s)",
            name, 100 * report["val_overlap"], 100 * report["test_overlap"], source, advice, run_dir / SPLITS_FILE,
        )
    return report


def required_splits(source: str, splits: dict[str, Any]) -> None:
    """Training needs a train and a validation split."""
    if not splits.get("train"):
        raise DataError(f"data.source={source}: no training examples")
    if not splits.get("validation"):
        total = sum(len(part) for part in splits.values() if part is not None)
        if total < 3:  # no split fractions can make three non-empty splits from fewer than three examples
            raise DataError(f"data.source={source}: only {total} example(s) in all, too few to split into train, "
                            "validation and test; add more text or give a validation file")
        raise DataError(f"data.source={source}: no validation examples (add a validation file or change data.split)")
