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

Modules: :mod:`~seqlab.predict.inputs` (options and input lines), :mod:`~seqlab.predict.predictors` (one per task),
:mod:`~seqlab.predict.output` (table, JSONL, CSV), :mod:`~seqlab.predict.command` (``main``).
"""

from seqlab.predict.command import main, predict
from seqlab.predict.inputs import PredictOptions, parse

__all__ = ["PredictOptions", "main", "parse", "predict"]
