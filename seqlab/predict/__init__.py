"""``seqlab predict ckpt_path=PATH text=TEXT`` (or ``file=FILE``) — what a trained model says about new inputs.

From the checkpoint alone, like ``seqlab generate``, for every task: a class and its probability, a tag per token, a
value (real-valued steps: ``0.3,0 0.9,1 …``), a translation (greedy, beam search, or sampled when ``temperature`` >
0), a language model's continuation, a sequence of the class a line names. ``file=FILE`` reads one input per line, or
the ``column`` of a .csv/.tsv file; output line i answers input line i (an empty input gets an empty prediction).
Output: a table on stdout, or ``output=FILE.jsonl`` / ``FILE.csv``. More: README ("seqlab predict"), docs/data.md.

Modules: :mod:`~seqlab.predict.inputs` (options and input lines), :mod:`~seqlab.predict.predictors` (one per task),
:mod:`~seqlab.predict.command` (``main``; the table, JSONL or CSV out).
"""

from seqlab.predict.command import main, predict
from seqlab.predict.inputs import PredictOptions, parse

__all__ = ["PredictOptions", "main", "parse", "predict"]
