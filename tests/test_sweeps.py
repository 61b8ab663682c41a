"""Hydra multirun end to end: one folder per job, Optuna, joblib and submitit launchers, failed jobs, dashboards."""

from __future__ import annotations

import json
import os
import re
import struct
import sys
from pathlib import Path

import pytest
import yaml
from support.runs import TINY

TINY_NO_LOGGER = TINY  # the command line's logger=… wins over debug=tiny's


def sweep_dirs(root: Path, experiment: str = "char_rnn") -> list[Path]:
    """``outputs/<experiment>/multirun/<date>/<time>`` folders under ``root``."""
    return sorted(p for p in (root / "outputs" / experiment / "multirun").glob("*/*") if p.is_dir())


def job_dirs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if (p / ".hydra").is_dir()), key=lambda p: int(p.name.split("_")[0]))


def only_sweep(root: Path) -> Path:
    """The single sweep folder of a run; also checks that nothing else (a stray single run) was written."""
    sweeps = sweep_dirs(root)
    assert len(sweeps) == 1, sweeps
    assert [p.name for p in (root / "outputs" / "char_rnn").iterdir()] == ["multirun"]
    return sweeps[0]


def wandb_records(run_file: Path):
    """Records of an offline wandb run file (``run-<id>.wandb``: LevelDB log format, protobuf records)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk  # full/first start a record, middle/last extend it
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def test_multirun_runs_each_value_in_its_own_clean_folder_with_grouped_dashboards(run_seqlab, tmp_path):
    result = run_seqlab("-m", "cell=rnn_tanh,gru", "logger=many", "test=false", *TINY_NO_LOGGER)
    assert result.returncode == 0, result.stderr[-3000:]

    sweep = only_sweep(tmp_path)
    jobs = job_dirs(sweep)
    assert [p.name for p in jobs] == [
        "0_cell=rnn_tanh",  # debug=tiny's settings are left out of the folder names
        "1_cell=gru",
    ]
    for job, cell in zip(jobs, ["rnn_tanh", "gru"]):
        assert json.loads((job / "metrics.json").read_text())["val/loss"] > 0
        assert (job / "csv" / "metrics.csv").is_file()
        assert not (job / "error.txt").exists()

        # TensorBoard, the local dashboard: scalars readable by tensorboard itself
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(job / "tensorboard")).Reload()
        assert "val/loss" in events.Tags()["scalars"]

        # wandb (offline): grouped by sweep, named by overrides, carrying the full resolved config
        (run_file,) = (job / "wandb").glob("offline-run-*/run-*.wandb")
        records = list(wandb_records(run_file))
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        date, time = sweep.parts[-2:]
        assert run.run_group == f"char_rnn-{date}_{time}"
        assert run.display_name == job.name.split("_", 1)[1]
        configs = [
            json.loads(u.value_json)
            for r in records
            if r.WhichOneof("record_type") == "config"
            for u in r.config.update
            if u.key == "config"
        ]
        assert configs, "the resolved config was not logged to wandb"
        config = configs[-1]
        assert config["model"]["cell"]["name"] == cell
        assert config["model"]["head"]["name"] == "auto"  # the head group, as composed
        assert {"data", "model", "optimizer", "trainer", "callbacks", "seed"} <= set(config)


def test_optuna_search_records_a_diverged_trial_as_worst_and_finishes(run_seqlab, tmp_path):
    # seed=0: the sampler's two random start-up trials draw lr=inf (diverges) and then lr=0.5
    result = run_seqlab(
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.params=null",
        "hydra.sweeper.n_trials=2",
        "seed=0",
        "optimizer=sgd",
        "optimizer.lr=choice(0.5,inf)",
        "test=false",
        *TINY,
    )
    assert result.returncode == 1, result.stderr[-3000:]  # the search finished; one trial failed: not all is well
    assert "1 of 2 jobs finished" in result.stderr
    sweep = only_sweep(tmp_path)
    by_lr = {yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())[0]: job for job in job_dirs(sweep)}
    assert set(by_lr) == {"optimizer.lr=0.5", "optimizer.lr=inf"}

    failed = by_lr["optimizer.lr=inf"]
    assert (failed / "error.txt").is_file()
    assert re.search(r"seqlab: error: sweep job \d failed: .*error\.txt", result.stderr)
    assert not (by_lr["optimizer.lr=0.5"] / "error.txt").exists()

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_params"] == {"optimizer.lr": 0.5}
    metrics = json.loads((by_lr["optimizer.lr=0.5"] / "metrics.json").read_text())
    assert best["best_value"] == pytest.approx(metrics["val/loss"])


def test_joblib_launcher_runs_jobs_in_parallel_and_a_failed_job_leaves_error_txt(run_seqlab, tmp_path):
    result = run_seqlab(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer.lr=0.003,-1", "test=false", *TINY
    )
    assert result.returncode == 1, result.stderr[-3000:]  # one job failed: the sweep says so in its exit status
    assert "1 of 2 jobs finished; not finished: 1_" in result.stderr and "optimizer.lr=-1 (failed)" in result.stderr
    assert "Joblib.Parallel(n_jobs=2" in result.stdout
    assert "Traceback" not in result.stderr

    sweep = only_sweep(tmp_path)
    good, bad = job_dirs(sweep)
    assert bad.name.endswith("optimizer.lr=-1")
    error = (bad / "error.txt").read_text()
    assert error.startswith("optimizer.lr=-1: expected a number > 0")
    assert "seqlab: error: sweep job 1 failed: optimizer.lr=-1: expected" in result.stderr
    # in parallel: the second job started before the first one finished
    assert (bad / ".hydra" / "config.yaml").stat().st_mtime < (good / "metrics.json").stat().st_mtime

    report = run_seqlab(str(sweep), module="seqlab.report")
    assert report.returncode == 0, report.stderr
    html = (sweep / "report.html").read_text()
    runs_table = html.split('<table class="runs">')[1].split("</table>")[0]
    assert runs_table.count("<tr>") == 3  # header + two runs
    assert "failed: optimizer.lr=-1: expected" in html
    assert html.count('src="data:image/png;base64,') >= 4  # val/loss, val/perplexity, val/bpc, val/accuracy


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_same_sweep(run_seqlab, tmp_path):
    result = run_seqlab("-m", "hydra/launcher=submitit_local", "cell=rnn_tanh,gru", "test=false", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    jobs = job_dirs(sweep)
    assert [p.name.split(",")[0] for p in jobs] == ["0_cell=rnn_tanh", "1_cell=gru"]
    assert all((job / "metrics.json").is_file() for job in jobs)
    assert len(list((sweep / ".submitit").glob("*/*_log.out"))) == 2  # one submitit job per sweep job


def test_slurm_preset_asks_for_one_task_per_gpu(tmp_path, monkeypatch):
    """The preset composes and submitit accepts it; the batch file asks for as many tasks as GPUs."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    from seqlab.paths import conf_dir

    overrides = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=2"]
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher)
    assert launcher["_target_"].endswith("SlurmLauncher")
    launcher.update(name="seqlab", tasks_per_node=OmegaConf.select(cfg, "hydra.launcher.tasks_per_node"))

    # submitit only checks that `srun` exists before it writes a batch file; nothing is submitted
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir), prepend=os.pathsep)
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path / "submitit")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    skip = {"_target_", "submitit_folder", "max_num_timeout"}
    executor.update_parameters(  # the mapping hydra_submitit_launcher's launch() applies
        **{k if k in base else f"slurm_{k}": v for k, v in launcher.items() if k not in skip}
    )
    batch = executor._executor._make_submission_file_text(f"{sys.executable} -m seqlab", "0")
    assert "#SBATCH --partition=gpu" in batch
    assert "#SBATCH --gpus-per-node=2" in batch
    assert "#SBATCH --ntasks-per-node=2" in batch
    assert "#SBATCH --time=240" in batch
