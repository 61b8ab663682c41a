"""The Trainer's options (and those of the Lightning callbacks seqlab configures) as Lightning defines them: the
keyword arguments of the class, read from Lightning's source without importing it (pre-flight runs before torch)."""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path


def trainer_options() -> tuple[str, ...]:
    """The names ``Trainer.__init__`` accepts (``max_steps``, ``val_check_interval``, ...)."""
    return class_options("trainer/trainer.py", "Trainer")


@functools.cache
def class_options(module_file: str, class_name: str) -> tuple[str, ...]:
    """The keyword arguments of a Lightning class's ``__init__``, from ``pytorch_lightning/<module_file>``."""
    spec = importlib.util.find_spec("pytorch_lightning")
    if spec is None or not spec.submodule_search_locations:
        return ()
    source = Path(next(iter(spec.submodule_search_locations))) / module_file
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            init = next(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
            arguments = [*init.args.args, *init.args.kwonlyargs]
            return tuple(a.arg for a in arguments if a.arg != "self")
    return ()
