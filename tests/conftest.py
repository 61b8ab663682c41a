"""Shared fixtures: run the real CLI in a subprocess (helpers live in seqlab_testing.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from seqlab_testing import TINY, cli_env, run_dirs


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One prepared-data cache for the whole session, so each dataset is built once."""
    return tmp_path_factory.mktemp("seqlab-cache")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, cache_dir):
    """One finished run of the default experiment with :data:`seqlab_testing.TINY` settings, shared by every test
    that needs "some run or checkpoint" and does not change it: ``(completed process, run folder)``."""
    root = tmp_path_factory.mktemp("tiny-run")
    result = subprocess.run(
        [sys.executable, "-m", "seqlab", *TINY],
        cwd=root,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(root, "char_rnn")
    return result, run


@pytest.fixture
def run_seqlab(tmp_path, cache_dir):
    """Run ``python -m seqlab <args>`` (or another module) in ``tmp_path``; returns the CompletedProcess."""

    def run(*args: str, module: str = "seqlab", timeout: float = 300, cwd: Path | None = None, env=None):
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=cwd or tmp_path,
            env={**cli_env(cache_dir), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


#: fixtures that start processes (the CLI, pip): a test that uses one, directly or through another fixture, is e2e
PROCESS_FIXTURES = {"run_seqlab", "tiny_run", "lm_checkpoint", "plugin_env"}


def pytest_collection_modifyitems(config, items) -> None:
    """Every test that starts a process through one of :data:`PROCESS_FIXTURES` is end to end: ``pytest -m "not
    e2e"`` (the inner loop) leaves them out. Tests that start processes by other means (a script, pip, a browser)
    carry ``@pytest.mark.e2e`` themselves."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
