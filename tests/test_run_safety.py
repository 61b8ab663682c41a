"""Lose nothing, corrupt nothing (issue 19): unique run folders, safe resumes, ``ckpt_path=last``, kill-safe
checkpoints, and one-line errors. In-process tests call the checks directly; ``e2e`` ones run the real CLI."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.runs import TINY, cli_env, run_dirs

FAST = [*TINY, "callbacks.samples=null", "test=false"]


def _one_error_line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- 1. run folders ---------------------------------------------------------------------------------------------------
def _claim(base: str, barrier, results) -> None:
    from seqlab.run.folders import claim_run_dir

    barrier.wait()
    results.put(str(claim_run_dir(Path(base))))


def test_processes_claiming_the_same_folder_at_once_each_get_their_own(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(6), context.Queue()
    base = tmp_path / "outputs" / "char_rnn" / "2026-01-01" / "12-00-00"
    procs = [context.Process(target=_claim, args=(str(base), barrier, results)) for _ in range(6)]
    for p in procs:
        p.start()
    claimed = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert len(set(claimed)) == 6
    assert claimed == sorted([str(base)] + [f"{base}-{n}" for n in range(1, 6)])


def test_a_folder_holding_an_older_run_without_a_record_is_not_entered(tmp_path):
    from seqlab.run.folders import claim_run_dir

    old = tmp_path / "12-00-00"
    (old / "checkpoints").mkdir(parents=True)
    assert claim_run_dir(old) == tmp_path / "12-00-00-1"
    assert not (old / ".hydra").exists()


def test_the_default_run_folder_is_claimed_and_a_taken_one_gets_a_suffix(tmp_path, monkeypatch, capsys):
    from seqlab.run.preflight import prepare_run_dir

    monkeypatch.chdir(tmp_path)
    args = prepare_run_dir([])
    [given] = [a for a in args if a.startswith("hydra.run.dir=")]
    first = Path(given.split("=", 1)[1])
    assert first.relative_to(tmp_path / "outputs" / "char_rnn") and (first / ".hydra").is_dir()
    again = prepare_run_dir([f"hydra.run.dir={first}"])
    assert f"hydra.run.dir={first}-1" in again
    assert "holds another run" in capsys.readouterr().err


@pytest.mark.e2e
def test_two_runs_launched_together_into_one_folder_get_two_intact_records(tmp_path, cache_dir):
    """The same explicit folder makes the collision certain (the default name collides only within one second)."""
    procs = {
        cell: subprocess.Popen(
            [sys.executable, "-m", "seqlab", *FAST, f"cell={cell}", "hydra.run.dir=outputs/same"],
            cwd=tmp_path,
            env=cli_env(cache_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cell in ("lstm", "gru")
    }
    for proc in procs.values():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    import torch

    folders = sorted((tmp_path / "outputs").glob("same*"))
    assert [f.name for f in folders] == ["same", "same-1"]
    cells = set()
    for folder in folders:
        config = (folder / ".hydra" / "config.yaml").read_text()
        ckpt = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
        cell = ckpt["seqlab"]["model_config"]["cell"]["name"]
        assert f"name: {cell}" in config  # the record and the checkpoints are of the same run
        steps = [line.split(",") for line in (folder / "csv" / "metrics.csv").read_text().splitlines()[1:]]
        assert len(steps) == len({tuple(s) for s in steps})  # one run's rows, not two interleaved
        cells.add(cell)
    assert cells == {"lstm", "gru"}


# -- 3. resume checks -------------------------------------------------------------------------------------------------
def test_a_mismatch_names_both_sides_and_only_what_differs():
    from seqlab.run.folders import config_mismatch

    saved = {"model.cell.name": "lstm", "model.cell.forget_bias": 1.0, "model.encoder.hidden_size": 256}
    asked = {"model.cell.name": "gru", "model.cell.reset_after": True, "model.encoder.hidden_size": 256}
    assert config_mismatch(saved, asked) == "checkpoint has cell=lstm; the config asks cell=gru"
    asked = {**saved, "model.encoder.hidden_size": 128}
    assert config_mismatch(saved, asked) == (
        "checkpoint has model.encoder.hidden_size=256; the config asks model.encoder.hidden_size=128"
    )
    assert config_mismatch(saved, dict(saved)) is None


def test_a_different_vocabulary_is_named():
    from seqlab.run.folders import spec_mismatch

    saved = {"task": "language_model", "vocab": {"itos": ["<pad>", "a", "b"]}, "classes": []}
    assert spec_mismatch(saved, saved) is None
    assert spec_mismatch(saved, {**saved, "vocab": {"itos": ["<pad>", "a"]}}) == (
        "vocab: checkpoint has 3 tokens, the data gives 2"
    )
    assert "token 2 is 'b'" in spec_mismatch(saved, {**saved, "vocab": {"itos": ["<pad>", "a", "c"]}})


@pytest.mark.e2e
def test_a_mismatched_resume_is_refused_in_one_line_and_writes_nothing(run_seqlab, tmp_path):
    assert run_seqlab(*FAST).returncode == 0
    [run] = run_dirs(tmp_path, "char_rnn")
    before = _digests(run)
    ckpt = run / "checkpoints" / "last.ckpt"
    for override, needle in [
        ("cell=gru", "checkpoint has cell=lstm; the config asks cell=gru"),
        (
            "model.encoder.hidden_size=32",
            "checkpoint has model.encoder.hidden_size=16; the config asks model.encoder.hidden_size=32",
        ),
        ("data=tweets", "checkpoint has data=text_char; the config asks data=tweets"),
    ]:
        result = run_seqlab(*FAST, f"ckpt_path={ckpt}", override)
        assert result.returncode == 2
        assert needle in _one_error_line(result)
        assert _digests(run) == before  # .hydra/*, vocab.json, checkpoints, logs: byte-identical
    assert run_dirs(tmp_path, "char_rnn") == [run]


# -- 5. ckpt_path=last ------------------------------------------------------------------------------------------------
def _fake_run(root: Path, name: str, checkpoint: bool, started: float) -> Path:
    run = root / "outputs" / "char_rnn" / "2026-01-01" / name
    (run / ".hydra").mkdir(parents=True)
    if checkpoint:
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    os.utime(run / ".hydra", (started, started))
    return run


def test_last_refuses_an_older_run_when_the_newest_has_no_checkpoint(tmp_path):
    from seqlab.errors import ConfigError
    from seqlab.run.folders import find_last_checkpoint

    older = _fake_run(tmp_path, "10-00-00", checkpoint=True, started=1000)
    newest = _fake_run(tmp_path, "11-00-00", checkpoint=False, started=2000)
    with pytest.raises(ConfigError) as err:
        find_last_checkpoint("char_rnn", outputs=tmp_path / "outputs")
    message = str(err.value)
    assert str(newest) in message and str(older) in message and "ckpt_path=last" in message
    assert find_last_checkpoint("char_rnn", str(older)) == (older / "checkpoints" / "last.ckpt").resolve()
    with pytest.raises(ConfigError, match="no .*11-00-00/checkpoints/last.ckpt"):
        find_last_checkpoint("char_rnn", str(newest))
    _fake_run(tmp_path, "12-00-00", checkpoint=True, started=3000)
    assert find_last_checkpoint("char_rnn", outputs=tmp_path / "outputs").parent.parent.name == "12-00-00"


@pytest.mark.e2e
def test_last_says_which_run_it_resumes_and_looks_in_the_given_folder_first(run_seqlab, tmp_path):
    assert run_seqlab(*FAST, "hydra.run.dir=outputs/char_rnn/finished").returncode == 0
    # killed (SIGKILL) before its first checkpoint: a run folder without last.ckpt
    died = run_seqlab(*FAST, "trainer.max_steps=100", "hydra.run.dir=outputs/char_rnn/died",
                      "+callbacks.fault._target_=seqlab.callbacks.faults.FaultInjector", "+callbacks.fault.step=1",
                      "+callbacks.fault.signal=SIGKILL")
    assert died.returncode != 0 and (tmp_path / "outputs/char_rnn/died/.hydra").is_dir()
    assert not (tmp_path / "outputs/char_rnn/died/checkpoints/last.ckpt").exists()

    line = _one_error_line(run_seqlab(*FAST, "ckpt_path=last"))
    assert "outputs/char_rnn/died" in line and "outputs/char_rnn/finished" in line

    resumed = run_seqlab(*FAST, "hydra.run.dir=outputs/char_rnn/finished", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming run {tmp_path}/outputs/char_rnn/finished from last.ckpt (step 3)" in resumed.stdout
    assert (tmp_path / "outputs/char_rnn/finished/.hydra/resume-1/overrides.yaml").is_file()


# -- 4. kill-safe checkpoints -----------------------------------------------------------------------------------------
@pytest.fixture
def other_filesystem(tmp_path):
    """A private, empty folder on another filesystem than ``tmp_path`` (in /dev/shm, which other processes and the
    other test workers use too), removed afterwards."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) for the temp dir")
    own = Path(tempfile.mkdtemp(prefix="seqlab-test-", dir=shm))
    yield own
    shutil.rmtree(own, ignore_errors=True)


def test_a_save_replaces_the_file_instead_of_writing_into_it(tmp_path, monkeypatch, other_filesystem):
    """Lightning's default writes a temp file in $TMPDIR and, across filesystems, copies it *into* the existing
    checkpoint (same inode, truncated first). A save must instead rename a complete file over it."""
    import tempfile

    import torch

    from seqlab.run.checkpoint_io import AtomicCheckpointIO

    temp_dir = other_filesystem
    monkeypatch.setenv("TMPDIR", str(temp_dir))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    target = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, target)
    inode = target.stat().st_ino
    before = set(temp_dir.iterdir())
    io.save_checkpoint({"step": 2, "w": torch.zeros(3)}, target)
    assert target.stat().st_ino != inode
    assert torch.load(target, weights_only=True)["step"] == 2
    assert os.listdir(target.parent) == ["last.ckpt"] and set(temp_dir.iterdir()) <= before


def test_temp_files_of_killed_saves_are_removed_and_live_ones_kept(tmp_path):
    from seqlab.run.checkpoint_io import remove_stale_temp_files

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".last.ckpt.{dead.pid}.tmp").write_bytes(b"partial")
    (tmp_path / f".last.ckpt.{os.getppid()}.tmp").write_bytes(b"a save in progress")
    assert remove_stale_temp_files(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f".last.ckpt.{os.getppid()}.tmp"]


def _start_and_kill_mid_save(cwd: Path, args: list[str], env: dict[str, str], point: str) -> None:
    marker = cwd / f"paused-{point}"
    env = {**env, "SEQLAB_TEST_PAUSE_SAVE": f"{point}:{marker}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 400
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.communicate(timeout=30)[1][-3000:] if proc.poll() is not None else "no pause"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.e2e
def test_a_kill_at_any_point_of_a_save_leaves_a_loadable_last_checkpoint(tmp_path, cache_dir, other_filesystem):
    from seqlab.models.module import load_checkpoint

    temp_dir = other_filesystem
    before = set(temp_dir.iterdir())
    env = {**cli_env(cache_dir), "TMPDIR": str(temp_dir)}
    args = [*FAST, "trainer.max_steps=100000", "trainer.val_check_interval=2", "hydra.run.dir=outputs/run"]
    checkpoints = tmp_path / "outputs" / "run" / "checkpoints"

    _start_and_kill_mid_save(tmp_path, args, env, "write")  # killed with a half-written temp file
    [stale] = [p for p in checkpoints.iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(checkpoints / "last.ckpt")["global_step"] >= 2

    _start_and_kill_mid_save(tmp_path, [*args, "ckpt_path=last"], env, "replace")  # complete temp, not renamed yet
    assert not stale.exists()  # the resumed run removed the temp file of the killed save when it started
    step = load_checkpoint(checkpoints / "last.ckpt")["global_step"]  # the kill hit a save of step >= 4
    assert step >= 2 and [p for p in checkpoints.iterdir() if p.name.endswith(".tmp")]
    assert set(temp_dir.iterdir()) <= before  # nothing was written into $TMPDIR

    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "seqlab",
            *FAST,
            "trainer.val_check_interval=2",
            f"trainer.max_steps={step + 2}",
            "hydra.run.dir=outputs/run",
            "ckpt_path=last",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]


# -- 7, 10. one-line errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["seed=-1"], "seed=-1: expected an integer from 0 to 4294967295"),
        (["seed=4294967296"], "seed=4294967296: expected an integer from 0 to 4294967295"),
        (["data.split=abc"], "data.split='abc': expected three non-negative fractions summing to 1"),
        (["data.split=[0.5,0.6,0]"], "data.split=[0.5, 0.6, 0]: expected three non-negative fractions"),
        (["paths.min_free_mb=lots"], "paths.min_free_mb='lots': expected a number of MB >= 0"),
        (["experiment_name=../x"], "experiment_name='../x': expected a name without '/'"),
        (["experiment_name=.."], "experiment_name='..'"),
        (
            ["+model.encoder.hiden_size=3"],
            "model.encoder.hiden_size: encoder 'recurrent' has no option 'hiden_size' (did you mean hidden_size?)",
        ),
        (["data.source=/tmp/é.txt"], "quote a value with spaces or non-ASCII characters: data.source='/tmp/é.txt'"),
    ],
)
def test_bad_values_are_named_in_one_line_before_any_work(tmp_path, monkeypatch, args, needle):
    from seqlab.run.preflight import check_composes

    monkeypatch.chdir(tmp_path)
    message = check_composes(args)
    assert message is not None and needle in message and "\n" not in message
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"devices": "abc"}, "trainer.devices='abc': `devices` selected with `CPUAccelerator` should be an int"),
        ({"precision": "foo"}, "trainer.precision='foo': Precision 'foo' is invalid"),
        (
            {"max_step": 3},
            "trainer.max_step: not an option of pytorch_lightning.Trainer (did you mean trainer.max_steps?)",
        ),
    ],
)
def test_options_the_trainer_rejects_are_named(options, needle):
    from seqlab.errors import ConfigError
    from seqlab.run.scale import build_trainer

    with pytest.raises(ConfigError) as err:
        build_trainer({"accelerator": "cpu", **options}, logger=False, enable_checkpointing=False)
    assert needle in str(err.value)


def test_a_text_file_or_pickled_code_is_called_what_it_is(tmp_path):
    import torch

    from seqlab.errors import CheckpointError
    from seqlab.models.module import load_checkpoint

    text = tmp_path / "notes.ckpt"
    text.write_text("these are my notes\n")
    with pytest.raises(CheckpointError, match=r"notes.ckpt: not a seqlab checkpoint \(a text file\)$"):
        load_checkpoint(text)
    code = tmp_path / "code.ckpt"
    torch.save({"state_dict": {}, "hook": subprocess.Popen}, code)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(code)
    message = str(err.value)
    assert "refused: the checkpoint contains code (pickled objects: " in message and "Popen)" in message
    assert "weights_only" not in message and "\x1b" not in message and "corrupt" not in message


@pytest.mark.e2e
def test_a_config_error_exits_2_with_one_line_on_stderr(run_seqlab, tmp_path):
    result = run_seqlab("seed=-1", fresh=True)  # the exit status and stderr of `python -m seqlab` itself
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == _one_error_line(result)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.e2e
def test_out_of_memory_and_an_unwritable_cache_are_one_line(run_seqlab, tmp_path):
    line = _one_error_line(run_seqlab(*FAST, "model.encoder.hidden_size=1000000"))  # refused before anything
    assert "model.encoder.hidden_size=1000000, num_layers=1: training needs at least" in line
    line = _one_error_line(run_seqlab(*FAST, "model.encoder.hidden_size=1000000", "check_memory=false"))
    assert "out of memory building the model (model.encoder.hidden_size=1000000" in line
    unwritable = Path("/sys/seqlab-cache") if os.geteuid() == 0 else tmp_path / "readonly"
    if os.geteuid() != 0:
        unwritable.mkdir(mode=0o555)
    line = _one_error_line(run_seqlab(*FAST, env={"SEQLAB_CACHE_DIR": str(unwritable)}))
    assert str(unwritable) in line and "paths.cache_dir" in line


@pytest.mark.e2e
def test_ctrl_c_during_preparation_and_a_double_ctrl_c_are_one_line_and_exit_130(tmp_path, cache_dir):
    from seqlab.models.module import load_checkpoint

    corpus = tmp_path / "big.txt"
    paragraph = "".join(chr(97 + (i * 7919) % 26) for i in range(2000))
    corpus.write_text("\n\n".join(paragraph[i % 100 :] + str(i) for i in range(4000)))  # ~8 MB, prepared for seconds
    env = cli_env(tmp_path / "fresh-cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *FAST, f"data.source={corpus}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while proc.poll() is None and not list(tmp_path.glob("outputs/char_rnn/*/*/.hydra/config.yaml")):
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert [line for line in stderr.splitlines() if line.startswith("seqlab:")] == [
        "seqlab: interrupted by SIGINT before training (imports, checks, data preparation, model building): "
        "nothing to save"
    ]
    assert not list(tmp_path.glob("outputs/char_rnn/*/*")), "a run interrupted before training left its folder"

    # the second Ctrl+C arrives while a checkpoint save is under way (paused by the test hook): it stops at once
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "seqlab",
            *FAST,
            "trainer.max_steps=100000",
            "trainer.val_check_interval=2",
            "hydra.run.dir=outputs/twice",
        ],
        cwd=tmp_path,
        env={**cli_env(cache_dir), "SEQLAB_TEST_PAUSE_SAVE": f"write:{marker}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while proc.poll() is None and not marker.exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("seqlab:")]
    assert len(lines) == 1 and "interrupted twice (Ctrl+C): stopped at once without saving" in lines[0], stderr
    assert "Detected KeyboardInterrupt" not in stderr
    checkpoints = tmp_path / "outputs/twice/checkpoints"
    assert load_checkpoint(checkpoints / "last.ckpt")["global_step"] >= 2  # the interrupted save left the old one
    assert not [p for p in checkpoints.iterdir() if p.name.endswith(".tmp")]  # and removed its temp file
