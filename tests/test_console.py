"""The console of a run: one bar over the whole run with an ETA, a quiet default (≤ 25 lines for the default
experiment, no third-party tips or deprecation lines), ``verbose=true`` for everything, the full log in
``config.log``, and one results table with val and test side by side."""

from __future__ import annotations

import logging
import re
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from support.runs import TINY, cli_env, run_dirs
from support.terminal import run_in_terminal, screen_lines
from torch.utils.data import DataLoader

from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.display import console, progress
from seqlab.display.progress import RunConsole, RunProgressBar, duration, faster_setting, total_steps
from seqlab.models.builder import make_module
from seqlab.spec import DataSpec

#: a 30-step run of the default experiment, validated twice, with its default loggers (CSV, TensorBoard, wandb)
THIRTY_STEPS = ["trainer.max_steps=30", "trainer.val_check_interval=15", "trainer.limit_val_batches=2",
                "trainer.limit_test_batches=2"]
#: third-party lines the quiet console must not show (and verbose=true does)
TIP = "💡 Tip:"
DEPRECATION = "`isinstance(treespec, LeafSpec)` is deprecated"
WANDB_SUMMARY = "wandb: Run summary:"


def terminal_env(cache_dir: Path) -> dict[str, str]:
    """A user's environment: Python's warnings and wandb's output as they come (the suite's own env silences them)."""
    env = cli_env(cache_dir)
    for key in ("PYTHONWARNINGS", "WANDB_SILENT"):
        env.pop(key, None)
    return env


@pytest.mark.e2e
def test_the_default_experiment_shows_one_bar_with_an_eta_and_at_most_25_lines(tmp_path, cache_dir):
    status, raw = run_in_terminal([sys.executable, "-m", "seqlab", *THIRTY_STEPS], tmp_path, terminal_env(cache_dir),
                                  timeout=600)
    lines = screen_lines(raw)
    shown = "\n".join(lines)
    assert status == 0, shown[-3000:]
    assert len(lines) <= 25, f"{len(lines)} lines:\n{shown}"
    [bar] = [line for line in lines if line.startswith("train ")]
    assert re.search(r"\b30/30 steps\b", bar) and re.search(r"ETA \d+:\d\d:\d\d", bar) and "steps/s" in bar, bar
    assert "epoch 0" in bar
    assert re.search(r"^seqlab: estimated run time \d+ s for 30 steps \(\d+\.\d\d steps/s", shown, re.M), shown
    assert len([line for line in lines if re.match(r"step (15|30)/30 · val loss \d", line)]) == 2, shown
    for noise in (TIP, DEPRECATION, WANDB_SUMMARY, "GPU available", "Total FLOPs", "[seqlab][INFO]"):
        assert noise not in shown, f"{noise!r} on the quiet console:\n{shown}"
    # the results table: val and test in columns, bits per character for this character model
    header = lines.index("seqlab: results") + 1
    assert lines[header].split() == ["metric", "val", "test"]
    assert re.match(r"\s+bpc\s+\d+\.\d{4}\s+\d+\.\d{4}$", next(line for line in lines if "bpc" in line.split()[:1]))
    unwrapped = "".join(lines)  # the terminal wraps the long path
    assert re.search(r"  wandb: offline run; upload it with: wandb sync outputs/char_rnn/\S+/wandb/offline-run-",
                     unwrapped)
    # the full log holds what the console left out
    [run] = run_dirs(tmp_path, "char_rnn")
    log = (run / "config.log").read_text()
    for line in ("GPU available", "Total params", "step 15/30 · val loss", "seqlab: results"):
        assert line in log, line


@pytest.mark.e2e
def test_verbose_brings_back_the_third_party_lines(tmp_path, cache_dir):
    status, raw = run_in_terminal([sys.executable, "-m", "seqlab", *THIRTY_STEPS, "verbose=true"], tmp_path,
                                  terminal_env(cache_dir), timeout=600)
    lines = screen_lines(raw)
    assert status == 0, "\n".join(lines)[-3000:]
    unwrapped = "".join(lines)  # long lines wrap in the terminal
    for line in (TIP, DEPRECATION, WANDB_SUMMARY, "GPU available", "[seqlab][INFO] model:"):
        assert line in unwrapped, f"{line!r} missing with verbose=true"


@pytest.mark.e2e
def test_config_log_holds_lightnings_lines_when_a_plugin_imported_lightning_first(run_seqlab, tmp_path):
    # a local plugin importing Lightning before Hydra configures logging: Lightning then gives itself a console
    # handler and stops propagating, which used to keep its lines out of config.log
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "early.py").write_text("import pytorch_lightning  # noqa: F401\n")
    result = run_seqlab(*TINY, "callbacks.samples=null", fresh=True)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    log = (run / "config.log").read_text()
    assert "GPU available" in log and "`Trainer.fit` stopped" in log
    assert "GPU available" not in result.stdout + result.stderr


def test_exact_third_party_messages_are_filtered_and_other_warnings_are_not():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        console.quiet_third_party()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and "
                      "treespec.is_leaf()` instead.", DeprecationWarning, stacklevel=1)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, and this is another message", stacklevel=1)
        warnings.warn("a warning of the user's own", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "`isinstance(treespec, LeafSpec)` is deprecated, and this is another message", "a warning of the user's own"
    ]


def test_lightnings_tips_are_dropped_and_its_other_lines_kept(caplog):
    console.quiet_third_party()
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    # another test in this process may have configured logging (a Hydra job in-process): start from a known state
    disabled, logger.disabled = logger.disabled, False
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.propagate = True
        logger.info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        logger.info("GPU available: False, used: False")
    logger.disabled = disabled
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]


def test_lightnings_own_console_handler_is_replaced_by_the_root_loggers():
    logger = logging.getLogger("pytorch_lightning")
    own = logging.StreamHandler()
    logger.addHandler(own)
    logger.propagate = False
    try:
        console.route_third_party_logs()
        assert own not in logger.handlers and logger.propagate
    finally:
        logger.removeHandler(own)
        logger.propagate = True


def test_results_put_val_and_test_side_by_side_with_bits_named_for_the_tokenizer(tmp_path):
    results = {"val/loss": 2.0, "test/loss": 2.5, "val/bpc": 2.885, "test/bpc": 3.6, "val/accuracy": 0.5,
               "baseline/ngram_val_bpc": 4.0, "baseline/ngram_test_bpc": 4.5, "test_weights": "best",
               "test_weights_step": 500}
    assert console.results_rows(results, "char")[:3] == [("loss", "2.0000", "2.5000"), ("bpc", "2.8850", "3.6000"),
                                                         ("accuracy", "0.5000", "")]
    assert ("bits/word", "2.8850", "3.6000") in console.results_rows(results, "word")
    assert ("baseline/ngram_bits/word", "4.0000", "4.5000") in console.results_rows(results, "word")
    table = console.results_table(results, tmp_path, "word")
    assert "bpc" not in table.split("baseline")[0] and "bits/word" in table
    assert "test figures from the best weights (step 500)" in table and f"run folder: {tmp_path} " in table
    translation = console.results_table({"val/bleu": 0.0, "val/exact_match": 0.74}, tmp_path)
    assert "note: BLEU counts word 4-grams" in translation


def test_durations_and_the_faster_setting_named_in_the_warning():
    assert [duration(s) for s in (12, 252, 11100)] == ["12 s", "4 min 12 s", "3 h 5 min"]

    abc_tunes = SimpleNamespace(name="abc_music", mode="tunes")
    assert faster_setting(SimpleNamespace(datamodule=abc_tunes, accelerator=None)).startswith("data.mode=windows")


def tiny_lm_module() -> pl.LightningModule:
    spec = DataSpec("language_model", Vocabulary.build([list("abcd")]), Tokenizer("char"))
    config = {"cell": {"name": "gru"}, "head": {"name": "auto"}, "encoder": {"hidden_size": 8},
              "embedding": "learned", "embedding_dim": 4}
    return make_module(spec, config)


def lm_batches(count: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(count):
        ids = torch.randint(4, 8, (4, 9), generator=generator)
        batches.append({"inputs": ids[:, :-1], "targets": ids[:, 1:], "lengths": torch.full((4,), 8)})
    return batches


def test_the_bar_counts_the_runs_steps_and_warns_about_a_long_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(progress, "LONG_RUN_SECONDS", 0)  # every run is "long": the warning must come, once
    bar = RunProgressBar()
    trainer = pl.Trainer(accelerator="cpu", max_steps=6, max_epochs=-1, logger=False,
                         callbacks=[RunConsole(warmup_steps=1, estimate_after_steps=2), bar],
                         enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path,
                         limit_val_batches=1, num_sanity_val_steps=0)
    batches = lm_batches(3)  # an epoch of 3 steps, validated at its end
    trainer.fit(tiny_lm_module(), DataLoader(batches, batch_size=None), DataLoader(batches[:1], batch_size=None))
    assert total_steps(trainer) == 6
    task = bar.progress.tasks[bar.train_progress_bar_id]
    assert task.total == 6 and task.completed == 6 and task.fields["epoch"] == 1
    out = capsys.readouterr().out
    assert out.count("seqlab: estimated run time") == 1
    assert out.count("seqlab: warning: this run will take about") == 1
    assert "fewer steps (trainer.max_steps=N)" in out
    assert len(re.findall(r"^step [36]/6 · val loss \d", out, re.M)) == 2
    assert "bpc" in out  # a character model: bits per character


def test_without_the_bar_the_runs_lines_still_come(tmp_path, capsys):
    trainer = pl.Trainer(accelerator="cpu", max_steps=6, max_epochs=-1, logger=False, enable_progress_bar=False,
                         callbacks=[RunConsole(warmup_steps=1, estimate_after_steps=2)], enable_checkpointing=False,
                         enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=1,
                         num_sanity_val_steps=0)
    batches = lm_batches(3)
    trainer.fit(tiny_lm_module(), DataLoader(batches, batch_size=None), DataLoader(batches[:1], batch_size=None))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("seqlab: 440 parameters, 6 steps → ")
    assert sum(line.startswith("seqlab: estimated run time") for line in lines) == 1
    assert [line.split(" · ")[0] for line in lines if line.startswith("step ")] == ["step 3/6", "step 6/6"]
