"""Small local copies of hub datasets, laid out file for file as their repositories on the Hugging Face hub, so the
presets run offline through the same ``datasets.load_dataset`` code path as the real corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPLITS = ("train", "validation", "test")


def write_parquet(path: Path, columns: dict[str, list], features: Any = None) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))


def wikitext_copy(root: Path, lines: dict[str, list[str]]) -> Path:
    """``Salesforce/wikitext``: ``wikitext-2-v1/<split>-00000-of-00001.parquet``, column ``text``, one row per line
    of the original ``wiki.<split>.tokens`` (its newline kept; a blank line is an empty row)."""
    for split in SPLITS:
        rows = [f"{line}\n" if line else "" for line in lines[split]]
        write_parquet(root / "wikitext-2-v1" / f"{split}-00000-of-00001.parquet", {"text": rows})
    return root


def ptb_copy(root: Path, lines: dict[str, list[str]]) -> Path:
    """``ptb-text-only/ptb_text_only`` (its parquet export): ``penn_treebank/<split>/0000.parquet``, column
    ``sentence``, one row per line of ``ptb.<split>.txt``."""
    for split in SPLITS:
        write_parquet(root / "penn_treebank" / split / "0000.parquet", {"sentence": lines[split]})
    return root


def tweet_eval_copy(root: Path, rows: dict[str, list[tuple[str, int]]]) -> Path:
    """``cardiffnlp/tweet_eval``: ``sentiment/<split>-00000-of-00001.parquet``, columns ``text`` and ``label``
    (a ``ClassLabel``: 0 negative, 1 neutral, 2 positive)."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "neutral", "positive"])}
    )
    for split in SPLITS:
        columns = {"text": [t for t, _ in rows[split]], "label": [label for _, label in rows[split]]}
        write_parquet(root / "sentiment" / f"{split}-00000-of-00001.parquet", columns, features)
    return root
