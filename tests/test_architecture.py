"""The layering of docs/architecture.md holds: import-linter's contracts ([tool.importlinter] in pyproject.toml) pass.

Run by hand with ``lint-imports`` in the repository root; this test calls the same entry point in-process (a few
seconds), so the inner loop (``pytest -m "not e2e"``) keeps it.
"""

from __future__ import annotations

import os

import pytest
from importlinter.cli import lint_imports
from seqlab_testing import REPO

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
