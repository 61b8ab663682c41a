"""The ``seqlab`` command: a dispatcher, nothing else. The work lives in the modules the verbs name.

``seqlab`` / ``seqlab train`` / ``python -m seqlab``  train (overrides as Hydra takes them)
``seqlab generate|score|report|plugins``              the same as ``python -m seqlab.<verb>``
"""

from __future__ import annotations

import importlib
import sys

#: verb → module whose ``main(argv)`` runs it (imported only when chosen, so start-up stays light)
VERBS = {
    "train": "seqlab.config",
    "generate": "seqlab.generate",
    "score": "seqlab.score",
    "report": "seqlab.report",
    "plugins": "seqlab.plugins",
}


def main() -> None:
    argv = sys.argv[1:]
    verb = argv[0] if argv[:1] and argv[0] in VERBS else "train"
    rest = argv[1:] if argv[:1] == [verb] else argv
    if verb != "train":
        sys.argv = [f"{sys.argv[0]} {verb}", *rest]  # usage lines name the verb
    importlib.import_module(VERBS[verb]).main(rest)
