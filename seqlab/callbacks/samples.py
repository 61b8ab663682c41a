"""Write generated samples during and after training."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from seqlab.errors import NonFiniteError
from seqlab.schema import callbacks as options

log = logging.getLogger("seqlab")


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run the block with ``module`` in eval mode (no dropout), then put its training mode back."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def generate(module: pl.LightningModule, skipped: str, **options: Any) -> list[list[int]]:
    """The head's samples (:meth:`Head.generate <seqlab.heads.Head.generate>` with ``options``), drawn in eval mode;
    none, with a warning that ``skipped`` are skipped, when the model's outputs are not finite."""
    with eval_mode(module):
        try:
            return module.model.head.generate(module.model, **options)
        except NonFiniteError as err:  # the non-finite guard decides about the run; a sample is just not possible
            log.warning(f"{skipped} skipped: {err}")
            return []


class SampleCallback(pl.Callback):
    """After each validation (and at the end of fit), sample from generating heads and save the text.

    Files: ``<dirpath>/step_<N>.txt`` and ``final.txt``, also logged to wandb and TensorBoard; other heads are skipped.
    """

    def __init__(
        self,
        dirpath: str,
        num_samples: int = options.Samples.num_samples,
        max_length: int = options.Samples.max_length,
        temperature: float = options.Samples.temperature,
        top_k: int | None = options.Samples.top_k,
        prompt: str = options.Samples.prompt,
        seed: int = 0,
    ):
        self.dirpath = Path(dirpath)
        self.options = dict(
            num_samples=num_samples, max_length=max_length, temperature=temperature, top_k=top_k, seed=seed
        )
        self.prompt = prompt

    def sample(self, module: pl.LightningModule) -> list[str]:
        model = module.model
        if not model.head.generates or model.head.generates_from_source:
            return []
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            log.warning("samples skipped: the model has non-finite weights")
            return []
        prompt_ids = model.spec.encode(self.prompt) if self.prompt else None
        ids = generate(module, "samples", prompt=prompt_ids, **self.options)
        return [self.prompt + model.spec.decode(s) for s in ids]

    def _write(self, trainer: pl.Trainer, module: pl.LightningModule, name: str) -> None:
        samples = self.sample(module)
        if not samples:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join(f"--- sample {i + 1} ---\n{s}" for i, s in enumerate(samples))
        (self.dirpath / name).write_text(text + "\n", encoding="utf-8")
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):  # TensorBoard
                experiment.add_text("samples", text.replace("\n", "  \n"), trainer.global_step)
            elif hasattr(logger, "log_text"):  # wandb
                logger.log_text(
                    "samples", columns=["step", "sample"], data=[[trainer.global_step, s] for s in samples]
                )

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, module, f"step_{trainer.global_step}.txt")

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._write(trainer, module, "final.txt")
