"""End-to-end tests of the `python -m seqlab` command: the default experiment, errors, and generation."""

from __future__ import annotations

import io
import json

import pytest
from support.runs import TINY, run_dirs


@pytest.mark.e2e
def test_default_run_trains_char_rnn_and_reports_lm_metrics(tiny_run):
    result, run = tiny_run
    table = result.stdout.split("seqlab: results\n", 1)[1].splitlines()
    assert table[0].split() == ["metric", "val", "test"]  # val and test side by side
    rows = {line.split()[0]: line.split()[1:] for line in table[1:] if line.startswith("  ") and ":" not in line}
    assert all(len(rows[name]) == 2 for name in ("loss", "perplexity", "bpc", "accuracy"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val/bpc"] > 0 and abs(metrics["val/perplexity"] - 2 ** metrics["val/bpc"]) < 1e-3
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "csv" / "metrics.csv").is_file()
    assert (run / "vocab.json").is_file()
    samples = (run / "samples" / "final.txt").read_text()
    assert samples.count("--- sample") == 3


def test_experiment_flag_composes_the_same_config_as_no_arguments():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from seqlab.paths import conf_dir

    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        plain = compose("train", return_hydra_config=False)
        explicit = compose("train", overrides=["+experiment=char_rnn"])
    as_dict = lambda c: OmegaConf.to_container(c, resolve=False)  # noqa: E731
    assert as_dict(plain) == as_dict(explicit)
    assert plain.model.cell.name == "lstm" and plain.data.name == "text_char"


@pytest.mark.e2e
def test_generate_from_checkpoint_alone_is_deterministic_for_a_seed(run_seqlab, tiny_run, tmp_path):
    ckpt = tiny_run[1] / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", "prompt=The", "num_samples=2", "max_length=30", "temperature=0.8", "seed=7"]
    first = run_seqlab(*args, module="seqlab.generate", cwd=tmp_path.parent)
    second = run_seqlab(*args, module="seqlab.generate", cwd=tmp_path.parent)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout == second.stdout
    assert first.stdout.count("--- sample") == 2 and "\nThe" in first.stdout
    greedy = run_seqlab(f"ckpt_path={ckpt}", "temperature=0", "max_length=10", module="seqlab.generate")
    assert greedy.returncode == 0, greedy.stderr[-2000:]


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.e2e
def test_mistyped_group_option_lists_the_valid_choices(run_seqlab):
    _assert_one_line_error(run_seqlab("cell=lstmm"), "cell=lstmm", "lstm", "gru")
    _assert_one_line_error(run_seqlab("data=nosuch"), "data=nosuch", "text_char")


@pytest.mark.e2e
def test_missing_required_value_names_the_key(run_seqlab):
    _assert_one_line_error(run_seqlab("data.source=???", *TINY), "data.source")


@pytest.mark.e2e
def test_bad_data_source_names_the_path(run_seqlab, tmp_path):
    _assert_one_line_error(run_seqlab(f"data.source={tmp_path}/nothing.txt", *TINY), "nothing.txt")


@pytest.mark.e2e
def test_bad_generate_input_is_one_line(run_seqlab, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    _assert_one_line_error(run_seqlab(f"ckpt_path={bad}", module="seqlab.generate"), "bad.ckpt")
    _assert_one_line_error(run_seqlab("ckpt_path=/no/such.ckpt", module="seqlab.generate"), "/no/such.ckpt")
    _assert_one_line_error(run_seqlab("temperatur=1", module="seqlab.generate"), "temperatur")


@pytest.mark.e2e
def test_wandb_logs_offline_without_credentials(run_seqlab, tmp_path):
    result = run_seqlab(*TINY, "logger=many", "callbacks.gradient_flow.plots=true")
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    offline = list((run / "wandb").glob("offline-run-*"))
    assert offline, "wandb should write an offline run that `wandb sync` can upload later"
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    # the gradient-flow pictures reach TensorBoard as the PNGs written in the run folder, pixel for pixel
    from matplotlib.image import imread
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    pngs = sorted((run / "gradient_flow").glob("*.png"))
    tags = sorted(t for t in events.Tags()["images"] if t.startswith("gradient_flow/"))
    assert pngs and len(tags) == len(pngs), (tags, pngs)
    for tag in tags:
        png = run / "gradient_flow" / (tag.removeprefix("gradient_flow/").replace("/", "_") + ".png")
        logged = imread(io.BytesIO(events.Images(tag)[-1].encoded_image_string))
        assert (logged[..., :3] == imread(png)[..., :3]).all(), tag
    assert len(list((run / "wandb").glob("offline-run-*/files/media/images/gradient_flow/**/*.png"))) == len(pngs)


@pytest.mark.e2e
def test_gradient_clipping_and_optimizer_come_from_config(run_seqlab, tmp_path):
    result = run_seqlab(*TINY, "trainer.gradient_clip_algorithm=value", "trainer.gradient_clip_val=0.5",
                        "optimizer=sgd", "optimizer.lr=0.5", "scheduler=cosine")
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = run_dirs(tmp_path, "char_rnn")
    hparams = (run / "csv" / "hparams.yaml").read_text()
    assert "torch.optim.SGD" in hparams and "gradient_clip_algorithm: value" in hparams
