"""Options of seqlab's callbacks, and the ``callbacks`` group's options built from them: ``default`` (every run) and
``music`` (plus ABC tune sampling). Lightning's callbacks keep Lightning's options; seqlab's settings are here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from seqlab.schema.core import option

#: callback name → (``_target_``, options dataclass): seqlab's callbacks, checked against their schema
CALLBACKS: dict[str, tuple[str, type]] = {}


def callback(name: str, target: str):
    """Make a class of :func:`~seqlab.schema.core.option` fields a dataclass: the options of the callback ``name``."""

    def add(cls: type) -> type:
        cls = dataclass(cls)
        CALLBACKS[name] = (target, cls)
        return cls

    return add


@callback("samples", "seqlab.callbacks.samples.SampleCallback")
class Samples:
    dirpath: str = option("${paths.output_dir}/samples")
    num_samples: int = option(3, ge=0)
    max_length: int = option(300, ge=1, help="tokens per sample")
    temperature: float = option(0.8, gt=0, help="softmax temperature of sampling")
    top_k: int | None = option(None, ge=1, help="null: sample from every token")
    prompt: str = option("")
    seed: int = option("${seed}", ge=0)


@callback("nonfinite", "seqlab.callbacks.reliability.NonFiniteGuard")
class NonFinite:
    # skip: drop the step, count it (train/nonfinite_steps) | stop: save and stop with a message
    action: Literal["skip", "stop"] = option("skip")
    max_skips: int = option(100, ge=0, help="stop anyway after this many skipped steps")
    dirpath: str = option("${paths.output_dir}/checkpoints")


@callback("gradient_flow", "seqlab.callbacks.gradient_flow.GradientFlowCallback")
class GradientFlow:
    dirpath: str = option("${paths.output_dir}/gradient_flow")
    interval: int = option(10, ge=1, help="record every trainer.log_every_n_steps × interval steps (and the first)")
    every_n_steps: int | None = option(None, ge=1, help="or a fixed number of steps")
    max_history: int = option(200, ge=1, help="recordings kept for the plots")
    plots: bool = option(True, help="draw the heat maps and line plots (PNG) at each validation and at the end")


@callback("throughput", "seqlab.callbacks.throughput.ThroughputMonitor")
class Throughput:
    dirpath: str = option("${paths.output_dir}")
    warmup_steps: int = option(10, ge=0, help="untimed first steps (allocator, kernels, compilation)")


# the count model beside every language model: interpolated Kneser-Ney (Chen & Goodman 1998), counted on the same
# train split and scored on the same val/test targets; KN5 is the n-gram baseline of Mikolov et al. 2011 (PTB).
# baseline/ngram_* in metrics.json; skipped for other tasks; ~1 s on the default data
@callback("ngram_baseline", "seqlab.experiments.ngram.NGramBaseline")
class NGramBaseline:
    order: int = option(5, ge=1)


# ABC tune sampling at the end of fit: the strict valid-tune rate, parse rate and bar accuracy (music21), valid tunes
# as .abc and .mid, and every sample as sheet music in tunes/index.html
@callback("music", "seqlab.callbacks.music.MusicSamplesCallback")
class Music:
    dirpath: str = option("${paths.output_dir}/tunes")
    num_samples: int = option(20, ge=1)
    max_length: int = option(800, ge=1)
    temperature: float = option(0.8, gt=0)
    top_k: int | None = option(None, ge=1)
    seed: int = option("${seed}", ge=0)
    # final: the weights training ended with | best: the best validation's (callbacks.model_checkpoint)
    weights: Literal["final", "best"] = option("final")


#: seqlab's settings of Lightning's callbacks (their options are Lightning's)
LIGHTNING: dict[str, dict[str, Any]] = {
    "model_checkpoint": {
        "_target_": "seqlab.callbacks.checkpoints.RunCheckpoint",
        "dirpath": "${paths.output_dir}/checkpoints", "filename": "best", "monitor": "val/loss", "mode": "min",
        # last.ckpt is last_checkpoint's: since Lightning 2.6, save_last writes last.ckpt only at a validation that
        # improved the monitored metric, so it went stale when training went on
        "save_last": False, "save_top_k": 1, "auto_insert_metric_name": False, "enable_version_counter": False,
    },
    # checkpoints/last.ckpt at every validation, whatever the metric did (ckpt_path=last resumes it); an interrupt
    # and the end of fit also save there
    "last_checkpoint": {
        "_target_": "seqlab.callbacks.checkpoints.RunCheckpoint",
        "dirpath": "${paths.output_dir}/checkpoints", "filename": "last", "monitor": None, "save_top_k": 1,
        "enable_version_counter": False,
    },
    "lr_monitor": {"_target_": "pytorch_lightning.callbacks.LearningRateMonitor", "logging_interval": "step"},
}
#: the named callbacks of every run, in order; switch one off with callbacks.NAME=null
DEFAULT = ("model_checkpoint", "last_checkpoint", "samples", "lr_monitor", "nonfinite", "gradient_flow",
           "throughput", "ngram_baseline")
#: the ``callbacks`` group's options
GROUP = {"default": DEFAULT, "music": (*DEFAULT, "music")}


def node(name: str) -> dict[str, Any]:
    """One named callback's config: ``_target_`` and its settings."""
    if name in LIGHTNING:
        return dict(LIGHTNING[name])
    target, options = CALLBACKS[name]
    return {"_target_": target, **asdict(options())}


def group_option(option: str) -> dict[str, Any]:
    return {name: node(name) for name in GROUP[option]}
