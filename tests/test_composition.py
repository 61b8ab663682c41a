"""Every shipped experiment composes and trains with every option of every group a user may swap after it:
``+experiment=X encoder=Y``, ``cell=Z``, ``head=...`` (where the data's task allows it), ``optimizer=...``,
``scheduler=...``, ``logger=...``, ``trainer=...``, ``callbacks=...``.

In process and real, for every case: Hydra composes the config (as ``python -m seqlab`` does, dropping a recipe's
options for a swapped-out choice), seqlab validates it, builds the datamodule (tiny), the model, optimizer and
scheduler, the loggers, the callbacks and the Lightning Trainer, checks that every monitored metric is one the head
logs, and takes one real optimizer step on a training batch. The options that act through the Trainer (``logger``,
``trainer``, ``callbacks``) are trained by ``Trainer.fit`` instead (one step, one validation batch) with a
language-model and a classification recipe (``FIT_EXPERIMENTS``). Combinations refused by design get their one-line
error instead: a head that does not serve the data's task, a bidirectional encoder for a language model or a
decoder, ``trainer=gpu``/``ddp`` without CUDA.
"""

from __future__ import annotations

import functools

import pytest
import torch
from omegaconf import OmegaConf

from seqlab.encoders.base import LEFT_TO_RIGHT_TASKS
from seqlab.errors import ConfigError
from seqlab.models.builder import build_module, check_monitored_metrics
from seqlab.paths import conf_dir
from seqlab.plugins import search_dirs
from seqlab.registry import HEADS
from seqlab.run.compose import compose_config, group_options
from seqlab.run.preflight import recipe_leftovers
from seqlab.run.scale import build_trainer
from seqlab.run.train import build_callbacks, build_datamodule, build_loggers
from seqlab.run.validation import validate

CONF = conf_dir()
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
#: groups a user may swap after an experiment (``data`` is the recipe itself; ``model`` has one option)
GROUPS = ("encoder", "cell", "head", "optimizer", "scheduler", "logger", "trainer", "callbacks", "debug")
NEEDS_CUDA = {"trainer": ("gpu", "ddp")}
#: small data and model, one step, one validation batch: what is checked is composition, not learning
TINY = [
    "model.embedding_dim=8",
    "model.encoder.hidden_size=16",
    "data.batch_size=4",
    "trainer.max_steps=1",
    "trainer.val_check_interval=1",
    "trainer.limit_val_batches=1",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]
#: data options that make each datamodule's build a moment (keys the datamodule has, by data name)
SMALL_DATA = {
    "tweets": ["data.num_examples=120"],
    "parallel": ["data.num_examples=120"],
    "adding": ["data.num_train=64", "data.num_val=16", "data.num_test=16", "data.seq_len=20"],
}


#: recipes whose data come from the hub: composed as shipped, built on the offline folder of the same format
OFFLINE_DATA = {"word_lm_pex": ["data.source=builtin:python_reference_wikitext"]}


def options(group: str) -> list[str]:
    """Every option of the group: config files and the components of seqlab.schema (as ``group=NAME`` finds them)."""
    found = group_options(group, search_dirs())
    assert found, f"config group {group} has no options"
    return found


#: groups whose options act through the Trainer: with the recipes below also trained by ``Trainer.fit`` (end to end,
#: ``-m e2e``: a language model and a classifier with its own callbacks); everywhere else the Trainer, its loggers and
#: callbacks are built, the monitored metrics checked, and the step is our own (the fast layer)
FIT_GROUPS = ("logger", "trainer", "callbacks")
FIT_EXPERIMENTS = ("char_rnn", "tweet_sentiment")


def fits(experiment: str, group: str) -> bool:
    return group in FIT_GROUPS and experiment in FIT_EXPERIMENTS


def swaps() -> list:
    """The whole matrix. The inner loop (``-m "not e2e"``) runs one diagonal of it — every option of every group once,
    with the experiments taken in turn so that each one is there several times — and CI runs the whole product."""
    pairs = [(group, option) for group in GROUPS for option in options(group)]
    n = len(EXPERIMENTS)
    diagonal = {
        (next(e for e in (EXPERIMENTS[(i + k) % n] for k in range(n)) if not fits(e, group)), group, option)
        for i, (group, option) in enumerate(pairs)
    }
    return [
        pytest.param(
            exp,
            group,
            option,
            id=f"{exp}-{group}={option}",
            marks=[] if (exp, group, option) in diagonal else [pytest.mark.e2e],
        )
        for exp in EXPERIMENTS
        for group, option in pairs
    ]


@functools.cache
def data_name(experiment: str) -> str:
    return compose_config([f"+experiment={experiment}"]).data.name


def head_fits(option: str, task: str) -> bool:
    """Whether ``head=option`` may serve the data's task (``auto`` always; a head's ``tasks`` otherwise)."""
    return option == "auto" or task in HEADS.get(option).tasks


@pytest.fixture(scope="module")
def datamodules(tmp_path_factory):
    """One prepared datamodule per data config, built on first use (keyed by the resolved data options)."""
    built: dict[str, object] = {}
    cache = tmp_path_factory.mktemp("composition-cache")

    def get(data_cfg: dict):
        key = repr(sorted(data_cfg.items()))
        if key not in built:
            datamodule = build_datamodule({**data_cfg, "cache_dir": str(cache)})
            datamodule.prepare_data()
            datamodule.setup("fit")
            built[key] = datamodule
        return built[key]

    return get


@pytest.mark.parametrize(("experiment", "group", "option"), swaps())
def test_every_experiment_trains_with_every_option_of_every_group(experiment, group, option, datamodules, tmp_path):
    data = data_name(experiment)
    overrides = [f"+experiment={experiment}", f"{group}={option}", *TINY, *SMALL_DATA.get(data, [])]
    overrides += OFFLINE_DATA.get(experiment, [])
    if group != "logger":
        overrides.append("logger=csv")  # wandb start-up is paid once per logger option, not in every case
    overrides += [f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    cfg = compose_config(overrides)
    leftovers = recipe_leftovers(overrides, composed=cfg)  # as `python -m seqlab` composes it
    if leftovers:
        cfg = compose_config(overrides + leftovers)
    validate(cfg, search_dirs())
    for name in ("samples", "music"):  # generation at the end of fit: a few tokens are enough here
        if cfg.callbacks.get(name):
            cfg.callbacks[name].update(num_samples=1, max_length=8)
    config = OmegaConf.to_container(cfg, resolve=True)
    datamodule = datamodules(config["data"])
    task = datamodule.spec.task
    if group == "head" and not head_fits(option, task):
        with pytest.raises(ConfigError, match=f"head={option} does not fit the data's task"):
            build_module(config, datamodule.spec)
        return
    every_step = config["model"]["head"].get("pool") == "none"  # a many-to-many regression head (forecast)
    if config["model"]["encoder"].get("bidirectional") and (task in LEFT_TO_RIGHT_TASKS or every_step):
        with pytest.raises(ConfigError, match="left-to-right (encoder|decoder)"):  # refused by design, in one line
            build_module(config, datamodule.spec)
        return
    module = build_module(config, datamodule.spec)
    loggers = build_loggers(config.get("logger"), config["experiment_name"])
    callbacks = build_callbacks(config.get("callbacks"))
    trainer_options = dict(config["trainer"])
    if option in NEEDS_CUDA.get(group, ()) and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no usable GPU"):
            build_trainer(trainer_options, callbacks=callbacks, logger=loggers or False)
        return
    if trainer_options.get("strategy") == "ddp_spawn":  # trainer=ddp_cpu: one process here (tests/test_ddp.py: two)
        trainer_options.update(devices=1, strategy="auto")
    trainer = build_trainer(
        trainer_options, callbacks=callbacks, logger=loggers or False, default_root_dir=str(tmp_path / "run")
    )
    check_monitored_metrics(config, module)
    if fits(experiment, group):
        trainer.fit(module, datamodule=datamodule)
        assert trainer.global_step == 1
        assert torch.isfinite(trainer.callback_metrics["val/loss"])
    else:
        one_training_step(module, datamodule)


def one_training_step(module, datamodule) -> None:
    """What the Trainer's step does, without the Trainer: forward, the head's loss, backward, optimizer (and
    scheduler) step — the weights must change and stay finite."""
    configured = module.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    batch = next(iter(datamodule.train_dataloader()))
    before = [p.detach().clone() for p in module.parameters() if p.requires_grad]
    loss = module.model.head.loss(module.model(batch), batch)
    loss.backward()
    optimizer.step()
    if isinstance(configured, dict):
        configured["lr_scheduler"]["scheduler"].step()
    elif module.plateau is not None:
        module.plateau.step(float(loss))
    after = [p.detach() for p in module.parameters() if p.requires_grad]
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "the step changed no weight"
    assert all(torch.isfinite(a).all() for a in after)


def test_swapping_a_group_after_a_recipe_drops_only_the_recipes_options_for_the_replaced_choice(capsys):
    assert recipe_leftovers(["+experiment=abc_conditional", "head=many_to_many"]) == [
        "~model.head.condition_init",
        "~model.head.condition_input",
    ]
    assert "do not apply to head=many_to_many; dropped" in capsys.readouterr().err
    assert recipe_leftovers(["+experiment=abc_conditional", "head=one_to_many"]) == []  # the recipe's own choice
    # a key the command line sets itself is the user's: kept, and validated like any other
    own = ["+experiment=abc_conditional", "head=many_to_many", "model.head.condition_input=false"]
    assert recipe_leftovers(own) == ["~model.head.condition_init"]
    assert recipe_leftovers(["cell=gru"]) == []  # no recipe, nothing to drop
    # callbacks: the settings of the music recipe's `music` callback go with callbacks=default; a callback a recipe
    # adds whole (tweet_sentiment's bag-of-words baseline) stays
    assert recipe_leftovers(["+experiment=abc_music", "callbacks=default"]) == ["~callbacks.music"]
    assert recipe_leftovers(["+experiment=tweet_sentiment", "callbacks=default"]) == []
