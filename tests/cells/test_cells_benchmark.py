"""benchmarks/cells.py runs end to end and writes the documented JSON keys (tiny settings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_benchmark_writes_one_entry_per_cell_path_and_hidden_size(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--hidden", "8", "--reps", "1", "--cells", "lstm", "mingru", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.cells", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    expected = {"lstm[fused]", "lstm[structured]", "lstm[step]", "mingru[structured]", "mingru[step]", "mingru[scan]"}
    assert {f"{name}@8" for name in expected | {"lstmcell_loop"}} <= set(data)
    assert all(entry["ms"] > 0 and entry["ratio_to_nn_lstm"] > 0 for entry in data.values())
    assert "lstm[structured]" in result.stdout
