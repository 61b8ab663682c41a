"""Lightning callbacks used by the experiments: a bag-of-words baseline, attention maps, gradient-flow history."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor

from seqlab.callbacks.gradient_flow import GradientFlowCallback, log_at_step
from seqlab.callbacks.samples import eval_mode
from seqlab.heads.seq2seq import Seq2SeqHead
from seqlab.paths import write_json

BOW_VAL_ACCURACY = "baseline/bow_val_accuracy"
BOW_TRAIN_ACCURACY = "baseline/bow_train_accuracy"


def bag_of_words(inputs: Tensor, lengths: Tensor, vocab_size: int) -> Tensor:
    """Token ids ``(B, T)`` with real ``lengths (B,)`` → word counts ``(B, V)`` (padding not counted).

    >>> bag_of_words(torch.tensor([[4, 5, 4], [6, 0, 0]]), torch.tensor([3, 1]), 7)
    tensor([[0., 0., 0., 0., 2., 1., 0.],
            [0., 0., 0., 0., 0., 0., 1.]])
    """
    real = (torch.arange(inputs.shape[1])[None, :] < lengths[:, None]).float()
    counts = torch.zeros(inputs.shape[0], vocab_size)
    return counts.scatter_add_(1, inputs.long(), real)


def collect_bags(loader: Any, vocab_size: int) -> tuple[Tensor, Tensor]:
    """Every batch of a classification loader → ``(counts (N, V), targets (N,))``."""
    bags, targets = [], []
    for batch in loader:
        bags.append(bag_of_words(batch["inputs"], batch["lengths"], vocab_size))
        targets.append(batch["targets"])
    return torch.cat(bags), torch.cat(targets)


def publish(trainer: pl.Trainer, results: dict[str, float]) -> None:
    """Figures computed at the end of fit go where the run's own metrics go: ``trainer.callback_metrics`` (so
    ``metrics.json`` holds them) and every logger."""
    for key, value in results.items():
        trainer.callback_metrics[key] = torch.tensor(value)
    log_at_step(trainer, results, trainer.global_step)


class BagOfWordsBaseline(pl.Callback):
    """At the end of fit, train a logistic regression on bag-of-words counts of the training split and score it on
    the validation split: what word identity alone reaches on this data, with no word order.

    For any classification datamodule (``inputs``, ``lengths``, ``targets``); the accuracies are published and printed.
    """

    def __init__(self, steps: int = 300, lr: float = 0.1, weight_decay: float = 1e-4):
        self.steps, self.lr, self.weight_decay = steps, lr, weight_decay

    def evaluate(self, datamodule: Any) -> dict[str, float]:
        """Fit on the training split, score both splits: ``{metric key: accuracy}``."""
        spec = datamodule.spec
        train_x, train_y = collect_bags(datamodule.train_dataloader(), spec.vocab_size)
        val_x, val_y = collect_bags(datamodule.val_dataloader(), spec.vocab_size)
        train_x, val_x = train_x.log1p(), val_x.log1p()
        # multinomial logistic regression on the log1p counts, full-batch Adam
        torch.manual_seed(0)
        layer = torch.nn.Linear(train_x.shape[1], spec.num_classes)
        optimizer = torch.optim.Adam(layer.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.steps):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(layer(train_x), train_y).backward()
            optimizer.step()
        with torch.no_grad():
            train_accuracy = (layer(train_x).argmax(-1) == train_y).float().mean()
            val_accuracy = (layer(val_x).argmax(-1) == val_y).float().mean()
        return {BOW_TRAIN_ACCURACY: float(train_accuracy), BOW_VAL_ACCURACY: float(val_accuracy)}

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.model.spec.task != "classification" or trainer.datamodule is None:
            return
        started = time.perf_counter()
        results = self.evaluate(trainer.datamodule)
        publish(trainer, results)
        model_accuracy = trainer.callback_metrics.get("val/accuracy")
        versus = f" (the model: val/accuracy = {float(model_accuracy):.3f})" if model_accuracy is not None else ""
        print(f"seqlab: {BOW_VAL_ACCURACY} = {results[BOW_VAL_ACCURACY]:.3f}{versus}; bag-of-words logistic "
              f"regression fitted in {time.perf_counter() - started:.1f} s", flush=True)


class AttentionMapsCallback(pl.Callback):
    """At the end of fit, translate the first ``num_examples`` validation sources greedily and save one attention
    heat map each (target steps × source tokens) as ``<dirpath>/attention_<i>.png``. Heads other than ``seq2seq``
    (:meth:`~seqlab.heads.seq2seq.Seq2SeqHead.save_attention_maps`) are skipped."""

    def __init__(self, dirpath: str, num_examples: int = 4):
        if num_examples < 1:
            from seqlab.errors import ConfigError

            raise ConfigError(f"callbacks.attention_maps.num_examples must be at least 1, got {num_examples}")
        self.dirpath = Path(dirpath)
        self.num_examples = num_examples

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        head = pl_module.model.head
        if not isinstance(head, Seq2SeqHead) or trainer.datamodule is None:
            return
        sources: list[list[int]] = []
        for batch in trainer.datamodule.val_dataloader():
            for ids, length in zip(batch["inputs"], batch["lengths"]):
                sources.append(ids[: int(length)].tolist())
            if len(sources) >= self.num_examples:
                break
        with eval_mode(pl_module), torch.no_grad():
            paths = head.save_attention_maps(pl_module.model, sources[: self.num_examples], self.dirpath)
        if paths:
            print(f"seqlab: {len(paths)} attention heat maps written to {self.dirpath}", flush=True)


class GradientHistoryCallback(pl.Callback):
    """At the end of fit, write the :class:`~seqlab.callbacks.gradient_flow.GradientFlowCallback`'s recorded curves
    as JSON, ``{label: [{"step": training step, "norms": [curve]}]}``, into ``path`` — so sweeps can compare gradient
    flow across runs after the processes are gone. Labels: those of ``GradientFlowCallback.history``."""

    def __init__(self, path: str):
        self.path = Path(path)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        flows = [c for c in trainer.callbacks if isinstance(c, GradientFlowCallback)]
        if not flows:
            return
        history = {
            label: [{"step": step, "norms": norms} for step, norms in records]
            for label, records in flows[0].history.items()
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.path, history)
