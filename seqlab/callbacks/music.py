"""Sample ABC tunes at the end of training, check them with music21, and keep the valid ones as .abc and .mid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only

from seqlab.data.abc_music import valid_tune, write_tune

RATE_KEY = "samples/valid_tune_rate"


class MusicSamplesCallback(pl.Callback):
    """At the end of fit, sample ``num_samples`` tunes and report the share music21 parses (the valid-tune rate).

    Works with generating heads over ABC data: ``many_to_many`` (language model; tunes start at ``<bos>``) and
    ``one_to_many`` (conditional generation; the tune types are taken in turn and written as the ``R:`` field).
    The rate is logged as ``samples/valid_tune_rate`` to every logger and printed; each valid tune is written as
    ``<dirpath>/tune_<i>.abc`` and ``.mid``, and ``<dirpath>/tunes.json`` lists every sample with its validity.
    Only rank 0 samples; heads that do not generate tunes from nothing (classifiers, translators) are skipped.
    """

    def __init__(
        self,
        dirpath: str,
        num_samples: int = 20,
        max_length: int = 800,
        temperature: float = 0.8,
        top_k: int | None = None,
        seed: int = 0,
    ):
        if num_samples < 1 or max_length < 1:
            raise ValueError("callbacks.music: num_samples and max_length must be at least 1")
        self.dirpath = Path(dirpath)
        self.num_samples, self.max_length = num_samples, max_length
        self.temperature, self.top_k, self.seed = temperature, top_k, seed
        self.rate: float | None = None

    def sample(self, module: pl.LightningModule) -> list[tuple[str, str]]:
        """``(tune type or "", ABC text)`` per sample; empty when the head does not generate."""
        model = module.model
        head = model.head
        if not head.generates or model.spec.task not in ("language_model", "conditional_generation"):
            return []
        options: dict[str, Any] = dict(
            num_samples=self.num_samples,
            max_length=self.max_length,
            temperature=self.temperature,
            top_k=self.top_k,
            seed=self.seed,
        )
        kinds = [""] * self.num_samples
        if model.spec.task == "conditional_generation":
            classes = model.spec.classes
            kinds = [classes[i % len(classes)] for i in range(self.num_samples)]
            options["condition"] = kinds
        was_training = module.training
        module.eval()
        try:
            ids = head.generate(model, **options)
        finally:
            module.train(was_training)
        return [(kind, model.spec.decode(s)) for kind, s in zip(kinds, ids)]

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        samples = self.sample(module)
        if not samples:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        report = []
        for i, (kind, text) in enumerate(samples, start=1):
            if kind and kind != "other":
                text = f"R:{kind}\n{text}"
            ok = valid_tune(text)
            if ok:
                write_tune(text, self.dirpath / f"tune_{i:03d}")
            report.append({"index": i, "type": kind, "valid": ok, "abc": text})
        valid = sum(r["valid"] for r in report)
        self.rate = valid / len(report)
        (self.dirpath / "tunes.json").write_text(
            json.dumps({RATE_KEY: self.rate, "tunes": report}, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        for logger in trainer.loggers:
            logger.log_metrics({RATE_KEY: self.rate}, step=trainer.global_step)
            logger.save()
        print(
            f"seqlab: {RATE_KEY} = {self.rate:.3f} ({valid}/{len(report)} sampled tunes parse with music21); "
            f"valid tunes written to {self.dirpath} as .abc and .mid",
            flush=True,
        )
