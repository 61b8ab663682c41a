"""``trainer=gpu`` and ``trainer=ddp`` (one process on one GPU) run a short experiment end to end through the CLI.

On the CPU dry run the same configs run with ``trainer.accelerator=cpu`` (and the DDP strategy over one CPU process),
which checks the commands and what they write, not CUDA.
"""

from __future__ import annotations

import json
import math

import pytest
from gpu_helpers import needs_device, on_cuda
from support.runs import TINY, run_dirs

pytestmark = [*needs_device, pytest.mark.e2e]

ON_CPU = [] if on_cuda() else ["trainer.accelerator=cpu"]


@pytest.mark.parametrize(
    "trainer",
    [
        ["trainer=gpu", "trainer.precision=bf16-mixed", "callbacks.gradient_flow.every_n_steps=2"],
        ["trainer=ddp", "trainer.devices=1"],
    ],
    ids=["gpu-bf16-mixed", "ddp-one-device"],
)
def test_a_short_experiment_runs_end_to_end_on_the_device(trainer, run_seqlab, tmp_path):
    result = run_seqlab(*trainer, *ON_CPU, *TINY, "trainer.max_steps=4", "callbacks.throughput.warmup_steps=1",
                        "callbacks.gradient_flow.plots=true")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "char_rnn")
    if on_cuda():  # Lightning's info line is in the run's full log (the console is quiet)
        assert "GPU available: True (cuda), used: True" in (run / "config.log").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["val/loss"]) and math.isfinite(metrics["test/loss"])
    assert json.loads((run / "throughput.json").read_text())["tokens_per_s"] > 0
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert sorted((run / "gradient_flow").glob("*.png")), "the gradient-flow callback plotted"
