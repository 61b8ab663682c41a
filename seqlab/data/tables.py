"""Reading tabular sources (CSV, TSV, JSON lines) with line numbers, for clear errors and skip counts."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqlab.data.sources import read_text
from seqlab.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".json", ".ndjson")
#: ``malformed(where, reason, what)``: the datamodule's count of a line that cannot be read
Malformed = Callable[[str, str, str], None]
#: ``(line number, record)`` per row, and the column names seen
Records = tuple[list[tuple[int, dict[str, Any]]], list[str]]


def read_records(path: Path, malformed: Malformed, positional: tuple[str, ...] = ()) -> Records:
    """Rows of a CSV/TSV/JSON-lines file as ``(line number, record)``, and the column names seen.

    CSV/TSV: the first row is the header, unless it lacks one of the ``positional`` names (then ``positional[i]`` is
    column i). JSON lines: one object per line. A line that cannot be read goes to ``malformed``.
    """
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_json_lines(path, text, malformed)
    if suffix not in (".csv", ".tsv", ".tab"):
        raise DataError(f"{path}: unsupported file type '{suffix}'; use one of {', '.join(TABLE_SUFFIXES)}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="," if suffix == ".csv" else "\t")
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num}: not valid {suffix[1:].upper()} ({err})") from None
    if not rows:
        raise DataError(f"{path}: the file is empty")
    first = [cell.strip() for cell in rows[0][1]]
    if positional and not all(c in first for c in positional):
        names, body = list(positional), rows
    else:
        names, body = first, rows[1:]
    records = []
    for line, row in body:
        # A row with more fields than the header holds a delimiter inside a field; its columns cannot be told
        # apart, so it is as malformed as a short one. Empty trailing fields (a delimiter at the end) shift nothing.
        if len(row) < len(names) or any(cell.strip() for cell in row[len(names) :]):
            malformed(f"{path}:{line}", f"{len(row)} columns, expected {len(names)}", "lines")
            continue
        records.append((line, dict(zip(names, row))))
    return records, names


def read_json_lines(path: Path, text: str, malformed: Malformed) -> Records:
    records: list[tuple[int, dict[str, Any]]] = []
    names: dict[str, None] = {}
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            malformed(f"{path}:{line}", f"not valid JSON ({err.msg})", "lines")
            continue
        if not isinstance(record, dict):
            malformed(f"{path}:{line}", "not a JSON object", "lines")
            continue
        names.update(dict.fromkeys(record))
        records.append((line, record))
    return records, list(names)
