"""The layering of docs/architecture.md holds: import-linter's contracts ([tool.importlinter] in pyproject.toml) pass.

Run by hand with ``lint-imports`` in the repository root; this test calls the same entry point in-process (a few
seconds), so the inner loop (``pytest -m "not e2e"``) keeps it.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports
from support.runs import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_import_linter_contracts_are_kept(capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # lint-imports reads pyproject.toml from the working directory
    status = lint_imports(no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    broken = report[report.find("Broken contracts") :] if "Broken contracts" in report else report
    assert status == 0, broken
    assert "0 broken" in report and "KEPT" in report


def test_a_forbidden_import_breaks_a_contract(tmp_path, capsys, monkeypatch):
    """The check can fail: a copy of the config with a contract the code breaks (heads do import cells) is refused."""
    config = tmp_path / ".importlinter"
    config.write_text(
        "[importlinter]\nroot_packages =\n    seqlab\n\n[importlinter:contract:probe]\nname = probe\ntype = forbidden\n"
        "source_modules =\n    seqlab.heads\nforbidden_modules =\n    seqlab.cells\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(REPO)
    assert lint_imports(config_filename=os.fspath(config), no_cache=True, no_logo=True) == 1
    assert "seqlab.heads.base -> seqlab.cells.recurrent" in capsys.readouterr().out


def cycle_dodges(package: str, root: Path) -> list[str]:
    """Every function-level ``from <package>... import`` in the package at ``root`` whose target leads back to the
    importer (grimp, import-linter's graph, counting every import statement): a cycle that only the function hides."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    dodges = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        importer = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                imported = inner.module if isinstance(inner, ast.ImportFrom) else None
                if not imported or not imported.startswith(package) or imported == importer:
                    continue
                chain = graph.find_shortest_chain(importer=imported, imported=importer)
                if chain:
                    back = " -> ".join(chain)
                    dodges.append(f"{importer}:{inner.lineno} imports {imported}, which leads back: {back}")
    return dodges


def test_no_function_level_import_dodges_a_cycle():
    """A function-level import stays only for start-up time (``seqlab plugins`` and config errors answer before torch
    loads), never to hide a cycle."""
    assert not cycle_dodges("seqlab", REPO / "seqlab"), "\n".join(cycle_dodges("seqlab", REPO / "seqlab"))


def test_a_cycle_hidden_in_a_function_is_found(tmp_path, monkeypatch):
    package = tmp_path / "dodge"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from dodge.b import helper\n")
    (package / "b.py").write_text("def helper():\n    from dodge.a import helper as again\n    return again\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycle_dodges("dodge", package) == ["dodge.b:2 imports dodge.a, which leads back: dodge.a -> dodge.b"]
