"""The recipe cards in conf/experiment/ run end to end through the CLI; their helpers (adding data, BoW baseline,
regression head, sweep summary) do what they say."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from support.runs import TINY, WITH_BASELINE, run_dirs

from seqlab.data.adding import CONSTANT_BASELINE_MSE, AddingDataModule, adding_examples
from seqlab.data.base import DataSpec
from seqlab.data.tweets import TweetsDataModule
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
from seqlab.errors import ConfigError, DataError
from seqlab.experiments.callbacks import BagOfWordsBaseline, bag_of_words
from seqlab.models.builder import build_model

CONF = Path(__file__).resolve().parents[2] / "conf" / "experiment"
DOCS = CONF.parents[1] / "docs" / "experiments.md"
QUICK = [*TINY, "test=false"]
TUNE = "X:{n}\nT:Tune {n}\nR:{kind}\nM:6/8\nL:1/8\nK:G\n|:GAB cBA|GAB d2e:|\n|:gab c'ba|gfe d3:|\n|{end}|]\n\n"


def abc_source(tmp_path: Path) -> str:
    """40 different tunes (their last bars differ: identical tunes would all go to one split)."""
    ends = [f"{a}2{b} d3" for a in "DEFGABcdefg" for b in "DEFGABcdefg"]
    path = tmp_path / "tunes.abc"
    path.write_text("".join(TUNE.format(n=i, kind=("jig", "reel")[i % 2], end=ends[i]) for i in range(40)))
    return str(path)


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_opens_with_how_to_run_it_and_keeps_its_history_in_docs(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith(f"# python -m seqlab +experiment={path.stem}  — "), lines[1]
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert len(header) <= 4, f"{path.name}: {len(header)} header lines; the recipe's story belongs in {DOCS.name}"
    assert f"\n## {path.stem} — " in DOCS.read_text(), f"{DOCS.name} has no section for {path.stem}"
    assert OmegaConf.load(path).experiment_name == path.stem


def test_word_lm_trains_through_the_cli_with_sgd_plateau_and_two_dropout_layers(run_seqlab, tmp_path):
    result = run_seqlab("+experiment=word_lm", *QUICK, "--cfg", "job")
    config = OmegaConf.create(result.stdout)
    assert (config.model.encoder.num_layers, config.model.encoder.dropout, config.data.bptt) == (2, 0.2, 35)
    assert config.optimizer.lr == 20.0 and config.scheduler._target_.endswith("ReduceLROnPlateau")
    assert config.trainer.gradient_clip_val == 0.25
    result = run_seqlab("+experiment=word_lm", *WITH_BASELINE, "test=false")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "word_lm")
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val/perplexity" in metrics
    assert 1 < metrics["baseline/ngram_val_perplexity"] < metrics["baseline/ngram_test_perplexity"]  # the count model


@pytest.mark.parametrize("experiment", ["abc_music", "abc_conditional"])
def test_abc_experiments_train_and_report_the_valid_tune_rate(run_seqlab, tmp_path, experiment):
    # the conditional model gets the n-gram baseline too (counted without the condition)
    extra = ["data.min_class_count=2", WITH_BASELINE[-1]] if experiment == "abc_conditional" else []
    result = run_seqlab(f"+experiment={experiment}", *QUICK, f"data.source={abc_source(tmp_path)}", *extra,
                        "callbacks.music.num_samples=4", "callbacks.music.max_length=30")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "samples/valid_tune_rate" in result.stdout
    (run,) = run_dirs(tmp_path, experiment)
    tunes = json.loads((run / "tunes" / "tunes.json").read_text())["tunes"]
    assert len(tunes) == 4
    if experiment == "abc_conditional":
        assert {t["type"] for t in tunes} == {"jig", "reel"}  # one tune per type in turn
        assert "unconditional" in result.stdout
        assert json.loads((run / "metrics.json").read_text())["baseline/ngram_val_bpc"] > 0


def test_abc_music_cpu_trains_on_the_bundled_lab_tunes_and_samples_from_the_best_validation(run_seqlab, tmp_path):
    """The CPU music lab as shipped — its own data (the lab's tunes, bundled), early stopping and
    ``callbacks.music.weights=best`` — only tiny: the samples come from best.ckpt's step."""
    result = run_seqlab("+experiment=abc_music_cpu", *QUICK, "callbacks.music.num_samples=2",
                        "callbacks.music.max_length=30")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "abc_music_cpu")
    tunes = json.loads((run / "tunes" / "tunes.json").read_text())
    assert tunes["weights"] == "best" and tunes["weights_step"] == 3 and len(tunes["tunes"]) == 2
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "tunes" / "index.html").is_file()
    assert "builtin:mit6s191" in (run / ".hydra" / "config.yaml").read_text()


def test_tweet_sentiment_writes_the_bag_of_words_baseline_next_to_the_model(run_seqlab, tmp_path):
    result = run_seqlab("+experiment=tweet_sentiment", *QUICK, "data.num_examples=400")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "baseline/bow_val_accuracy" in result.stdout
    (run,) = run_dirs(tmp_path, "tweet_sentiment")
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val/accuracy", "baseline/bow_val_accuracy", "baseline/bow_train_accuracy"} <= set(metrics)


def test_date_translation_saves_attention_heat_maps(run_seqlab, tmp_path):
    result = run_seqlab("+experiment=date_translation", *QUICK, "data.num_examples=300")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "date_translation")
    maps = sorted((run / "attention").glob("attention_*.png"))
    assert len(maps) == 4 and all(p.read_bytes()[:4] == b"\x89PNG" for p in maps)
    assert "val/exact_match" in json.loads((run / "metrics.json").read_text())


@pytest.mark.e2e
def test_vanishing_gradients_is_a_sweep_that_ends_with_a_summary(run_seqlab, tmp_path):
    result = run_seqlab("-m", "+experiment=vanishing_gradients", *QUICK, "cell=rnn_tanh,lstm", "data.seq_len=12",
                        "seed=1", "data.num_train=100", "data.num_val=50", "trainer.max_steps=4",
                        "callbacks.gradient_flow.every_n_steps=2", "optimizer.lr=0.01",
                        timeout=900)  # a joblib sweep: two workers start
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "vanishing_gradients" / "multirun").glob("*/*")
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["cell"], r["length"], r["seed"]) for r in rows] == [("rnn_tanh", "12", "1"), ("lstm", "12", "1")]
    assert all(float(r["val_mse"]) > 0 and r["learned"] in ("yes", "no") for r in rows)
    assert [r["forget_bias"] for r in rows] == ["", "1.0"]
    assert all(0 <= float(r["index_init"]) < float("inf") for r in rows)
    summary = (sweep / "summary.md").read_text()
    assert " (n=1) |" in summary and "| lstm | 12 | Adam 0.01 | 1 |" in summary
    assert [r["lr"] for r in rows] == ["0.01", "0.01"] and all(r["chosen"] == "True" for r in rows)
    for name in ("mse_curves.png", "terminal_gradients.png"):
        assert (sweep / name).read_bytes()[:4] == b"\x89PNG"
    history = json.loads(next(sweep.glob("0_*/gradient_flow/history.json")).read_text())
    assert [r["step"] for r in history["terminal/encoder.layer0/h"]] == [0, 1, 3]
    assert len(history["terminal/encoder.layer0/h"][0]["norms"]) == 12  # k = 0 .. 11 steps back


@pytest.mark.e2e
def test_the_le2015_sweep_trains_the_irnn_with_plain_sgd_and_reports_the_rate_chosen_on_val(run_seqlab, tmp_path):
    result = run_seqlab("-m", "+experiment=vanishing_gradients_le2015", *QUICK, "cell=irnn", "data.seq_len=12",
                        "seed=1", "data.num_train=100", "data.num_val=50", "trainer.max_steps=4",
                        "optimizer.lr=0.01,0.001", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "vanishing_gradients_le2015" / "multirun").glob("*/*")
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["cell"], r["optimizer"], r["lr"]) for r in rows} == {("irnn", "SGD", "0.01"), ("irnn", "SGD", "0.001")}
    assert sum(r["chosen"] == "True" for r in rows) == 1
    assert "| irnn | 12 | SGD " in (sweep / "summary.md").read_text()


def test_the_full_vanishing_gradients_sweep_is_five_cells_two_lengths_three_seeds_two_at_a_time(run_seqlab):
    result = run_seqlab("+experiment=vanishing_gradients", "--cfg", "hydra")
    hydra = OmegaConf.create(result.stdout)
    params = hydra.hydra.sweeper.params
    assert sorted(params["cell"].split(",")) == ["gru", "irnn", "lstm", "rnn_relu", "rnn_tanh"]
    assert sorted(params["data.seq_len"].split(","), key=int) == ["50", "150"]
    assert params["seed"].split(",") == ["1", "2", "3"]
    assert params["optimizer.lr"].split(",") == ["0.01", "0.001", "0.0001"]  # each cell's rate chosen on validation
    assert hydra.hydra.launcher._target_.endswith("JoblibLauncher") and hydra.hydra.launcher.n_jobs == 2
    assert hydra.hydra.callbacks.adding_summary.threshold == 0.01
    result = run_seqlab("+experiment=vanishing_gradients", "hydra.mode=RUN", "cell=lstm", "--cfg", "job")
    assert OmegaConf.create(result.stdout).model.cell.forget_bias == 1.0
    result = run_seqlab("+experiment=vanishing_gradients_le2015", "--cfg", "all")
    le = OmegaConf.create(result.stdout)
    assert le.optimizer._target_ == "torch.optim.SGD" and le.optimizer.momentum == 0.0
    assert le.trainer.gradient_clip_val == 1.0 and le.hydra.sweeper.params.cell == "irnn,rnn_relu"


def test_the_sweep_summary_gives_success_over_seeds_a_t_interval_and_says_when_a_gradient_underflowed():
    from seqlab.experiments.summary import markdown_table

    def row(seed: int, mse: float | None, index_init: float, lr: float = 0.01) -> dict:
        return {"cell": "rnn_tanh", "length": 150, "seed": seed, "val_mse": mse, "learned": "yes" if mse and mse < 0.01
                else "no", "steps": 3000, "index_init": index_init, "index_end": 1e-3, "job": f"{seed}_x",
                "optimizer": "Adam", "lr": lr, "test_mse": mse}

    table = markdown_table([row(1, 0.005, 0.0), row(2, 0.16, 0.0), row(3, 0.17, 1e-20)], 0.01)
    # mean 0.11167, s = 0.09251, t(0.975, 2) = 4.303 → half-width 4.303 · 0.09251 / √3 = 0.2298
    assert ("| rnn_tanh | 150 | Adam 0.01 | 1/3 | 0.1117 ± 0.2298 (n=3) | 0.1117 ± 0.2298 (n=3) | 0 (vanished below "
            "float precision) | 1.0e-03 |") in table
    assert "| rnn_tanh | 150 | Adam 0.01 | 3 | 0.1700 | 0.1700 | no | 3000 | 1.0e-20 | 1.0e-03 | 3_x |" in table
    # a second rate: better on average over the seeds, but one run diverged — it is not chosen
    grid = [row(1, 0.005, 0.0), row(2, 0.16, 0.0), row(3, 0.17, 1e-20),
            row(1, 0.001, 0.0, lr=0.001), row(2, 0.002, 0.0, lr=0.001), row(3, None, 0.0, lr=0.001)]
    table = markdown_table(grid, 0.01)
    assert "| rnn_tanh | 150 | Adam 0.01 | 1/3 | 0.1117 ± 0.2298 (n=3) |" in table
    assert "| rnn_tanh | 150 | Adam 0.001 | 2/3 | ∞ |  |" in table
    assert "| rnn_tanh | 150 | Adam 0.01 | 1/3 | 0.1117 | yes |" in table
    grid[5].update(val_mse=0.003, learned="yes")  # now every seed of 0.001 finished, with the lower mean: chosen
    assert "| rnn_tanh | 150 | Adam 0.001 | 3/3 | 0.0020 ± " in markdown_table(grid, 0.01)


def test_the_recipe_cells_at_initialisation_irnn_keeps_the_gradient_the_tanh_rnn_loses_it(cache_dir):
    from seqlab.experiments.adding_figures import relative_curve, terminal_curves_at_init

    curves = terminal_curves_at_init(40, [1], cells=("rnn_tanh", "irnn"), cache_dir=str(cache_dir))
    tanh, irnn = curves["rnn_tanh"][0], curves["irnn"][0]
    assert len(tanh) == len(irnn) == 40  # k = 0 .. 39
    assert relative_curve(irnn)[-1] > 0.1 and relative_curve(tanh)[-1] < 1e-6


def test_adding_examples_mark_one_step_in_each_half_and_sum_the_marked_values():
    data = adding_examples(500, 30, __import__("numpy").random.default_rng(0))
    markers, values = torch.tensor(data["markers"]), torch.tensor(data["values"])
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
    assert torch.allclose((values * markers).sum(1), torch.tensor(data["target"]))
    predict_one = float(((torch.tensor(data["target"]) - 1) ** 2).mean())
    assert abs(predict_one - CONSTANT_BASELINE_MSE) < 0.02


def test_adding_datamodule_batches_real_vectors_and_rejects_bad_options(cache_dir):
    dm = AddingDataModule(seq_len=8, num_train=10, num_val=4, num_test=4, batch_size=5, cache_dir=str(cache_dir))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape == (5, 8, 2) and batch["inputs"].dtype == torch.float32
    assert torch.allclose((batch["inputs"][..., 0] * batch["inputs"][..., 1]).sum(1), batch["targets"])
    assert dm.spec.task == "regression" and dm.spec.input_features == 2
    from seqlab.run.preflight import check_composes  # the data schema's bounds, before anything is built

    assert check_composes(["data=adding", "data.seq_len=1"]).startswith("data.seq_len=1: expected an integer >= 2")
    with pytest.raises(DataError, match="builtin:adding"):
        AddingDataModule(source="some.csv")


def test_real_valued_inputs_need_a_real_valued_embedding():
    spec = DataSpec("regression", Vocabulary(SPECIALS), Tokenizer(), input_features=2)
    with pytest.raises(ConfigError, match="model.embedding=learned.*linear or identity"):
        build_model(spec, {"name": "lstm"}, {"name": "auto"}, {"hidden_size": 4})
    model = build_model(spec, {"name": "gru"}, {"name": "auto"}, {"hidden_size": 4}, embedding="linear",
                          embedding_dim=3)
    out = model({"inputs": torch.rand(2, 5, 2), "lengths": torch.tensor([5, 3])})
    assert out["logits"].shape == (2,) and model.encoder.input_size == 3
    loss = model.head.loss(out, {"targets": torch.tensor([1.0, 0.5])})
    assert torch.isclose(loss, ((out["logits"] - torch.tensor([1.0, 0.5])) ** 2).mean())


def test_regression_head_learns_the_adding_problem_on_short_sequences(cache_dir):
    torch.manual_seed(0)
    dm = AddingDataModule(seq_len=6, num_train=2000, num_val=200, batch_size=50, cache_dir=str(cache_dir))
    dm.setup("fit")
    model = build_model(dm.spec, {"name": "lstm"}, {"name": "auto"}, {"hidden_size": 32}, embedding="identity")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(4):
        for batch in dm.train_dataloader():
            optimizer.zero_grad()
            model.head.loss(model(batch), batch).backward()
            optimizer.step()
    with torch.no_grad():
        batch = next(iter(dm.val_dataloader()))
        mse = float(model.head.loss(model(batch), batch))
    assert mse < 0.05 < CONSTANT_BASELINE_MSE


def test_bag_of_words_counts_real_tokens_only():
    bags = bag_of_words(torch.tensor([[4, 4, 5, 0], [6, 0, 0, 0]]), torch.tensor([3, 1]), 7)
    assert bags[0].tolist() == [0, 0, 0, 0, 2, 1, 0] and bags[1].tolist() == [0, 0, 0, 0, 0, 0, 1]


def test_bag_of_words_is_at_chance_when_order_decides_and_right_when_words_decide(cache_dir, tmp_path):
    order = TweetsDataModule(num_examples=2000, batch_size=100, cache_dir=str(cache_dir))
    order.setup("fit")
    assert 0.4 < BagOfWordsBaseline().evaluate(order)["baseline/bow_val_accuracy"] < 0.6
    words = tmp_path / "words.csv"
    rows = [f"the food was {'great' if i % 2 else 'awful'} today {i % 7},{'positive' if i % 2 else 'negative'}"
            for i in range(400)]
    words.write_text("text,label\n" + "\n".join(rows) + "\n")
    by_words = TweetsDataModule(source=str(words), batch_size=50, cache_dir=str(cache_dir))
    by_words.setup("fit")
    assert BagOfWordsBaseline().evaluate(by_words)["baseline/bow_val_accuracy"] > 0.95


def test_forecast_reports_errors_in_original_units_beside_the_naive_forecasts_and_plots_them(run_seqlab, tmp_path):
    result = run_seqlab("+experiment=forecast", *TINY, "data.window=12")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "forecast")
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("val/forecast_mae", "test/forecast_rmse", "baseline/naive_val_mae", "baseline/naive_test_rmse",
                "baseline/seasonal_naive_val_mae", "baseline/seasonal_change_test_mae"):
        assert metrics[key] > 0, key
    assert (run / "forecast" / "forecast_val.png").is_file() and (run / "forecast" / "forecast_test.png").is_file()
    assert "val forecast MAE / RMSE" in result.stdout
    from seqlab.report import write_report

    page = write_report(run).read_text()  # the report shows the plots beside the run's figures
    forecasts = page.split("<h2>Forecasts</h2>")[1].split("<h2>")[0]
    assert "forecast_val.png" in forecasts and "forecast_test.png" in forecasts
    assert forecasts.count("data:image/png;base64,") == 2
