"""``seqlab predict ckpt_path=PATH text=TEXT`` (or ``file=FILE``) — what a trained model says about new inputs.

Works from the checkpoint alone, like ``seqlab generate``, for every task:

- classification (many_to_one): the label and its probability (all classes' probabilities in JSONL/CSV);
- tagging: one tag per token (``word/TAG``);
- regression: the value — for models of real-valued steps (``data=adding``) a line holds the steps separated by
  spaces, each step's features by commas (``0.3,0 0.9,1 0.1,0 0.5,1``);
- translation (seq2seq): the translation, decoded greedily or by beam search (the model's ``model.head.beam_size``,
  or ``beam_size=N``); sampled only when ``temperature`` > 0 is given;
- language models: the greedy continuation of each line; conditional generation (one_to_many): a sequence for the
  class each line names.

``file=FILE`` reads one input per line (UTF-8), or the ``column`` (default ``text``) of a ``.csv``/``.tsv`` file with
a header. An empty line (or cell, or a line with no tokens) gets an empty prediction in its place, so output line i
answers input line i. Output: a table on stdout, or ``output=FILE.jsonl`` / ``FILE.csv``. Inputs are prepared as
the training data was (the tweet normaliser of ``data=tweets``, lower-casing, ``data.max_length``). Word-level text
is joined as it reads (:mod:`seqlab.readable`).
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import sys
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
#: the widest a text column of the stdout table gets (longer texts end in …)
TABLE_TEXT_WIDTH = 60


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
    from omegaconf import OmegaConf

    from seqlab.commands import parse_options
    from seqlab.registry import ConfigError

    given = OmegaConf.from_dotlist([a for a in args if "=" in a])
    if "text" in given and not str(given.text or "").strip():
        raise ConfigError(f'text is empty: give the text to predict for, text="..."; {USAGE}')
    options = parse_options(PredictOptions, args, USAGE)
    if (options.text is None) == (options.file is None):
        raise ConfigError(f"give one input: text=TEXT or file=FILE; {USAGE}")
    if options.batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {options.batch_size}")
    if options.max_length is not None and options.max_length < 1:
        raise ConfigError(f"max_length must be at least 1, got {options.max_length}")
    if options.beam_size is not None and options.beam_size < 1:
        raise ConfigError(f"beam_size must be at least 1, got {options.beam_size}")
    if options.temperature < 0:
        raise ConfigError(f"temperature must be >= 0 (0 decodes greedily), got {options.temperature}")
    if options.output is not None and Path(options.output).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"output={options.output}: write a .jsonl or a .csv file")
    if options.column is not None and (options.file is None or Path(options.file).suffix.lower()
                                       not in TABLE_SUFFIXES):
        raise ConfigError(f"column={options.column}: only .csv and .tsv files have columns")
    return options


# -- inputs ----------------------------------------------------------------------------------------------------------
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
    """How the training data turned raw text into what was tokenized: the tweet normaliser for ``data=tweets``
    (with the run's options), else nothing."""
    data = (config or {}).get("data") or {}
    if data.get("name") == "tweets":
        from seqlab.data.tweets import TweetNormalizer

        accepted = inspect.signature(TweetNormalizer).parameters
        return TweetNormalizer(**{k: v for k, v in data.items() if k in accepted})
    return lambda text: text


# -- predictions -----------------------------------------------------------------------------------------------------
class Predictor:
    """Turns inputs into prediction rows (dicts) with a loaded module; :meth:`empty` is the row of an empty input."""

    #: the fields of a row besides ``input``
    fields: tuple[str, ...] = ()

    def __init__(self, module: Any, options: PredictOptions):
        self.module, self.model, self.spec, self.options = module, module.model, module.model.spec, options
        config = dict(getattr(module, "hparams", {}).get("config") or {})
        self.prepare = input_preparation(config)
        max_length = (config.get("data") or {}).get("max_length")
        self.max_tokens = max_length if isinstance(max_length, int) and max_length > 0 else None

    def ids(self, line: Line) -> list[int]:
        ids = self.spec.encode(self.prepare(line.text))
        return ids[: self.max_tokens] if self.max_tokens else ids

    def empty(self, line: Line) -> dict[str, Any]:
        return {"input": line.text, **dict.fromkeys(self.fields)}

    def predict(self, lines: list[Line]) -> list[dict[str, Any]]:
        """Rows in input order; lines without tokens get :meth:`empty` rows."""
        rows: list[dict[str, Any] | None] = [None] * len(lines)
        todo = []
        for i, line in enumerate(lines):
            if line.text.strip() and self.ids(line):
                todo.append(i)
            else:
                rows[i] = self.empty(line)
        size = self.options.batch_size
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            for i, row in zip(chunk, self.predict_batch([lines[i] for i in chunk])):
                rows[i] = {"input": lines[i].text, **row}
        return [row for row in rows if row is not None]

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def forward(self, lines: list[Line]) -> tuple[Any, list[list[int]]]:
        """The model's output for a padded batch of the lines' ids, and the ids."""
        import torch

        ids = [self.ids(line) for line in lines]
        lengths = torch.tensor([len(i) for i in ids])
        inputs = torch.full((len(ids), int(lengths.max())), self.spec.pad_id)
        for row, line_ids in enumerate(ids):
            inputs[row, : len(line_ids)] = torch.tensor(line_ids)
        with torch.no_grad():
            return self.model({"inputs": inputs, "lengths": lengths}), ids

    def table(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        """The stdout table's columns: (header, one cell per row)."""
        return [("input", [r["input"] for r in rows]),
                *((f, ["" if r[f] is None else str(r[f]) for r in rows]) for f in self.fields)]


class LabelPredictor(Predictor):
    """many_to_one: the most probable class and its probability; ``probabilities`` of every class."""

    fields = ("label", "probability", "probabilities")

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        import torch

        out, _ = self.forward(lines)
        probabilities = torch.softmax(out["logits"].float(), dim=-1)
        classes = self.spec.classes
        rows = []
        for p in probabilities.tolist():
            best = max(range(len(p)), key=p.__getitem__)
            rows.append({"label": classes[best], "probability": round(p[best], 6),
                         "probabilities": {c: round(v, 6) for c, v in zip(classes, p)}})
        return rows

    def table(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        return [("input", [r["input"] for r in rows]),
                ("label", [r["label"] or "" for r in rows]),
                ("probability", ["" if r["probability"] is None else f"{r['probability']:.4f}" for r in rows])]


class TagPredictor(Predictor):
    """tagging: one tag per token (special tokens are never predicted)."""

    fields = ("tokens", "tags")

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.data.vocab import SPECIALS

        out, ids = self.forward(lines)
        logits = out["logits"].float()
        names = self.spec.target_vocab.itos if self.spec.target_vocab is not None else self.spec.classes
        if self.spec.target_vocab is not None:
            logits[..., : len(SPECIALS)] = float("-inf")
        best = logits.argmax(-1).tolist()
        rows = []
        for line, line_ids, tags in zip(lines, ids, best):
            tokens = self.shown_tokens(line)[: len(line_ids)]
            rows.append({"tokens": tokens, "tags": [names[t] for t in tags[: len(tokens)]]})
        return rows

    def shown_tokens(self, line: Line) -> list[str]:
        """The tokens as the user wrote them (word models: the words, not lower-cased)."""
        prepared = self.prepare(line.text)
        if self.spec.tokenizer.kind == "word":
            return prepared.split()
        return self.spec.tokenizer.tokenize(prepared)

    def table(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        tagged = [" ".join(f"{w}/{t}" for w, t in zip(r["tokens"], r["tags"])) if r["tags"] else "" for r in rows]
        return [("input", [r["input"] for r in rows]), ("tags", tagged)]


class ValuePredictor(Predictor):
    """regression: one number per input (token ids, or real-valued steps ``v,m v,m …``)."""

    fields = ("value",)

    def ids(self, line: Line) -> list[int]:
        if self.spec.input_features:
            return [0] * len(line.text.split())  # one place per step; the values are read by :meth:`steps`
        return super().ids(line)

    def steps(self, line: Line) -> list[list[float]]:
        from seqlab.errors import DataError

        features = self.spec.input_features
        steps = []
        for position, step in enumerate(line.text.split(), start=1):
            values = step.split(",")
            try:
                numbers = [float(v) for v in values]
            except ValueError:
                numbers = []
            if len(numbers) != features:
                raise DataError(f"line {line.number}: step {position} is '{step}'; the model reads {features} "
                                f"comma-separated numbers per step, steps separated by spaces (e.g. "
                                f"{' '.join([','.join(['0.5'] * features)] * 3)})")
            steps.append(numbers)
        return steps

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        import torch

        if not self.spec.input_features:
            out, _ = self.forward(lines)
        else:
            steps = [self.steps(line) for line in lines]
            lengths = torch.tensor([len(s) for s in steps])
            inputs = torch.zeros(len(steps), int(lengths.max()), self.spec.input_features)
            for row, values in enumerate(steps):
                inputs[row, : len(values)] = torch.tensor(values)
            with torch.no_grad():
                out = self.model({"inputs": inputs, "lengths": lengths})
        return [{"value": round(v, 6)} for v in out["logits"].float().reshape(-1).tolist()]


class TranslationPredictor(Predictor):
    """seq2seq: the translation (greedy, beam search, or sampled when ``temperature`` > 0)."""

    fields = ("translation",)

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.readable import join_tokens

        sources = [self.ids(line) for line in lines]
        options = self.options
        beam_size = 1 if options.temperature > 0 else options.beam_size
        max_length = options.max_length or 2 * max(len(s) for s in sources) + 10
        outputs = self.model.head.generate(self.model, source=sources, num_samples=1, max_length=max_length,
                                           temperature=options.temperature, top_k=options.top_k, seed=options.seed,
                                           beam_size=beam_size)
        vocab = self.spec.target_vocab or self.spec.vocab
        tokenizer = self.spec.target_tokenizer or self.spec.tokenizer
        return [{"translation": join_tokens(vocab.decode(ids), tokenizer)} for ids in outputs]


class ContinuationPredictor(Predictor):
    """Language models: each line continued (greedy unless ``temperature`` > 0), up to ``max_length`` tokens."""

    fields = ("continuation",)

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.readable import continue_text

        rows = []
        for line in lines:
            ids = self.model.head.generate(self.model, prompt=self.ids(line), num_samples=1,
                                           max_length=self.options.max_length or 50,
                                           temperature=self.options.temperature, top_k=self.options.top_k,
                                           seed=self.options.seed)[0]
            rows.append({"continuation": continue_text(line.text, self.spec.vocab.decode(ids), self.spec.tokenizer)})
        return rows


class ConditionPredictor(Predictor):
    """one_to_many: a sequence of the class each line names."""

    fields = ("output",)

    def ids(self, line: Line) -> list[int]:
        return [0] if line.text.strip() else []

    def predict_batch(self, lines: list[Line]) -> list[dict[str, Any]]:
        from seqlab.readable import join_tokens
        from seqlab.registry import ConfigError

        rows = []
        for line in lines:
            try:
                ids = self.model.head.generate(self.model, condition=line.text.strip(), num_samples=1,
                                               max_length=self.options.max_length or 300,
                                               temperature=self.options.temperature, top_k=self.options.top_k,
                                               seed=self.options.seed)[0]
            except ConfigError as err:
                raise ConfigError(f"line {line.number}: {err}; each line names a class: "
                                  f"{', '.join(self.spec.classes)}") from None
            rows.append({"output": join_tokens(self.spec.vocab.decode(ids), self.spec.tokenizer)})
        return rows


#: task → what predicts it
PREDICTORS: dict[str, type[Predictor]] = {
    "classification": LabelPredictor,
    "tagging": TagPredictor,
    "regression": ValuePredictor,
    "translation": TranslationPredictor,
    "language_model": ContinuationPredictor,
    "conditional_generation": ConditionPredictor,
}


def predictor_for(module: Any, options: PredictOptions) -> Predictor:
    from seqlab.registry import ConfigError

    task = module.model.spec.task
    if task not in PREDICTORS:
        raise ConfigError(f"ckpt_path={options.ckpt_path}: seqlab predict does not know task '{task}'")
    return PREDICTORS[task](module, options)


def predict(options: PredictOptions) -> tuple[Predictor, list[dict[str, Any]]]:
    """Read the inputs, load the checkpoint, and predict: ``(predictor, one row per input, in order)``."""
    from seqlab.models.builder import load_module
    from seqlab.plugins import load_plugins

    lines = read_inputs(options)  # a bad file fails before the checkpoint is loaded
    load_plugins()
    module = load_module(options.ckpt_path)
    predictor = predictor_for(module, options)
    return predictor, predictor.predict(lines)


# -- output ----------------------------------------------------------------------------------------------------------
def format_table(columns: list[tuple[str, list[str]]]) -> str:
    """Columns of text as an aligned table; text columns but the last are cut at :data:`TABLE_TEXT_WIDTH`."""

    def cell(text: str, width: int | None) -> str:
        text = " ".join(str(text).split())
        return text if width is None or len(text) <= width else text[: width - 1] + "…"

    cut = [(header, [cell(v, None if i == len(columns) - 1 else TABLE_TEXT_WIDTH) for v in values])
           for i, (header, values) in enumerate(columns)]
    widths = [max([len(header), *(len(v) for v in values)]) for header, values in cut]
    lines = ["  ".join(h.ljust(w) for (h, _), w in zip(cut, widths)).rstrip()]
    for row in zip(*(values for _, values in cut)):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


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


if __name__ == "__main__":
    main()
