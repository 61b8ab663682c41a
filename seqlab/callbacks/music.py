"""Sample ABC tunes at the end of training and check them with music21 (:class:`MusicSamplesCallback`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from seqlab.callbacks.gradient_flow import log_at_step
from seqlab.callbacks.samples import generate
from seqlab.errors import ConfigError
from seqlab.models.module import load_checkpoint
from seqlab.music.abc import check_tune, write_tune
from seqlab.music.tunes_page import write_tunes_page
from seqlab.schema import callbacks as options

#: the share of samples that pass the strict check (:func:`seqlab.music.abc.valid_tune`)
RATE_KEY = "samples/valid_tune_rate"
#: the share that music21 merely parses (the lenient check, :func:`seqlab.music.abc.parses_tune`)
PARSE_KEY = "samples/parse_rate"
#: over all samples, the share of complete bars whose duration fills the meter (0 when no sample has a bar)
BAR_KEY = "samples/bar_accuracy"
#: what ``tunes.json`` records of each sample's :class:`~seqlab.music.abc.TuneCheck`
CHECKS = ("valid", "parses", "bars", "matching")


class MusicSamplesCallback(pl.Callback):
    """At the end of fit, sample ``num_samples`` tunes and report the share music21 parses (the valid-tune rate).

    Works with generating heads over ABC data: ``many_to_many`` (language model; tunes start at ``<bos>``) and
    ``one_to_many`` (conditional generation; the tune types are taken in turn and written as the ``R:`` field).
    Each sample is checked with :func:`seqlab.music.abc.check_tune`; :data:`RATE_KEY`, :data:`PARSE_KEY` and
    :data:`BAR_KEY` are logged and printed. Valid tunes are written as ``<dirpath>/tune_<i>.abc`` and ``.mid``, every
    sample to ``tunes.json`` and, as sheet music, to ``index.html``. ``weights``: ``final`` (those training ended with)
    or ``best`` (the best validation's, :meth:`sample_from_best`). Heads that do not generate from nothing are skipped.
    """

    def __init__(
        self,
        dirpath: str,
        num_samples: int = options.Music.num_samples,
        max_length: int = options.Music.max_length,
        temperature: float = options.Music.temperature,
        top_k: int | None = options.Music.top_k,
        seed: int = 0,
        weights: str = options.Music.weights,
    ):
        self.weights = weights
        self.used, self.step = weights, 0  # the weights last sampled from, and their training step
        self.dirpath = Path(dirpath)
        self.options = dict(
            num_samples=num_samples, max_length=max_length, temperature=temperature, top_k=top_k, seed=seed
        )
        self.rates: dict[str, float] = {}

    def sample(self, module: pl.LightningModule) -> list[tuple[str, str]]:
        """``(tune type or "", ABC text)`` per sample; empty when the head does not generate."""
        model = module.model
        if not model.head.generates or model.spec.task not in ("language_model", "conditional_generation"):
            return []
        options = dict(self.options)
        kinds = [""] * options["num_samples"]
        if model.spec.task == "conditional_generation":
            classes = model.spec.classes
            kinds = [classes[i % len(classes)] for i in range(len(kinds))]
            # a list of conditions asks for num_samples of each: one sample per listed type
            options.update(condition=kinds, num_samples=1)
        ids = generate(module, "tunes", **options)
        return [(kind, model.spec.decode(s)) for kind, s in zip(kinds, ids)]

    @staticmethod
    def best_checkpoint(trainer: pl.Trainer) -> ModelCheckpoint | None:
        """The ModelCheckpoint that keeps the best validation's weights (it monitors a metric), if any."""
        return next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.weights == "best" and self.best_checkpoint(trainer) is None:
            raise ConfigError(
                "callbacks.music.weights=best needs a ModelCheckpoint that monitors a metric "
                "(callbacks.model_checkpoint); set callbacks.music.weights=final or keep that callback"
            )

    def sample_from_best(self, trainer: pl.Trainer, module: pl.LightningModule) -> list[tuple[str, str]]:
        """Samples from the best validation's weights (the final ones, said in ``used``, when no validation saved
        any), then the final weights are put back."""
        path = self.best_checkpoint(trainer).best_model_path
        if not path or not Path(path).is_file():
            self.used = "final"
            return self.sample(module)
        final = {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}
        checkpoint = load_checkpoint(path)
        module.load_state_dict(checkpoint["state_dict"])
        self.step = int(checkpoint.get("global_step", trainer.global_step))
        try:
            return self.sample(module)
        finally:
            module.load_state_dict(final)

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.used, self.step = self.weights, trainer.global_step  # sample_from_best sets the best weights' step
        samples = self.sample_from_best(trainer, module) if self.weights == "best" else self.sample(module)
        if not samples:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        report = []
        for i, (kind, text) in enumerate(samples, start=1):
            if kind and kind != "other":
                text = f"R:{kind}\n{text}"
            check = check_tune(text)
            if check.valid:
                write_tune(text, self.dirpath / f"tune_{i:03d}")
            report.append({"index": i, "type": kind, **{k: getattr(check, k) for k in CHECKS}, "abc": text})
        valid = sum(r["valid"] for r in report)
        bars = sum(r["bars"] for r in report)
        rate = valid / len(report)
        self.rates = {
            RATE_KEY: rate,
            PARSE_KEY: sum(r["parses"] for r in report) / len(report),
            BAR_KEY: sum(r["matching"] for r in report) / bars if bars else 0.0,
        }
        about = {"weights": self.used, "weights_step": self.step}
        (self.dirpath / "tunes.json").write_text(
            json.dumps({**self.rates, **about, "tunes": report}, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        page = write_tunes_page(
            self.dirpath / "index.html",
            report,
            f"seqlab — tunes sampled from the weights of step {self.step} ({self.dirpath.parent.name})",
            {**self.rates, "samples": len(report), "temperature": self.options["temperature"], **about},
        )
        log_at_step(trainer, self.rates, trainer.global_step)
        print(
            f"seqlab: {RATE_KEY} = {rate:.3f} ({valid}/{len(report)} sampled tunes parse with music21 and fill "
            f"their meter in every complete bar, at least 4 bars); {PARSE_KEY} = {self.rates[PARSE_KEY]:.3f}; "
            f"{BAR_KEY} = {self.rates[BAR_KEY]:.3f}; valid tunes written to {self.dirpath} as .abc and .mid; "
            f"all shown in {page}",
            flush=True,
        )
