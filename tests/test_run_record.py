"""What a run leaves behind is exact: its final weights, each metric once at its own step, one writer per folder, and
faults that end in a clear state (the numbered cases of the run-record issue; the fault schedules are in
test_chaos.py)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support.runs import SHORT, run_dirs


def rows(run: Path) -> list[dict[str, str]]:
    with (run / "csv" / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def ckpt_step(path: Path) -> int:
    from seqlab.models.module import load_checkpoint

    return int(load_checkpoint(path)["global_step"])


# -- 1. the final weights are saved ----------------------------------------------------------------------------------
def test_a_run_ending_before_any_validation_saves_its_final_weights_and_resumes_from_them(run_seqlab, tmp_path):
    args = [*SHORT, "trainer.val_check_interval=500", "hydra.run.dir=outputs/short"]
    first = run_seqlab(*args, "trainer.max_steps=5")
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "outputs" / "short"
    assert ckpt_step(run / "checkpoints" / "last.ckpt") == 5
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["test_weights"], metrics["test_weights_step"]) == ("last", 5)
    assert "the last weights (step 5)" in first.stdout  # the results table says which weights were tested

    longer = run_seqlab(*args, "trainer.max_steps=8", "ckpt_path=last")
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert "from last.ckpt (step 5)" in longer.stdout  # from the final step, not from a validation before it
    assert ckpt_step(run / "checkpoints" / "last.ckpt") == 8
    steps = [int(r["step"]) for r in rows(run)]
    assert steps == sorted(set(steps))

    no_validation = run_seqlab(*SHORT, "trainer.max_steps=3", "trainer.limit_val_batches=0", "test=false",
                               "hydra.run.dir=outputs/no-val")
    assert no_validation.returncode == 0, no_validation.stderr[-3000:]
    assert ckpt_step(tmp_path / "outputs" / "no-val" / "checkpoints" / "last.ckpt") == 3


# -- 2, 3. a signal during the test phase of a sweep; a sweep continued with ckpt_path=last ----------------------------
def test_sigterm_while_a_sweep_job_tests_stops_the_sweep_non_zero_and_ckpt_path_last_finishes_it(run_seqlab, tmp_path):
    args = ["-m", "seed=0,1", "hydra.sweep.dir=outputs/sweep", *SHORT, "trainer.max_steps=4",
            "trainer.val_check_interval=2", "+callbacks.fault._target_=seqlab.callbacks.faults.FaultInjector",
            "+callbacks.fault.phase=test", f"+callbacks.fault.marker={tmp_path / 'fired'}"]
    stopped = run_seqlab(*args)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    lines = [line for line in stopped.stderr.splitlines() if line.startswith("seqlab:")]
    assert any(line.startswith("seqlab: interrupted by SIGTERM during testing") for line in lines), lines
    assert "0 of 2 jobs finished" in lines[-1] and "#1 seed=1 (did not run)" in lines[-1], lines
    [job] = (tmp_path / "outputs" / "sweep").glob("0_*")
    assert not (job / "metrics.json").exists()

    finished = run_seqlab(*args, "ckpt_path=last")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "2 of 2 jobs finished" in finished.stdout
    for job in (tmp_path / "outputs" / "sweep").glob("[01]_*"):
        metrics = json.loads((job / "metrics.json").read_text())
        assert {"val/loss", "test/loss", "test_weights"} <= set(metrics)  # the resumed job kept its validation


# -- 4. gradient-flow metrics at their own step ---------------------------------------------------------------------
def test_probes_reach_the_log_once_at_the_step_they_measured_even_in_a_run_shorter_than_the_log_interval(
    run_seqlab, tmp_path
):
    result = run_seqlab(*SHORT, "trainer.max_steps=5", "trainer.val_check_interval=500", "test=false",
                        "trainer.log_every_n_steps=50", "callbacks.gradient_flow.every_n_steps=3",
                        "hydra.run.dir=outputs/probe")
    assert result.returncode == 0, result.stderr[-3000:]
    logged = {int(r["step"]) for r in rows(tmp_path / "outputs" / "probe") if r.get("grad_flow/probe_seconds")}
    assert logged == {0, 2}, logged  # recorded at step 0 and at (step + 1) % 3 == 0: nowhere else


# -- 6. one writer per folder: sweeps get folders of their own -------------------------------------------------------
def test_sweeps_started_together_or_into_a_used_folder_get_their_own(tmp_path, monkeypatch):
    from seqlab.run.preflight import prepare_sweep_dir

    monkeypatch.chdir(tmp_path)
    first = prepare_sweep_dir(["-m", "seed=0,1", "hydra.sweep.dir=outputs/s"])
    (tmp_path / "outputs" / "s" / "multirun.yaml").write_text("{}\n")
    second = prepare_sweep_dir(["-m", "seed=0,1", "hydra.sweep.dir=outputs/s"])
    assert first[-1].endswith("outputs/s") and second[-1].endswith("outputs/s-1")
    defaults = [prepare_sweep_dir(["-m", "seed=0,1"])[-1] for _ in range(2)]  # the same second (or the next): two
    assert defaults[0] != defaults[1]  # folders, the second "<time>-1" when both fall in one second


# -- 7. a moved or copied run folder resumes and tests its own checkpoints -------------------------------------------
def test_a_copied_and_a_moved_run_folder_each_resume_with_their_own_best_checkpoint(run_seqlab, tmp_path):
    args = [*SHORT, "trainer.val_check_interval=2"]
    first = run_seqlab(*args, "trainer.max_steps=4", "hydra.run.dir=outputs/original")
    assert first.returncode == 0, first.stderr[-3000:]
    original = tmp_path / "outputs" / "original"
    kept = (original / "checkpoints" / "best.ckpt").read_bytes()
    copy = tmp_path / "outputs" / "copy"
    shutil.copytree(original, copy)
    (copy / ".seqlab.lock").unlink(missing_ok=True)
    resumed = run_seqlab(*args, "trainer.max_steps=8", f"hydra.run.dir={copy}", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (original / "checkpoints" / "best.ckpt").read_bytes() == kept  # the original is never touched
    assert ckpt_step(copy / "checkpoints" / "best.ckpt") == json.loads((copy / "metrics.json").read_text())[
        "test_weights_step"
    ]

    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(original, moved)
    again = run_seqlab(*args, "trainer.max_steps=8", f"hydra.run.dir={moved}", "ckpt_path=last")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((moved / "metrics.json").read_text())["test_weights"] == "best"


# -- 9. refused before any work ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("model.encoder.num_layers=100000", "training needs at least 1,852.4 GiB"),
        ("optimizer.lr=inf", "optimizer.lr=inf: expected a number > 0"),
        ("optimizer.lr=-0.1", "optimizer.lr=-0.1: expected a number > 0"),
        ("trainer.val_check_interval=0", "trainer.val_check_interval=0: expected a positive number of steps"),
        ("+trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0: expected an integer >= 1"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0: expected null, -1 (no limit) or a positive integer"),
        ("experiment_name=" + "x" * 300, "(300 characters): expected at most 128 bytes"),
    ],
)
def test_impossible_settings_are_one_line_before_any_work(override, needle):
    from seqlab.run.preflight import check_composes

    message = check_composes([override])
    assert message is not None and needle in message and "\n" not in message, message


def test_the_memory_check_names_both_figures_and_an_expert_can_skip_it():
    from seqlab.run.preflight import check_composes

    message = check_composes(["model.encoder.hidden_size=8192", "model.encoder.num_layers=64"])
    assert "GiB" in message and "this machine's memory is" in message and "check_memory=false" in message
    assert check_composes(["model.encoder.hidden_size=8192", "model.encoder.num_layers=64", "check_memory=false"]) \
        is None


@pytest.mark.parametrize(("option", "needle"), [("temperature=nan", "temperature=nan: expected a finite number"),
                                                ("top_k=-3", "top_k=-3: expected null (no limit) or an integer >= 1")])
def test_bad_sampling_values_are_one_line(option, needle):
    from seqlab.errors import ConfigError
    from seqlab.generate import parse

    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse(["ckpt_path=x.ckpt", option])


# -- 10. a full disk, an unreadable run --------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs, nearly full (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    (mount / "filler").write_bytes(b"\0" * 900 * 1024)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_during_a_run_is_one_line_naming_the_folder(run_seqlab, tmp_path, small_disk):
    result = run_seqlab(*SHORT, "trainer.max_steps=4", "trainer.val_check_interval=2", "paths.min_free_mb=0",
                        f"hydra.run.dir={small_disk / 'run'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("seqlab:")]
    assert str(small_disk / "run") in line and ("no space left" in line.lower()), line
    assert not (small_disk / "run" / "metrics.json").exists()


def test_the_report_names_an_unreadable_run_and_reports_the_others(tiny_run, tmp_path, capsys):
    from seqlab import report

    _, run = tiny_run
    sweep = tmp_path / "sweep"
    for name in ("0_seed=1", "1_seed=2"):
        shutil.copytree(run, sweep / name, ignore=shutil.ignore_patterns("checkpoints", "wandb", "tensorboard"))
    (sweep / "1_seed=2" / "metrics.json").write_text("")  # what an ENOSPC used to leave
    report.main([str(sweep)])
    err = capsys.readouterr().err
    assert "1_seed=2/metrics.json: not a JSON object of numbers" in err and "left out" in err
    assert "0_seed=1" in (sweep / "report.html").read_text()


# -- 11. untrusted text stays text; a plugin cannot end seqlab; strict data is not bypassed ----------------------------
def test_tampered_plugin_metadata_in_a_checkpoint_is_never_shown_as_install_advice():
    from seqlab.plugins import missing_plugin_advice

    evil = {"plugin": "mgu\x1b[2J", "package": "seqlab-mgu --extra-index-url https://evil.example/simple",
            "version": "0.1.0"}
    advice = missing_plugin_advice("cell", "mgu", evil, {})
    assert advice == "needs cell 'mgu' from plugin 'mgu[2J': unreadable plugin metadata"
    assert "\x1b" not in advice
    bad_version = {"plugin": "mgu", "package": "seqlab-mgu", "version": "0.1; rm -rf /"}
    assert missing_plugin_advice("cell", "mgu", bad_version, {}).endswith("unreadable plugin metadata")
    good = {"plugin": "mgu", "package": "seqlab-mgu", "version": "0.1.0"}
    assert missing_plugin_advice("cell", "mgu", good, {}).endswith("install it: pip install seqlab-mgu==0.1.0")


def test_a_plugin_that_calls_sys_exit_is_marked_failed_and_seqlab_goes_on(run_seqlab, tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "quitter.py").write_text("import sys\nsys.exit(0)\n")
    listed = run_seqlab(module="seqlab.plugins")  # exit 1: a plugin failed to load, as the listing's own rule says
    assert listed.returncode == 1 and "Traceback" not in listed.stderr, listed.stderr[-2000:]
    assert "quitter  [./plugins/quitter.py]  FAILED: SystemExit: the plugin called sys.exit(0)" in listed.stdout
    composed = run_seqlab("--cfg", "job")  # and every other command goes on without it
    assert composed.returncode == 0 and "experiment_name: char_rnn" in composed.stdout, composed.stderr[-2000:]


def test_a_strict_run_never_reuses_a_cache_a_lenient_run_built(tmp_path):
    from seqlab.data.text import CharTextDataModule

    lenient = CharTextDataModule(source="builtin:python_reference", cache_dir=str(tmp_path), strict=False)
    strict = CharTextDataModule(source="builtin:python_reference", cache_dir=str(tmp_path), strict=True)
    assert lenient.cache_key() != strict.cache_key()


# -- 12. a run that fails before training leaves no folder ---------------------------------------------------------
def test_a_run_failing_before_training_leaves_no_run_folder_for_ckpt_path_last_to_trip_over(run_seqlab, tmp_path):
    good = run_seqlab(*SHORT, "trainer.max_steps=2", "trainer.val_check_interval=2", "test=false")
    assert good.returncode == 0, good.stderr[-3000:]
    bad = run_seqlab(*SHORT, "data.source=no/such/file.txt")
    assert bad.returncode == 1, bad.stderr[-2000:]
    [run] = run_dirs(tmp_path, "char_rnn")  # only the good one
    resumed = run_seqlab(*SHORT, "trainer.max_steps=3", "trainer.val_check_interval=2", "test=false",
                         "ckpt_path=last")
    assert resumed.returncode == 0 and f"resuming run {run}" in resumed.stdout, resumed.stderr[-2000:]


def test_a_resume_reads_its_checkpoint_once(tiny_run, tmp_path):
    """Pre-flight's check and train.run share one read, and Lightning's restore (through the checkpoint IO) takes it;
    a file changed since is read anew."""
    import os

    from seqlab.models.module import load_checkpoint, take_checkpoint
    from seqlab.run.checkpoint_io import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    shutil.copy(tiny_run[1] / "checkpoints" / "last.ckpt", path)
    first = load_checkpoint(path)
    assert load_checkpoint(path) is first  # train.run after pre-flight: no second read
    assert AtomicCheckpointIO().load_checkpoint(path) is first  # Lightning's restore takes it ...
    assert take_checkpoint(path) is None  # ... and it is forgotten, so the weights are not held twice
    again = load_checkpoint(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # the file changed on disk
    assert load_checkpoint(path) is not again
