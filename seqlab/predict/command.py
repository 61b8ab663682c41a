"""``seqlab predict``: read the inputs, load the checkpoint, predict, and write a table, a JSONL or a CSV file out."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from seqlab.predict.inputs import PredictOptions, parse, read_inputs
from seqlab.predict.predictors import PREDICTORS, Predictor

#: the widest a text column of the stdout table gets (longer texts end in …)
TABLE_TEXT_WIDTH = 60


def predict(options: PredictOptions) -> tuple[Predictor, list[dict[str, Any]]]:
    """Read the inputs, load the checkpoint, and predict: ``(predictor, one row per input, in order)``."""
    from seqlab.models.builder import load_module
    from seqlab.plugins import load_plugins

    lines = read_inputs(options)  # a bad file fails before the checkpoint is loaded
    load_plugins()
    module = load_module(options.ckpt_path)
    predictor = PREDICTORS[module.model.spec.task](module, options)  # DataSpec accepts only these tasks
    return predictor, predictor.predict(lines)


def format_table(columns: list[tuple[str, list[str]]]) -> str:
    """Columns of text as an aligned table; text columns but the last are cut at :data:`TABLE_TEXT_WIDTH`."""

    def cell(text: str, width: int | None) -> str:
        text = " ".join(str(text).split())
        return text if width is None or len(text) <= width else text[: width - 1] + "…"

    cut = [(header, [cell(v, None if i == len(columns) - 1 else TABLE_TEXT_WIDTH) for v in values])
           for i, (header, values) in enumerate(columns)]
    widths = [max([len(header), *(len(v) for v in values)]) for header, values in cut]
    rows = zip(*([header, *values] for header, values in cut))  # the header row first
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows)


def csv_row(row: dict[str, Any], spread: set[str]) -> dict[str, Any]:
    """A prediction row flattened for CSV: lists joined by spaces, the dicts of ``spread`` fields (``probabilities``)
    as one ``p(<class>)`` column per key (empty cells for an empty input's row)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if key in spread:
            flat.update({f"p({k})": v for k, v in (value or {}).items()})
        elif isinstance(value, list):
            flat[key] = " ".join(str(v) for v in value)
        else:
            flat[key] = "" if value is None else value
    return flat


def write_output(rows: list[dict[str, Any]], path: Path) -> None:
    from seqlab.errors import DataError

    if not path.parent.is_dir():
        raise DataError(f"output={path}: the folder {path.parent} does not exist")
    try:
        if path.suffix.lower() == ".jsonl":
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            return
        spread = {k for r in rows for k, v in r.items() if isinstance(v, dict)}
        flat = [csv_row(r, spread) for r in rows]
        names = list(dict.fromkeys(k for r in flat for k in r))
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=names, restval="")
            writer.writeheader()
            writer.writerows(flat)
    except OSError as err:
        raise DataError(f"output={path}: cannot write it ({err.strerror or err})") from None


def main(argv: list[str] | None = None) -> None:
    from seqlab.commands import run_command

    def body() -> str:
        options = parse(sys.argv[1:] if argv is None else argv)
        predictor, rows = predict(options)
        if options.output is None:
            return format_table(predictor.table(rows))
        path = Path(options.output).expanduser()
        write_output(rows, path)
        return f"seqlab: {len(rows)} prediction{'s' if len(rows) != 1 else ''} written to {path}"

    run_command(body)
