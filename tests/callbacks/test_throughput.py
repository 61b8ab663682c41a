"""ThroughputMonitor: whole training steps timed after the warm-up, validation left out, written to throughput.json."""

from __future__ import annotations

import json

import pytest
from support.runs import TINY, run_dirs


@pytest.mark.parametrize("warmup", [0, 2])
def test_every_step_after_the_warmup_is_counted_across_a_validation(run_seqlab, tmp_path, warmup):
    overrides = TINY  # the step counts below win over debug=tiny's
    done = run_seqlab(*overrides, "trainer.max_steps=6", "trainer.val_check_interval=3", "data.batch_size=4",
                      "data.seq_len=10", f"callbacks.throughput.warmup_steps={warmup}", "callbacks.samples=null",
                      "test=false")
    assert done.returncode == 0, done.stderr[-2000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    figures = json.loads((run / "throughput.json").read_text())
    assert figures["steps"] == 6 - warmup  # the step right after the validation at step 3 included
    assert figures["seconds"] > 0
    # every step holds 4 windows of 10 characters
    assert figures["tokens_per_s"] / figures["steps_per_s"] == pytest.approx(40)
