"""The GPU check (benchmarks/gpu/check.sh) cannot rot: its dry run runs every step on the CPU with tiny sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.runs import REPO

CHECK = REPO / "benchmarks" / "gpu" / "check.sh"


def run_check(*args: str, out: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(CHECK), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)


@pytest.mark.e2e
def test_the_dry_run_runs_every_step_and_writes_every_figure(tmp_path):
    result = run_check("--dry-run", out=tmp_path)  # $OUT, as the device tool sets it
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "cells.json",
        "cells_compile.json",
        "check.log",
        "overhead.json",
        "summary.json",
        "tests.xml",
        "throughput.json",
    ]  # ≤ 8 files: the device tool returns at most 8
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dry_run"] is True and summary["machine"]["device"] == "cpu"
    assert [s["step"] for s in summary["steps"]] == [
        "environment",
        "tests",
        "bench_cells",
        "bench_overhead",
        "bench_throughput",
        "bench_cells_compile",
    ]
    assert all(s["exit"] == "0" for s in summary["steps"])
    tests = summary["tests"]
    assert tests["tests"] > 50 and tests["failures"] == tests["errors"] == tests["skipped"] == 0
    cells = json.loads((tmp_path / "cells.json").read_text())
    for key in ("lstm[fused]@8", "lstm[structured]@8", "gru[step]@8/bf16-mixed", "mingru[scan]@8/bf16-mixed"):
        assert cells[key]["ms"] > 0 and cells[key]["ratio_to_nn_lstm"] > 0, key
    assert {"gru[structured+compile]@8", "gru[step+compile]@8"} <= set(
        json.loads((tmp_path / "cells_compile.json").read_text())
    )
    overhead = json.loads((tmp_path / "overhead.json").read_text())
    assert overhead["device"] == "cpu" and overhead["ratio"] > 0 and overhead["seqlab_tokens_per_s"] > 0
    throughput = json.loads((tmp_path / "throughput.json").read_text())
    for experiment in ("char_rnn", "word_lm"):
        assert throughput[f"{experiment}/32-true"]["tokens_per_s"] > 0
        assert throughput[f"{experiment}/bf16_over_fp32"] > 0
    assert "== seqlab GPU check: cpu" in result.stdout  # the closing table, what the device tool shows


def test_a_bad_option_is_one_clear_line(tmp_path):
    result = run_check("--fast", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "seqlab: error: check.sh: unknown option '--fast' (options: --dry-run, --help)"
