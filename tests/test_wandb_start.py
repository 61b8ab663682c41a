"""seqlab's WandbLogger starts wandb in the background: nothing logged before the run is up is lost or reordered, and a
start that fails is raised where the run is next needed. The offline run's own record (``run-*.wandb``) is read back."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path

import pytest

pytest.importorskip("wandb")
pytestmark = pytest.mark.e2e  # each test starts wandb's service process (~4 s)
from wandb.proto import wandb_internal_pb2  # noqa: E402

from seqlab.run.loggers import WandbLogger  # noqa: E402

BLOCK, HEADER = 32768, 7  # the LevelDB log format of a .wandb file: 32 KiB blocks, 7-byte record headers


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The protobuf records of an offline run's ``.wandb`` file (after its 7-byte file header)."""
    data, pos, records, pending = path.read_bytes(), HEADER, [], b""
    assert data[:4] == b":W&B"
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk, pos = data[pos + HEADER : pos + HEADER + length], pos + HEADER + length
        if kind == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk  # 1 full, 2 first, 3 middle, 4 last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def key(item) -> str:
    """An item's key: ``key``, or its ``nested_key`` path joined with '/' (how wandb 0.31 writes history keys)."""
    return item.key or "/".join(item.nested_key)


class HeldWandbLogger(WandbLogger):
    """A start that waits for the test's go, so the logging calls certainly come before the run is up."""

    def __init__(self, go: threading.Event, **kwargs):
        super().__init__(**kwargs)
        self.go = go

    def _start(self) -> None:
        self.go.wait()
        super()._start()


def test_logging_before_the_run_is_up_is_kept_in_order(tmp_path):
    go = threading.Event()
    logger = HeldWandbLogger(go, save_dir=str(tmp_path), project="seqlab-test", name="held", mode="offline")
    logger.start()
    logger.log_hyperparams({"optimizer": {"lr": 0.1}})
    for step in range(3):
        logger.log_metrics({"train/loss": 3.0 - step}, step=step)
    assert logger._experiment is None and len(logger._queue) == 4  # nothing waited for wandb
    go.set()
    logger.log_metrics({"train/loss": 0.5}, step=3)  # while or after the start: queued or replayed behind the rest
    logger.finish()
    records = read_records(next(tmp_path.rglob("run-*.wandb")))
    rows = [{key(i): json.loads(i.value_json) for i in r.history.item} for r in records if r.HasField("history")]
    assert [(r["trainer/global_step"], r["train/loss"]) for r in rows] == [(0, 3.0), (1, 2.0), (2, 1.0), (3, 0.5)]
    config = {key(i): json.loads(i.value_json) for r in records if r.HasField("config") for i in r.config.update}
    assert config["optimizer"] == {"lr": 0.1}


def test_a_start_that_fails_is_raised_where_the_run_is_next_needed(tmp_path):
    logger = WandbLogger(save_dir=str(tmp_path), project="seqlab-test", mode="bogus")
    logger.start()
    logger._starting.join()
    with pytest.raises(ValueError, match="bogus"):
        logger.log_metrics({"train/loss": 1.0}, step=0)
    never_told = WandbLogger(save_dir=str(tmp_path), project="seqlab-test", mode="bogus")
    never_told.start()
    with pytest.raises(ValueError, match="bogus"):  # a run that logged nothing still does not end in quiet success
        never_told.finish()
