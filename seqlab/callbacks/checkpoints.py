"""Checkpoints of a run's own folder: the final weights always saved, and paths that move with the folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

#: the metrics a run reports from its last validation (besides ``test/*``, measured after fit)
RESULT_PREFIXES = ("val/", "baseline/")


class FinalCheckpoint(pl.Callback):
    """Save ``<dirpath>/last.ckpt`` of the final weights when fit ends, unless it holds them already.

    A run stopped by ``max_steps`` is saved at its last batch (mid-epoch, so ``ckpt_path=last`` with a larger
    ``max_steps`` continues as an uninterrupted run would), any other end when training ends. :attr:`results`
    holds the last validation's ``val/*`` metrics and travels in the checkpoint: a resumed finished run reports them."""

    def __init__(self, dirpath: str | Path):
        self.dirpath = Path(dirpath)
        self.results: dict[str, float] = {}

    @property
    def path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if 0 < trainer.max_steps <= trainer.global_step and not already_saved(trainer, self.path):
            trainer.save_checkpoint(self.path)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.results = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(RESULT_PREFIXES)}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step > 0 and not already_saved(trainer, self.path):
            trainer.save_checkpoint(self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"results": dict(self.results)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = dict(state_dict.get("results", {}))


def already_saved(trainer: pl.Trainer, path: Path) -> bool:
    """True when ``path`` was last written at this very step (by a validation's checkpoint, an interrupt, ...), as
    :class:`~seqlab.run.checkpoint_io.AtomicCheckpointIO` records every save. Only global rank 0 writes files, so its
    answer is broadcast: every rank then saves, or none does (``trainer.save_checkpoint`` waits for all ranks)."""
    saved = getattr(trainer.strategy.checkpoint_io, "saved_steps", {})
    return bool(trainer.strategy.broadcast(saved.get(str(path)) == trainer.global_step, src=0))


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose restored paths are re-rooted in its own ``dirpath``.

    Lightning keeps the absolute ``best_model_path`` of the folder that wrote the checkpoint; in a moved folder that
    file is gone (the test phase fails), in a copied one it is the *original* folder's, which the copy would test and
    then delete when it finds a better model. Here the paths are stored as file names and re-rooted on load."""

    def state_dict(self) -> dict[str, Any]:
        """Lightning's state, with the paths of checkpoints in ``dirpath`` stored as file names (relative to it) and
        ``dirpath`` as its own name: nothing in the file points at the folder it was written in."""
        state = super().state_dict()
        if not self.dirpath:
            return state
        root = Path(self.dirpath)
        return _paths_mapped(state, root.name, lambda p: Path(p).name if Path(p).parent == root else p)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dir = state_dict.get("dirpath")
        if self.dirpath is not None and saved_dir is not None and saved_dir != self.dirpath:
            state_dict = _paths_mapped(state_dict, self.dirpath, lambda p: str(Path(self.dirpath) / Path(p).name))
        super().load_state_dict(state_dict)


def _paths_mapped(state: dict[str, Any], dirpath: str, path: Callable[[str], str]) -> dict[str, Any]:
    """A copy of a ``ModelCheckpoint`` state with ``dirpath`` and every remembered path (unless empty) mapped."""
    mapped = dict(state, dirpath=dirpath)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if mapped.get(key):
            mapped[key] = path(mapped[key])
    if "best_k_models" in mapped:
        mapped["best_k_models"] = {path(k): v for k, v in mapped["best_k_models"].items()}
    return mapped
