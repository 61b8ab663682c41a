"""``seqlab predict ckpt_path=PATH text=TEXT`` (or ``file=FILE``) — what a trained model says about new inputs.

From the checkpoint alone, for every task (:mod:`~seqlab.predict.predictors`). ``file=FILE`` reads one input per
line, or the ``column`` of a .csv/.tsv file; output line i answers input line i (an empty input gets an empty
prediction). Output: a table on stdout, or ``output=FILE.jsonl`` / ``FILE.csv``. More: README ("seqlab predict").
"""

from seqlab.predict.command import main, predict
from seqlab.predict.inputs import PredictOptions, parse

__all__ = ["PredictOptions", "main", "parse", "predict"]
