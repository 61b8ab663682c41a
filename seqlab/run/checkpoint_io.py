"""Checkpoints that survive a kill at any moment: written to a temp file next to the target, fsynced, renamed.

Lightning's default writes its temp file in ``$TMPDIR``; on another filesystem its final move is a copy *into* the
existing file, so a kill mid-copy truncates a good ``last.ckpt`` (docs/reliability.md). :class:`AtomicCheckpointIO`
writes ``.<name>.<pid>.tmp`` in the target's folder, fsyncs it, ``os.replace``s it over the target (atomic on POSIX
within one filesystem) and fsyncs the folder. Temp files of killed saves are removed at the next save into that
folder and when a run starts (:func:`remove_stale_temp_files`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

log = logging.getLogger("seqlab")

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")

#: test hook: ``<point>:<marker file>`` pauses a save that overwrites an existing checkpoint at ``point`` (``write``:
#: the temp file holds half of its bytes, as a write cut short; ``replace``: temp file complete and fsynced, target
#: not yet replaced), after creating the marker file, so a test can kill the process there with a real signal
PAUSE_ENV = "SEQLAB_TEST_PAUSE_SAVE"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temp_files(folder: Path) -> int:
    """Remove temp files of saves whose process no longer exists (killed mid-save); returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        match = _TEMP.match(entry.name)
        if match and int(match["pid"]) != os.getpid() and not _alive(int(match["pid"])):
            entry.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d temp file(s) of interrupted checkpoint saves in %s", removed, folder)
    return removed


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pause(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(600)


def write_error(path: Path, err: BaseException) -> BaseException:
    """An ``OSError`` naming ``path`` and why (full disk, unwritable folder) for torch's failed-write error."""
    import errno
    import shutil

    folder = path.parent
    if not os.access(folder, os.W_OK):
        return PermissionError(errno.EACCES, "cannot write a checkpoint here (permission denied)", str(path))
    if shutil.disk_usage(folder).free < 2**20 or "write failed" in str(err) or "unexpected pos" in str(err):
        return OSError(errno.ENOSPC, "no space left on the disk while writing a checkpoint", str(path))
    return err


def atomic_save(checkpoint: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` so that a kill at any point leaves either the old or the new file, complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent)
    point, _, marker = os.environ.get(PAUSE_ENV, "").partition(":")
    paused = bool(point) and path.exists()  # only saves that overwrite a good checkpoint are worth pausing
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # hidden, in the same folder: the rename is atomic
    try:
        # torch writes the file from C++: no Python code (no signal handler) runs in the middle of the write, so a
        # second Ctrl+C surfaces after it, as itself, and the temp file is removed below
        try:
            torch.save(checkpoint, tmp)
        except RuntimeError as err:  # torch's C++ writer says "file write failed" without the OS's reason
            raise write_error(path, err) from None
        if paused and point == "write":  # as if killed mid-write: only the first half of the bytes on disk
            os.truncate(tmp, tmp.stat().st_size // 2)
            pause(Path(marker))
        _fsync(tmp)
        if paused and point == "replace":
            pause(Path(marker))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with :func:`atomic_save` for local paths (remote URLs keep Lightning's own).
    :attr:`saved_steps`: the step each path was last written at (a final save skips a file holding it already)."""

    def __init__(self) -> None:
        super().__init__()
        self.saved_steps: dict[str, int | None] = {}

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        from seqlab.models.module import take_checkpoint

        checkpoint = None if "://" in str(path) else take_checkpoint(path)  # read already by pre-flight and train.run
        if checkpoint is not None:
            return checkpoint
        return super().load_checkpoint(path, **({"map_location": map_location} if map_location else {}),
                                       weights_only=weights_only)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
        else:
            atomic_save(checkpoint, Path(path))
        self.saved_steps[str(path)] = checkpoint.get("global_step")
