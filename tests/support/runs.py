"""Helpers shared by the tests: the real CLI in a subprocess with tiny, fast settings.

Importable from every test folder (``pythonpath = ["tests"]`` in pyproject.toml): ``from support.runs import TINY``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: overrides that make any experiment a few-second smoke run
TINY = ["debug=tiny"]  # conf/debug/tiny.yaml
#: TINY with the n-gram baseline beside the language model, as every real run has it (debug=tiny leaves it out)
WITH_BASELINE = [*TINY, "callbacks.ngram_baseline={_target_:seqlab.experiments.ngram.NGramBaseline,order:5}"]


#: a tiny model, one validation and one test batch, one sample, CSV only: the base of the run-record and fault
#: schedule tests (which add their own step counts)
SHORT = [
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "logger=csv",
    "model.embedding_dim=8",
    "model.encoder.hidden_size=16",
    "callbacks.samples.max_length=10",
    "callbacks.samples.num_samples=1",
    "callbacks.ngram_baseline=null",
    "callbacks.gradient_flow.plots=false",  # the probes still record; the PNGs cost ~1 s a run
]


def cli_env(cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SEQLAB_CACHE_DIR=str(cache_dir),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        HYDRA_FULL_ERROR="0",
        PYTHONWARNINGS="ignore",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("WANDB_API_KEY", None)
    return env


def run_dirs(root: Path, experiment: str) -> list[Path]:
    """The run folders (holding .hydra/) of an experiment under ``root/outputs``, oldest first."""
    return sorted(p.parent for p in (root / "outputs" / experiment).rglob(".hydra"))


#: headless Chromium as the tests start it (Debian's package; .ci/run installs it): no GPU, no sandbox (root), and no
#: background traffic to a network this machine cannot reach
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def rendered_dom(page: Path, tmp_path: Path, budget_ms: int = 10000) -> str:
    """The page's DOM after its scripts ran, from a real headless Chromium with a fresh profile and no network."""
    result = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
