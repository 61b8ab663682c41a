"""Shared fixtures: run the real CLI in a subprocess (helpers live in support/runs.py)."""

from __future__ import annotations

import os
from pathlib import Path

# under pytest-xdist each worker is one process of several: one OpenMP thread each, so that `-n 2` on two cores runs
# two threads, not four spinning against each other (set before torch is imported; subprocesses inherit it)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from support.runs import TINY, cli_env, run_dirs  # noqa: E402
from support.warm_python import WarmPython  # noqa: E402


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One prepared-data cache for the whole session, so each dataset is built once."""
    return tmp_path_factory.mktemp("seqlab-cache")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, cache_dir, warm_python):
    """One finished run of the default experiment with :data:`support.runs.TINY` settings, shared by every test
    that needs "some run or checkpoint" and does not change it: ``(completed process, run folder)``."""
    root = tmp_path_factory.mktemp("tiny-run")
    result = warm_python.run("seqlab", TINY, cwd=root, env=cli_env(cache_dir), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(root, "char_rnn")
    return result, run


@pytest.fixture(scope="session")
def warm_python(cache_dir):
    """One warm interpreter per test process: ``python -m`` runs fork from it instead of importing torch, Lightning,
    torchmetrics and datasets again (tests/support/warm_python.py says what is and is not shared)."""
    warm = WarmPython(cli_env(cache_dir))
    yield warm
    warm.close()


@pytest.fixture
def run_seqlab(tmp_path, cache_dir, warm_python):
    """Run ``python -m seqlab <args>`` (or another module) in ``tmp_path`` as its own process; returns the
    CompletedProcess. ``fresh=True``: a new interpreter instead of a fork of the warm one (for what start-up itself
    does, or for two processes that must not share anything)."""

    def run(
        *args: str, module: str = "seqlab", timeout: float = 300, cwd: Path | None = None, env=None, fresh=False
    ):
        env = {**cli_env(cache_dir), **(env or {})}
        return warm_python.run(module, list(args), cwd=cwd or tmp_path, env=env, timeout=timeout, fresh=fresh)

    return run


#: fixtures that start processes (the CLI, pip): a test that uses one, directly or through another fixture, is e2e
PROCESS_FIXTURES = {"run_seqlab", "tiny_run", "lm_checkpoint", "plugin_env", "warm_python"}
#: tests that take minutes, started before everything else
LONGEST_FIRST = ("tests/test_gpu_check.py", "tests/test_chaos.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Every test that starts a process through one of :data:`PROCESS_FIXTURES` is end to end: ``pytest -m "not
    e2e"`` (the inner loop) leaves them out. Tests that start processes by other means (a script, pip, a browser)
    carry ``@pytest.mark.e2e`` themselves."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
    # the longest test first, so that under xdist one worker runs it while the other works through the rest, instead
    # of it starting last and leaving the other worker idle (the GPU check's dry run, the fault schedules: ~150 s each)
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))

