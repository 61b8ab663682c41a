"""Reliability: interrupts and resume, non-finite guards, validation before work, safe checkpoints, determinism."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from support.runs import TINY, run_dirs

FAST = [*TINY, "callbacks.samples=null"]


def _one_error_line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("model.encoder.hidden_size=-3", "model.encoder.hidden_size=-3: expected an integer > 0"),
        ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1: expected null or a number >= 0"),
        ("+model.cell.forget_bais=1", "model.cell.forget_bais: cell 'lstm' has no option 'forget_bais'"),
        ("data.seq_len=0", "data.seq_len=0"),
        ("model.encoder.dropout=1.5", "model.encoder.dropout=1.5: expected a number >= 0 and < 1"),
        ("trainer.gradient_clip_algorithm=sideways", "norm or value"),
        ("model.encoder.num_layers=two", "model.encoder.num_layers"),
        ("cpu_allocator=fast", "cpu_allocator='fast': expected retain or system"),
    ],
)
def test_bad_config_values_fail_before_any_work(tmp_path, monkeypatch, override, needle):
    from seqlab.run.preflight import check_composes

    monkeypatch.chdir(tmp_path)  # in-process: the same check the CLI runs before Hydra starts (exit status and
    message = check_composes([override])  # stderr format: tests/test_run_safety.py, one subprocess test)
    assert message is not None and needle in message and "\n" not in message
    assert not (tmp_path / "outputs").exists()


@pytest.mark.e2e
def test_validation_runs_without_loading_torch_or_data(tmp_path):
    code = (
        "import sys; from seqlab.run.preflight import check_composes; "
        "print(check_composes(['model.encoder.hidden_size=-3'])); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    message, torch_loaded = out.stdout.strip().splitlines()
    assert "model.encoder.hidden_size=-3" in message and torch_loaded == "False"


def test_unwritable_or_full_output_dir_fails_early():
    from seqlab.run.preflight import check_composes

    assert "cannot write" in check_composes(["hydra.run.dir=/proc/seqlab-run", *FAST])
    assert "paths.min_free_mb" in check_composes(["paths.min_free_mb=1e15", *FAST])


@pytest.mark.e2e
def test_corrupt_or_truncated_checkpoint_gives_a_clear_error(run_seqlab, tmp_path):
    assert run_seqlab(*TINY).returncode == 0
    [run] = run_dirs(tmp_path, "char_rnn")
    good = (run / "checkpoints" / "last.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    line = _one_error_line(run_seqlab(f"ckpt_path={truncated}", *TINY))
    assert "truncated.ckpt" in line and "corrupt or truncated" in line
    line = _one_error_line(run_seqlab(f"ckpt_path={truncated}", module="seqlab.generate"))
    assert "truncated.ckpt" in line


@pytest.mark.e2e
def test_checkpoints_load_with_weights_only_unpickling(run_seqlab, tmp_path):
    import torch

    assert run_seqlab(*TINY).returncode == 0
    [run] = run_dirs(tmp_path, "char_rnn")
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["seqlab"]["spec"]["vocab"]["itos"][:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert "rng" in checkpoint


#: a user's cell with a bug that makes every output NaN (the structured path runs its update)
POISONED_CELL = {
    "plugins/poisoned.py": "from seqlab.cells import LSTMCell\nfrom seqlab.registry import CELLS\n\n\n"
    "class Poisoned(LSTMCell):\n    fused_mode = None\n\n    def update(self, xp_t, hp_t, state):\n"
    "        h, c = super().update(xp_t, hp_t, state)\n        return h * float('nan'), c\n\n\n"
    "CELLS.register('poisoned', Poisoned)\n",
    "plugins/conf/cell/poisoned.yaml": "# @package model.cell\nname: poisoned\nforget_bias: 1.0\n",
}


@pytest.mark.e2e
def test_nan_loss_is_skipped_and_counted_or_stops_with_advice(run_seqlab, tmp_path):
    for relative, text in POISONED_CELL.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    poisoned = [*TINY, "cell=poisoned", "model.encoder.path=structured"]
    skipped = run_seqlab(*poisoned, "callbacks.nonfinite.action=skip")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    assert "train/nonfinite_steps" in (run / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "step skipped" in skipped.stdout + skipped.stderr

    stopped = run_seqlab(*poisoned, "callbacks.nonfinite.action=stop")
    line = _one_error_line(stopped)
    assert "non-finite" in line and "gradient_clip_val" in line and "grad_norm" in line
    assert "last.ckpt" in line


def test_last_checkpoint_is_the_last_validation_even_when_the_metric_got_worse(run_seqlab, tmp_path):
    """Lightning ≥ 2.6 writes ``save_last`` only at a validation that improved the monitored metric; seqlab's
    ``last_checkpoint`` writes last.ckpt at every validation. ``mode=max`` on a falling val/loss makes every
    validation after the first a worse one."""
    import torch

    overrides = ["trainer.max_steps=9", "trainer.val_check_interval=3", "callbacks.model_checkpoint.mode=max"]
    result = run_seqlab(*TINY, *overrides, "test=false")
    assert result.returncode == 0, result.stderr[-2000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    losses = [float(r["val/loss"]) for r in csv.DictReader((run / "csv" / "metrics.csv").open()) if r["val/loss"]]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]  # each validation "worse" under mode=max

    def step(name: str) -> int:
        return torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=False)["global_step"]

    assert step("best.ckpt") == 3 and step("last.ckpt") == 9


@pytest.mark.e2e
def test_same_seed_gives_identical_metrics_on_cpu(run_seqlab, tmp_path):
    # two fresh interpreters: forks of one warm interpreter would share its string-hash seed
    first = run_seqlab(*TINY, "hydra.run.dir=outputs/a", fresh=True)
    second = run_seqlab(*TINY, "hydra.run.dir=outputs/b", fresh=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    a = json.loads((tmp_path / "outputs/a/metrics.json").read_text())
    b = json.loads((tmp_path / "outputs/b/metrics.json").read_text())
    assert a == b


def test_cell_option_of_the_wrong_type_is_named():
    from seqlab.run.preflight import check_composes

    assert "model.cell.forget_bias='high': expected a number" in check_composes(["model.cell.forget_bias=high"])




def test_sampling_a_model_whose_outputs_are_not_finite_is_one_clear_error():
    """The samples and music callbacks skip with this line; seqlab generate prints it (no torch.multinomial trace)."""
    import torch

    from seqlab.errors import NonFiniteError
    from seqlab.heads.base import sample_next

    with pytest.raises(NonFiniteError, match="probabilities are not finite"):
        sample_next(torch.tensor([[float("nan"), 0.0]]), temperature=1.0, top_k=None, generator=None)
