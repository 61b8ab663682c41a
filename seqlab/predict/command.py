"""``seqlab predict`` / ``python -m seqlab.predict``: read the inputs, load the checkpoint, predict, write."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from seqlab.predict.inputs import PredictOptions, parse, read_inputs
from seqlab.predict.output import format_table, write_output
from seqlab.predict.predictors import Predictor, predictor_for


def predict(options: PredictOptions) -> tuple[Predictor, list[dict[str, Any]]]:
    """Read the inputs, load the checkpoint, and predict: ``(predictor, one row per input, in order)``."""
    from seqlab.models.builder import load_module
    from seqlab.plugins import load_plugins

    lines = read_inputs(options)  # a bad file fails before the checkpoint is loaded
    load_plugins()
    module = load_module(options.ckpt_path)
    predictor = predictor_for(module, options)
    return predictor, predictor.predict(lines)



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

