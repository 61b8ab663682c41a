"""``seqlab predict ckpt_path=PATH text=TEXT`` (or ``file=FILE``) — what a trained model says about new inputs.

From the checkpoint alone, for every task (:mod:`~seqlab.predict.predictors`). ``file=FILE`` reads one input per
line, or a .csv/.tsv ``column``; output line i answers input line i, in a table or ``output=FILE.jsonl``/``.csv``.
"""

from seqlab.predict.command import main, predict
from seqlab.predict.inputs import PredictOptions, parse

__all__ = ["PredictOptions", "main", "parse", "predict"]
