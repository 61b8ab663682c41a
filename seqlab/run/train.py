"""Training entry point: data → model → module → Trainer, from one composed Hydra config."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqlab.errors import CheckpointError, RunInterrupted
from seqlab.models.builder import model_options
from seqlab.models.module import load_checkpoint
from seqlab.paths import write_json
from seqlab.registry import DATAMODULES, ConfigError

log = logging.getLogger("seqlab")


def build_datamodule(data_cfg: dict[str, Any]):
    """``cfg.data`` → a prepared datamodule of the registered class ``data.name``."""
    import seqlab.data  # noqa: F401  (registers the built-ins)

    options = dict(data_cfg)
    cls = DATAMODULES.get(options.pop("name"))
    try:
        return cls(**options)
    except TypeError as err:
        raise ConfigError(f"data: {cls.__name__} does not accept these options ({err})") from None


def wandb_mode(requested: str) -> str:
    """``auto`` → ``online`` when wandb credentials exist, else ``offline`` (sync later with ``wandb sync``)."""
    if requested != "auto":
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    return "online" if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore") else "offline"


def build_loggers(logger_cfg: dict[str, Any] | None, experiment_name: str = "seqlab") -> list[Any]:
    from hydra.utils import instantiate

    from seqlab.run.scale import wandb_names

    loggers = []
    for name, conf in (logger_cfg or {}).items():
        if not conf:
            continue
        conf = dict(conf)
        if name == "wandb" or conf.get("_target_", "").endswith("WandbLogger"):
            conf["mode"] = wandb_mode(conf.get("mode", "auto"))
            conf.update(wandb_names(conf.get("group"), conf.get("name"), experiment_name))
            save_dir = Path(conf.get("save_dir", ".")).resolve()
            save_dir.mkdir(parents=True, exist_ok=True)
            # trainer=ddp_cpu's processes write this run's media under WANDB_DIR (else ./wandb): point it at the run's
            # folder, unless the user set it (one seqlab set for an earlier sweep job is replaced)
            if "WANDB_DIR" not in os.environ or os.environ.get("SEQLAB_WANDB_DIR") == os.environ["WANDB_DIR"]:
                os.environ["WANDB_DIR"] = os.environ["SEQLAB_WANDB_DIR"] = str(save_dir)
        loggers.append(instantiate(conf))
    return loggers


def build_callbacks(callbacks_cfg: dict[str, Any] | None) -> list[Any]:
    from hydra.utils import instantiate

    return [instantiate(conf) for conf in (callbacks_cfg or {}).values() if conf]


def out_of_memory(err: BaseException) -> bool:
    """A failed allocation (CPU: "not enough memory", "can't allocate memory"; CUDA: ``torch.OutOfMemoryError``)."""
    text = str(err).lower()
    phrases = ("not enough memory", "out of memory", "can't allocate memory", "cannot allocate memory")
    return isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError" or any(p in text for p in phrases)


def memory_error(stage: str, model: dict[str, Any], err: BaseException) -> ConfigError:
    first = next((line for line in str(err).splitlines() if "memory" in line.lower()), type(err).__name__)
    encoder = model.get("encoder", {})
    return ConfigError(
        f"out of memory {stage} (model.encoder.hidden_size={encoder.get('hidden_size')}, "
        f"num_layers={encoder.get('num_layers', 1)}, model.embedding_dim={model.get('embedding_dim')}, "
        f"data.batch_size): {first.strip()[:200]}; use a smaller model or batch"
    )


def run(cfg: DictConfig) -> float | None:
    """Train (and test) one composed, validated config (never the command line); returns ``cfg.optimized_metric``."""
    import pytorch_lightning as pl
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from seqlab.callbacks.checkpoints import RESULT_PREFIXES, FinalCheckpoint
    from seqlab.callbacks.reliability import GracefulInterrupt, TrainingInterrupted
    from seqlab.display.console import print_results
    from seqlab.models.builder import build_module, check_monitored_metrics
    from seqlab.run.allocator import configure_cpu_allocator
    from seqlab.run.checkpoint_io import AtomicCheckpointIO, remove_stale_temp_files
    from seqlab.run.folders import spec_mismatch, training_started
    from seqlab.run.scale import build_trainer, is_rank_zero, per_device_batch_size, strategy_for_sweep

    config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    configure_cpu_allocator(config.get("cpu_allocator", "retain"))
    output_dir = Path(config["paths"]["output_dir"])
    pl.seed_everything(config["seed"], workers=True, verbose=False)

    datamodule = build_datamodule(config["data"])
    datamodule.prepare_data()
    datamodule.setup("fit")
    spec = datamodule.spec
    # the checkpoint read weights-only: a missing, corrupt or foreign file fails here with one clear line
    ckpt_path = config.get("ckpt_path") or None
    checkpoint = load_checkpoint(ckpt_path) if ckpt_path else None
    checkpoint_step = None if checkpoint is None else int(checkpoint.get("global_step", 0))
    if checkpoint is not None:  # the data must give the vocabulary and classes the checkpoint was trained with
        if problem := spec_mismatch(checkpoint["seqlab"]["spec"], spec.to_dict()):
            raise CheckpointError(f"ckpt_path={ckpt_path}: does not match the data ({problem}); resume with the "
                                  "run's own data options, or start a new run without ckpt_path")
        del checkpoint  # Lightning reads the file again when fit starts
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(output_dir / "checkpoints")
    if is_rank_zero():
        if not (ckpt_path and (output_dir / "vocab.json").is_file()):  # a resume keeps the run's own vocab.json
            spec.vocab.save(output_dir / "vocab.json")
        datamodule.save_split_report(output_dir)  # data_splits.json: split sizes, duplicates grouped, overlaps

    model_config = model_options(config["model"])
    try:
        module = build_module(config, spec)  # pretrained vectors loaded, plugins recorded
    except (RuntimeError, MemoryError) as err:
        if not out_of_memory(err):
            raise
        raise memory_error("building the model", model_config, err) from None
    check_monitored_metrics(config, module)  # a monitor the head never logs: one line now, not at the first validation
    log.info(
        "model: %s parameters, head %s, encoder path %s",
        f"{sum(p.numel() for p in module.parameters()):,}",
        module.model.head_name,
        module.model.encoder.resolve_path(),
    )

    loggers = build_loggers(config.get("logger"), config.get("experiment_name", "seqlab"))
    if checkpoint_step is not None:  # rows logged past the checkpoint (before a kill) are dropped: each step once
        resume_loggers(loggers, checkpoint_step)
    callbacks = build_callbacks(config.get("callbacks"))
    final = FinalCheckpoint(output_dir / "checkpoints")
    interrupt = GracefulInterrupt(str(output_dir / "checkpoints"))
    callbacks += [final, interrupt]  # in this order: the final save comes before a late signal stops the run
    trainer_options = strategy_for_sweep(dict(config["trainer"]))
    trainer = build_trainer(
        trainer_options, callbacks=callbacks, logger=loggers or False, default_root_dir=str(output_dir),
        plugins=[AtomicCheckpointIO()],  # kill-safe saves: temp file beside the target, fsync, os.replace
    )
    datamodule.batch_size = per_device_batch_size(datamodule.batch_size, trainer.world_size)
    if trainer.world_size > 1:
        log.info("data.batch_size is global: %d processes × %d", trainer.world_size, datamodule.batch_size)
    training_started()  # from here on the run folder is a run's record, whatever happens
    try:
        try:
            # outside GracefulInterrupt's loop a signal stops the run at once (final weights are saved before samples)
            with interrupts_raise("fit, outside the training loop (setup, or the end-of-fit samples and checks)"):
                trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        except TrainingInterrupted:  # saved at a batch boundary; stop_if_unsafe says so and exits 130/143
            pass
        except SIGTERMException:  # Lightning's own SIGTERM handling stops the loop with this exception
            interrupt.signal_name = interrupt.signal_name or "SIGTERM"
            if interrupt.checkpoint is None:
                interrupt.checkpoint = output_dir / "checkpoints" / "last.ckpt"
                trainer.save_checkpoint(interrupt.checkpoint)
        except (RuntimeError, MemoryError) as err:
            if not out_of_memory(err):
                raise
            raise memory_error(f"training (step {trainer.global_step})", model_config, err) from None
        except ValueError as err:  # Lightning checks the validation interval against the data only when fit starts
            if "val_check_interval" not in str(err):
                raise
            first = str(err).strip().splitlines()[0].strip()
            raise ConfigError(f"trainer.val_check_interval={trainer_options.get('val_check_interval')}, "
                              f"trainer.check_val_every_n_epoch={trainer_options.get('check_val_every_n_epoch')}: "
                              f"{first}") from None
        stop_if_unsafe(interrupt, callbacks)
        results = {**final.results, **{k: float(v) for k, v in trainer.callback_metrics.items()
                                       if k.startswith(RESULT_PREFIXES)}}
        if config.get("test") and not trainer_options.get("fast_dev_run"):
            weights, step, path = test_weights(trainer, output_dir)
            with interrupts_raise(f"testing; the final weights are saved in {final.path}"):
                trainer.test(module, datamodule=datamodule, ckpt_path=path, verbose=False, weights_only=True)
            results.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
            results.update(test_weights=weights, test_weights_step=step)
    finally:
        finish_wandb(loggers)
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", results, indent=2, sort_keys=True)
        print_results(results, output_dir)  # val and test side by side
    metric = config.get("optimized_metric")
    return results.get(metric) if metric else None


def test_weights(trainer: Any, output_dir: Path) -> tuple[str, int, str | None]:
    """Which weights the test uses, with their step and ``ckpt_path``: the run's own ``best.ckpt``, else ``last``."""
    callback = trainer.checkpoint_callback
    best = Path(callback.best_model_path) if callback is not None and callback.best_model_path else None
    if best is not None and best.is_file() and best.resolve().parent == (output_dir / "checkpoints").resolve():
        return "best", int(load_checkpoint(best).get("global_step", -1)), str(best)
    return "last", int(trainer.global_step), None


@contextlib.contextmanager
def interrupts_raise(phase: str):
    """SIGINT/SIGTERM during ``phase`` raise :class:`~seqlab.errors.RunInterrupted` at once; the job reports it in
    one line and exits 130/143 (Lightning's SIGTERM notice in fit and test calls this handler too)."""
    import signal

    def handle(signum: int, frame: Any) -> None:
        raise RunInterrupted(signal.Signals(signum).name, phase)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def resume_loggers(loggers: list[Any], step: int) -> None:
    """Drop log rows at steps ≥ ``step`` (after the resumed checkpoint, before a kill): ``metrics.csv``, TensorBoard."""
    for logger in loggers:
        if hasattr(logger, "resume_at"):
            logger.resume_at(step)
        elif type(logger).__name__ == "TensorBoardLogger":
            logger._kwargs["purge_step"] = step  # SummaryWriter drops its events at steps >= purge_step


class RunStopped(SystemExit):
    """Training stopped early on purpose (a signal, or a non-finite step with ``action=stop``)."""


def stop_if_unsafe(interrupt: Any, callbacks: list[Any]) -> None:
    """Exit non-zero, naming the saved checkpoint, when a signal or the non-finite guard stopped the run."""
    from seqlab.callbacks.reliability import NonFiniteGuard

    if interrupt.signal_name:
        print(f"seqlab: interrupted by {interrupt.signal_name}; checkpoint saved to {interrupt.checkpoint}; "
              "resume with the same command plus ckpt_path=last", file=sys.stderr, flush=True)
        raise RunStopped(130 if interrupt.signal_name == "SIGINT" else 143)
    for guard in callbacks:
        if isinstance(guard, NonFiniteGuard) and guard.stopped_at is not None:
            print(f"seqlab: error: non-finite loss or gradient at step {guard.stopped_at}; weights before it saved "
                  f"to {guard.checkpoint}. Look at the gradient-flow metrics (grad_norm/*) for exploding "
                  "gradients and lower the learning rate or clip harder (trainer.gradient_clip_val)",
                  file=sys.stderr, flush=True)
            raise RunStopped(1)


def finish_wandb(loggers: list[Any]) -> None:
    """Close wandb runs even when training failed, so offline runs stay complete and syncable."""
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish()
