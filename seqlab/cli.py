"""The ``seqlab`` command: a dispatcher, nothing else. The work lives in the modules the verbs name (:data:`VERBS`)."""

from __future__ import annotations

import difflib
import importlib
import sys

#: verb → module whose ``main(argv)`` runs it (imported only when chosen, so start-up stays light)
VERBS = {
    "train": "seqlab.run.job",
    "generate": "seqlab.generate",
    "score": "seqlab.score",
    "predict": "seqlab.predict",
    "report": "seqlab.report",
    "plugins": "seqlab.plugins",
}
#: one line each for ``seqlab --help``
VERB_HELP = {
    "train": "train a model (the default verb): seqlab [train] [+experiment=NAME] [key=value ...]",
    "generate": "sample from a checkpoint, or translate: seqlab generate ckpt_path=PATH [prompt=TEXT | source=TEXT]",
    "score": "log-probability of a text under a language model: seqlab score ckpt_path=PATH text=TEXT",
    "predict": "labels, tags, values or translations for new inputs: seqlab predict ckpt_path=PATH text=TEXT|file=FILE",
    "report": "an HTML comparison of a sweep's runs (mean ± 95 % interval over seeds): seqlab report SWEEP_DIR",
    "plugins": "list the plugins found and what they register: seqlab plugins",
}
HELP_FLAGS = ("--help", "-h")


def verbs_help() -> str:
    width = max(len(v) for v in VERB_HELP)
    lines = ["usage: seqlab [VERB] [ARGS]", "", "verbs:"]
    lines += [f"  {verb:<{width}}  {text}" for verb, text in VERB_HELP.items()]
    lines += ["", "seqlab VERB --help: a verb's own help (train: the config groups and the composed config)", ""]
    return "\n".join(lines)


def unknown_verb(word: str) -> str | None:
    """The error line for a first argument that is neither a verb nor something Hydra reads (an override has
    ``=``; options start with ``-``), or None."""
    if word in VERBS or "=" in word or word.startswith(("-", "+", "~")):
        return None
    close = difflib.get_close_matches(word, list(VERBS), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"seqlab: error: unknown verb '{word}'; {hint}verbs: {', '.join(VERBS)} (seqlab --help)"


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] and argv[0] in HELP_FLAGS:
        print(verbs_help(), flush=True)  # Hydra's help for training follows
    elif argv[:1]:
        if error := unknown_verb(argv[0]):
            print(error, file=sys.stderr)
            sys.exit(2)
    verb = argv[0] if argv[:1] and argv[0] in VERBS else "train"
    rest = argv[1:] if argv[:1] == [verb] else argv
    if verb != "train":
        sys.argv = [f"{sys.argv[0]} {verb}", *rest]  # usage lines name the verb
    importlib.import_module(VERBS[verb]).main(rest)
