"""Many devices on the CPU: trainer=ddp_cpu (two gloo processes) alone and inside a multirun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from support.runs import TINY, run_dirs

from seqlab.registry import ConfigError
from seqlab.run.scale import per_device_batch_size

#: full validation set, so the synced metric can be recomputed exactly in one process
DDP_TINY = [*TINY, "trainer.limit_val_batches=1.0", "data.batch_size=16", "test=false"]


def validate_checkpoint(checkpoint: Path, ranks: int = 1, every: int = 1) -> dict[str, float]:
    """Validation metrics of a checkpoint in this one process, as ``ranks`` processes see the split: the first windows
    repeated at the end until it divides evenly (what DistributedSampler adds so that every rank gets as many);
    ``every=2`` keeps rank 0's share only."""
    import pytorch_lightning as pl
    from datasets import concatenate_datasets

    from seqlab.models.builder import load_module
    from seqlab.run.train import build_datamodule

    module = load_module(checkpoint)
    config = torch.load(checkpoint, weights_only=True)["hyper_parameters"]["config"]
    datamodule = build_datamodule(config["data"])
    datamodule.setup("fit")
    split = datamodule.splits["validation"]
    pad_first = -len(split) % ranks
    if pad_first:
        split = concatenate_datasets([split, split.select(range(pad_first))])
    datamodule.splits["validation"] = split.select(range(0, len(split), every))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (metrics,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    return metrics


def test_ddp_cpu_syncs_metrics_splits_the_global_batch_and_writes_once(run_seqlab, tmp_path):
    result = run_seqlab("trainer=ddp_cpu", *(o for o in DDP_TINY if not o.startswith("logger=")), "logger=many")
    assert result.returncode == 0, result.stderr[-3000:]
    # wandb's media from the spawned processes (plots, sample tables) land in the run folder, not in ./wandb
    assert not (tmp_path / "wandb").exists()

    (run,) = run_dirs(tmp_path, "char_rnn")  # the spawned rank did not start a run of its own
    assert "data.batch_size is global: 2 processes × 8" in (run / "config.log").read_text()  # the full log
    logged = json.loads((run / "metrics.json").read_text())
    assert result.stdout.count("seqlab: results") == 1
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["final.txt", "step_3.txt"]
    rows = (run / "csv" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == len(set(rows))  # each step logged once, by rank 0
    assert list((run / "wandb").glob("offline-run-*/files/media/table/samples_*.table.json"))

    # the logged value covers both ranks' halves of the validation set (padded to an even count), not rank 0's
    checkpoint = run / "checkpoints" / "last.ckpt"
    both_ranks = validate_checkpoint(checkpoint, ranks=2)
    rank_zero_only = validate_checkpoint(checkpoint, ranks=2, every=2)
    assert logged["val/accuracy"] == pytest.approx(both_ranks["val/accuracy"], abs=1e-6)
    assert logged["val/loss"] == pytest.approx(both_ranks["val/loss"], abs=1e-5)
    assert abs(logged["val/accuracy"] - rank_zero_only["val/accuracy"]) > 1e-4


@pytest.mark.slow
def test_ddp_inside_a_multirun_gives_one_clean_folder_per_job(run_seqlab, tmp_path):
    # trainer=ddp re-launches the command line per rank, which would re-run the sweep: a multirun runs it as ddp_spawn
    result = run_seqlab("-m", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *DDP_TINY)
    assert result.returncode == 0, result.stderr[-3000:]

    experiment = tmp_path / "outputs" / "char_rnn"
    assert [p.name for p in experiment.iterdir()] == ["multirun"]
    (sweep,) = experiment.glob("multirun/*/*")
    (job,) = (p for p in sweep.iterdir() if p.is_dir())
    log = (job / "config.log").read_text()  # info lines are in the job's full log (the console is quiet)
    assert "multirun: trainer.strategy=ddp runs as ddp_spawn" in log
    assert "data.batch_size is global: 2 processes × 8" in log
    assert job.name.startswith("0_data.batch_size=16,") and job.name.endswith(",trainer.devices=2,trainer=ddp")
    assert (job / "metrics.json").is_file()
    assert not (job / "error.txt").exists()


def test_global_batch_size_is_split_evenly_or_rejected():
    assert per_device_batch_size(64, 1) == 64
    assert per_device_batch_size(64, 4) == 16
    with pytest.raises(ConfigError, match=r"data.batch_size=30 .* among 4 processes"):
        per_device_batch_size(30, 4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU, so trainer=ddp would train")
def test_ddp_on_a_machine_without_gpus_is_a_one_line_error(run_seqlab):
    result = run_seqlab("trainer=ddp", *TINY)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "seqlab: error: trainer.accelerator=gpu, trainer.devices=-1, trainer.strategy=ddp: No supported gpu backend"
        " found!; this machine has no usable GPU: use trainer=cpu, or trainer=ddp_cpu for DDP on the CPU"
    )
