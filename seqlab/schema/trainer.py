"""The Trainer's options as Lightning defines them: the keyword arguments of ``pytorch_lightning.Trainer``, read from
Lightning's source without importing it (pre-flight runs before torch is loaded)."""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path


@functools.cache
def trainer_options() -> tuple[str, ...]:
    """The names ``Trainer.__init__`` accepts (``max_steps``, ``val_check_interval``, ...)."""
    spec = importlib.util.find_spec("pytorch_lightning")
    if spec is None or not spec.submodule_search_locations:
        return ()
    source = Path(next(iter(spec.submodule_search_locations))) / "trainer" / "trainer.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Trainer":
            init = next(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
            arguments = [*init.args.args, *init.args.kwonlyargs]
            return tuple(a.arg for a in arguments if a.arg != "self")
    return ()
