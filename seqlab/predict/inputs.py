"""What ``seqlab predict`` is asked: its options and its input lines (``text=``, a text file, a CSV/TSV column)."""

from __future__ import annotations

import csv
import inspect
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USAGE = (
    "usage: python -m seqlab.predict ckpt_path=PATH (text=TEXT | file=FILE [column=NAME]) "
    "[output=FILE.jsonl|FILE.csv] [batch_size=64] [beam_size=N] [temperature=0] [max_length=N] [seed=0]"
)
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
OUTPUT_SUFFIXES = (".jsonl", ".csv")


@dataclass
class PredictOptions:
    ckpt_path: str = "???"
    #: one input
    text: str | None = None
    #: one input per line, or a column of a .csv/.tsv file
    file: str | None = None
    #: the column of a .csv/.tsv file (null: ``text``, or the only column)
    column: str | None = None
    #: write FILE.jsonl or FILE.csv instead of a table on stdout
    output: str | None = None
    batch_size: int = 64
    #: output tokens of translations and continuations (null: 2 × the input + 10 for translations, 50 otherwise)
    max_length: int | None = None
    #: translations: beams (null: the model's model.head.beam_size; 1 is greedy)
    beam_size: int | None = None
    #: 0 decodes greedily (or by beam search); > 0 samples
    temperature: float = 0.0
    top_k: int | None = None
    seed: int = 0


@dataclass
class Line:
    """One input: its line number (1-based; the row for CSV/TSV) and text."""

    number: int
    text: str


def parse(args: list[str]) -> PredictOptions:
    from seqlab.commands import parse_options
    from seqlab.registry import ConfigError

    options = parse_options(PredictOptions, args, USAGE, text_for="to predict for")
    if (options.text is None) == (options.file is None):
        raise ConfigError(f"give one input: text=TEXT or file=FILE; {USAGE}")
    for name in ("batch_size", "max_length", "beam_size"):
        if (value := getattr(options, name)) is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if options.temperature < 0:
        raise ConfigError(f"temperature must be >= 0 (0 decodes greedily), got {options.temperature}")
    if options.output is not None and Path(options.output).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"output={options.output}: write a .jsonl or a .csv file")
    if options.column is not None and (options.file is None or Path(options.file).suffix.lower()
                                       not in TABLE_SUFFIXES):
        raise ConfigError(f"column={options.column}: only .csv and .tsv files have columns")
    return options


def read_inputs(options: PredictOptions) -> list[Line]:
    """The inputs in order: ``text``, or the lines (or the CSV/TSV column) of ``file``; bad files raise one line."""
    from seqlab.errors import DataError

    if options.text is not None:
        return [Line(1, str(options.text))]
    path = Path(str(options.file)).expanduser()
    if not path.exists():
        raise DataError(f"file={path}: no such file")
    if path.is_dir():
        raise DataError(f"file={path}: a folder, not a file (one input per line, or a .csv/.tsv file)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"file={path}: cannot read it ({err.strerror or err})") from None
    if b"\0" in data:
        raise DataError(f"file={path}: not a text file (it holds NUL bytes); give one input per line in UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"file={path}: not UTF-8 text (line {line}, byte {err.start}); save it as UTF-8") from None
    suffix = path.suffix.lower()
    lines = table_column(path, text, TABLE_SUFFIXES[suffix], options.column) if suffix in TABLE_SUFFIXES else [
        Line(number, line) for number, line in enumerate(text.splitlines(), start=1)
    ]
    if not lines:
        raise DataError(f"file={path}: no inputs (one input per line)")
    return lines


def table_column(path: Path, text: str, delimiter: str, column: str | None) -> list[Line]:
    """The column ``column`` (default ``text``, or the only column) of a CSV/TSV file with a header row."""
    from seqlab.errors import DataError

    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as err:
        raise DataError(f"file={path}: not a readable {delimiter!r}-separated table ({err})") from None
    if not rows:
        raise DataError(f"file={path}: empty (a header row and one input per row)")
    header = [name.strip() for name in rows[0]]
    if column is None:
        column = "text" if "text" in header or len(header) != 1 else header[0]
    if column not in header:
        raise DataError(f"file={path}: no column '{column}'; its columns are {', '.join(header) or 'none'}; choose "
                        "one with column=NAME")
    index = header.index(column)
    return [Line(number, row[index] if index < len(row) else "") for number, row in enumerate(rows[1:], start=2)]


def input_preparation(config: dict[str, Any] | None) -> Callable[[str], str]:
    """How the training data prepared raw text: the tweet normaliser for ``data=tweets`` (run options), or none."""
    data = (config or {}).get("data") or {}
    if data.get("name") == "tweets":
        from seqlab.data.tweets import TweetNormalizer

        accepted = inspect.signature(TweetNormalizer).parameters
        return TweetNormalizer(**{k: v for k, v in data.items() if k in accepted})
    return lambda text: text
