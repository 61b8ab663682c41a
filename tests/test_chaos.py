"""The fault schedule ("chaos") test: a short recipe run under scripted faults, then resumed, and checked.

Each schedule sends a real signal (SIGINT, SIGTERM, SIGKILL) to a real run at a chosen point — training, validation,
test, the end-of-fit samples — through ``seqlab.callbacks.faults.FaultInjector``, or makes a second process try to
resume a folder while its run is still going, or kills one job of a joblib sweep. Then the same command plus
``ckpt_path=last`` finishes the run, and the invariants of a run's record are checked against an uninterrupted run
of the same settings:

- the faulted run exited non-zero (130 SIGINT, 143 SIGTERM, killed by SIGKILL);
- a loadable ``checkpoints/last.ckpt`` holds the final weights (its step is ``max_steps``);
- ``metrics.csv`` has each step at most once, steps strictly increasing, and its training-loss column equals the
  uninterrupted run's to 1e-6 at every step both have;
- the folder's config, vocabulary and checkpoint agree (model options, vocabulary, data);
- ``metrics.json`` holds the uninterrupted run's validation and test figures (to 1e-5) and the same test weights.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.runs import SHORT, cli_env

#: a short recipe: 12 steps, a validation (and its checkpoints) every 4, one probe every 3 steps
RECIPE = [
    "trainer.max_steps=12",
    "trainer.val_check_interval=4",
    "trainer.log_every_n_steps=2",
    *SHORT,
    "callbacks.gradient_flow.every_n_steps=3",
]
FAULT = "+callbacks.fault._target_=seqlab.callbacks.faults.FaultInjector"

#: (name, phase, step, signal, the faulted run's exit status)
SCHEDULES = [
    ("sigint-train", "train", 6, "SIGINT", 130),
    ("sigterm-train", "train", 9, "SIGTERM", 143),
    ("sigkill-train", "train", 6, "SIGKILL", -9),
    ("sigterm-validation", "validation", 4, "SIGTERM", 143),
    ("sigkill-validation", "validation", 8, "SIGKILL", -9),
    ("sigterm-test", "test", 0, "SIGTERM", 143),
    ("sigkill-test", "test", 0, "SIGKILL", -9),
    ("sigint-samples", "fit_end", 0, "SIGINT", 130),
]


class Checked:
    """Counts what was checked, for the test's closing line."""

    def __init__(self) -> None:
        self.schedules, self.invariants = 0, 0

    def __call__(self, condition: bool, what: str) -> None:
        assert condition, what
        self.invariants += 1


def steps_and_losses(run: Path) -> tuple[list[int], dict[int, float]]:
    with (run / "csv" / "metrics.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    steps = [int(r["step"]) for r in rows]
    losses = {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}
    return steps, losses


def check_record(run: Path, reference: Path, check: Checked, name: str) -> None:
    import torch

    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    check(ckpt["global_step"] == 12, f"{name}: last.ckpt holds step {ckpt['global_step']}, not the final 12")

    steps, losses = steps_and_losses(run)
    _, want = steps_and_losses(reference)
    check(len(steps) == len(set(steps)), f"{name}: a step appears twice in metrics.csv: {steps}")
    check(steps == sorted(steps), f"{name}: steps out of order in metrics.csv: {steps}")
    common = sorted(set(losses) & set(want))
    check(len(common) >= len(want) - 1, f"{name}: training losses missing: {sorted(want)} vs {sorted(losses)}")
    for step in common:
        check(abs(losses[step] - want[step]) <= 1e-6, f"{name}: train/loss at {step}: {losses[step]} vs {want[step]}")

    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    vocab = json.loads((run / "vocab.json").read_text())
    meta = ckpt["seqlab"]
    check(meta["spec"]["vocab"] == vocab, f"{name}: vocab.json differs from the checkpoint's vocabulary")
    check(meta["model_config"]["encoder"]["hidden_size"] == config["model"]["encoder"]["hidden_size"]
          and meta["model_config"]["cell"]["name"] == config["model"]["cell"]["name"],
          f"{name}: the checkpoint's model differs from the folder's config")
    check(ckpt["hyper_parameters"]["config"]["data"]["name"] == config["data"]["name"],
          f"{name}: the checkpoint's data differs from the folder's config")

    got = json.loads((run / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    check(got.keys() == expected.keys(), f"{name}: metrics.json keys {sorted(got)} vs {sorted(expected)}")
    for key, value in expected.items():
        if isinstance(value, str) or key == "test_weights_step":
            check(got[key] == value, f"{name}: {key} is {got[key]}, not {value}")
        else:
            check(abs(got[key] - value) <= 1e-5 * max(1.0, abs(value)), f"{name}: {key} {got[key]} vs {value}")


@pytest.mark.e2e
def test_fault_schedules(run_seqlab, tmp_path, cache_dir, capsys):
    check = Checked()
    straight = run_seqlab(*RECIPE, "hydra.run.dir=outputs/straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    reference = tmp_path / "outputs" / "straight"

    for name, phase, step, sig, status in SCHEDULES:
        args = [*RECIPE, f"hydra.run.dir=outputs/{name}", FAULT, f"+callbacks.fault.phase={phase}",
                f"+callbacks.fault.step={step}", f"+callbacks.fault.signal={sig}",
                f"+callbacks.fault.marker={tmp_path / (name + '.fired')}"]
        faulted = run_seqlab(*args)
        check(faulted.returncode == status, f"{name}: exit {faulted.returncode}, expected {status}: "
              f"{faulted.stderr[-2000:]}")
        check(not (tmp_path / "outputs" / name / "metrics.json").exists(), f"{name}: an unfinished run wrote results")
        if sig != "SIGKILL":
            lines = [line for line in faulted.stderr.splitlines() if line.startswith("seqlab:")]
            check(any("interrupted by" in line and "ckpt_path=last" in line for line in lines),
                  f"{name}: no one-line message naming the resume: {lines}")
        resumed = run_seqlab(*args, "ckpt_path=last")
        check(resumed.returncode == 0, f"{name}: the resume failed: {resumed.stderr[-3000:]}")
        check_record(tmp_path / "outputs" / name, reference, check, name)
        check.schedules += 1

    second_writer_schedule(run_seqlab, tmp_path, cache_dir, reference, check)
    killed_sweep_job_schedule(run_seqlab, tmp_path, reference, check)
    with capsys.disabled():
        print(f"\nfault schedules: {check.schedules} schedules, {check.invariants} invariants checked")


def second_writer_schedule(run_seqlab, tmp_path: Path, cache_dir: Path, reference: Path, check: Checked) -> None:
    """A run pauses mid-training; a resume of its folder is refused naming its PID; it is killed; the resume goes."""
    marker = tmp_path / "paused.marker"
    args = [*RECIPE, "hydra.run.dir=outputs/paused", FAULT, "+callbacks.fault.phase=train", "+callbacks.fault.step=6",
            "+callbacks.fault.signal=pause", f"+callbacks.fault.marker={marker}"]
    running = subprocess.Popen([sys.executable, "-m", "seqlab", *args], cwd=tmp_path, env=cli_env(cache_dir),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not marker.exists() and running.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        check(marker.exists(), f"the run never reached its pause: {running.stderr.read() if running.poll() else ''}")
        second = run_seqlab(*args, "ckpt_path=last")
        check(second.returncode == 2, f"a second writer was not refused: {second.returncode} {second.stderr[-2000:]}")
        check(f"PID {running.pid}" in second.stderr and second.stderr.count("\n") == 1,
              f"the refusal is not one line naming the holder's PID: {second.stderr}")
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=60)
    resumed = run_seqlab(*args, "ckpt_path=last")
    check(resumed.returncode == 0, f"the resume after the kill failed: {resumed.stderr[-3000:]}")
    check_record(tmp_path / "outputs" / "paused", reference, check, "second-writer")
    check.schedules += 1


def killed_sweep_job_schedule(run_seqlab, tmp_path: Path, reference: Path, check: Checked) -> None:
    """A joblib sweep of two jobs, one killed mid-training: it fails alone, the sweep exits non-zero with a summary;
    the same command plus ckpt_path=last resumes it and skips the finished job."""
    marker = tmp_path / "sweep.marker"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=outputs/sweep", *RECIPE, FAULT,
            "+callbacks.fault.step=6,100000", "+callbacks.fault.signal=SIGKILL", f"+callbacks.fault.marker={marker}"]
    first = run_seqlab(*args)
    check(first.returncode == 1, f"a sweep with a killed job exited {first.returncode}: {first.stderr[-3000:]}")
    killed, healthy = sorted((tmp_path / "outputs" / "sweep").glob("[0-9]_*"))
    check((killed / "error.txt").read_text().startswith("the job's process"), "the killed job has no error.txt")
    check((healthy / "metrics.json").is_file(), "the healthy job did not finish")
    check("1 of 2 jobs finished" in first.stderr, f"no sweep summary: {first.stderr[-2000:]}")
    again = run_seqlab(*args, "ckpt_path=last")
    check(again.returncode == 0, f"continuing the sweep failed: {again.stderr[-3000:]}")
    check("finished before: skipped" in again.stdout, "the finished job was not skipped")
    check(not (killed / "error.txt").exists(), "the resumed job still carries its old error.txt")
    check_record(killed, reference, check, "killed-sweep-job")
    check.schedules += 1


def test_the_fault_injector_refuses_an_unknown_phase():
    from seqlab.callbacks.faults import FaultInjector
    from seqlab.errors import ConfigError

    with pytest.raises(ConfigError, match="callbacks.fault.phase='training'"):
        FaultInjector(phase="training")
