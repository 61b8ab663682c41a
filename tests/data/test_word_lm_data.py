"""The published word-LM setup: WikiText/PTB token streams equal pytorch/examples' ``word_language_model/data.py``
(every line, blank ones included, ``line.split() + ['<eos>']``; the corpus' ``<unk>`` kept), and the hub presets
``data=wikitext2``, ``data=ptb``, ``data=tweet_eval`` — run offline on copies laid out as on the hub — fail within
5 s with one line when the hub cannot be reached."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from support.data import prepared
from support.hub import ptb_copy, tweet_eval_copy, wikitext_copy
from support.runs import cli_env

from seqlab.data.text import WordTextDataModule
from seqlab.run.compose import compose_config
from seqlab.run.train import build_datamodule

#: a closed vocabulary (every valid/test word occurs in train), as in WikiText-2 and PTB; blank lines, headings,
#: the corpus' own <unk>, runs of spaces, a tab, and a form feed inside a line (whitespace to str.split, but no
#: line break to a file read line by line)
LINES = {
    "train": [
        "",
        " = Valkyria Chronicles = ",
        "",
        " the cat sat on the <unk> mat . ",
        " a  dog\tran far away , and the cat sat . ",
        "",
        " = = Gameplay = = ",
        " the <unk> of the dog \x0c ran away . ",
        " a cat , a dog and a mat . ",
        "",
    ]
    * 3,
    "validation": ["", " the dog sat on the mat . ", "", " = = Gameplay = = ", " a cat ran far away . "] * 3,
    "test": [" the <unk> sat . ", "", " a dog , a cat and the mat ran away . ", ""] * 3,
}
FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}


def reference_tokens(path: Path) -> list[str]:
    """pytorch/examples' tokenisation, written from its algorithm: the file opened as UTF-8 text and read line by
    line; each line's whitespace-separated words followed by '<eos>'."""
    tokens: list[str] = []
    with open(path, encoding="utf8") as lines:
        for line in lines:
            tokens.extend([*line.split(), "<eos>"])
    return tokens


def test_a_wikitext_folder_gives_the_token_streams_of_pytorch_examples_token_for_token(tmp_path):
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    for split, name in FILES.items():
        (folder / name).write_text("\n".join(LINES[split]) + "\n", encoding="utf-8")
    datamodule = prepared(WordTextDataModule, tmp_path / "cache", source=str(folder), batch_size=2, eval_batch_size=2)
    vocab = datamodule.spec.vocab
    for split, name in FILES.items():
        expected = reference_tokens(folder / name)
        assert expected.count("<eos>") == len(LINES[split])  # blank lines included
        assert vocab.decode(datamodule.streams[split].tolist()) == expected, split
    assert "<unk>" in vocab.decode(datamodule.streams["train"].tolist())
    assert not {t for t in reference_tokens(folder / "valid.txt")} - set(vocab.itos)  # closed: nothing mapped


def test_the_wikitext2_preset_reads_a_hub_copy_with_the_same_streams(tmp_path):
    root = wikitext_copy(tmp_path / "wikitext", LINES)
    datamodule = preset("wikitext2", f"hf:{root}:wikitext-2-v1", tmp_path / "cache")
    assert datamodule.source == f"hf:{root}:wikitext-2-v1" and datamodule.mode == "stream"
    for split in FILES:
        expected = [t for line in LINES[split] for t in [*line.split(), "<eos>"]]
        assert datamodule.spec.vocab.decode(datamodule.streams[split].tolist()) == expected, split
    assert compose_config(["data=wikitext2"]).data.source == "hf:Salesforce/wikitext:wikitext-2-v1"


def test_the_ptb_preset_reads_the_sentence_column_of_a_hub_copy(tmp_path):
    lines = {split: [line for line in LINES[split] if line.strip()] for split in FILES}
    root = ptb_copy(tmp_path / "ptb_text_only", lines)
    datamodule = preset("ptb", f"hf:{root}:penn_treebank", tmp_path / "cache")
    for split in FILES:
        expected = [t for line in lines[split] for t in [*line.split(), "<eos>"]]
        assert datamodule.spec.vocab.decode(datamodule.streams[split].tolist()) == expected, split
    config = compose_config(["data=ptb"]).data
    assert (config.source, config.text_column) == ("hf:ptb-text-only/ptb_text_only:penn_treebank", "sentence")


def test_the_tweet_eval_preset_reads_three_named_classes_from_a_hub_copy(tmp_path):
    texts = ["@user i love this #great", "meh, it is a phone", "worst day ever http://t.co/x", "so good!!!!"]
    rows = {split: [(f"{t} {split} {i}", i % 3) for i, t in enumerate(texts * 3)] for split in FILES}
    root = tweet_eval_copy(tmp_path / "tweet_eval", rows)
    datamodule = preset("tweet_eval", f"hf:{root}:sentiment", tmp_path / "cache")
    assert datamodule.spec.classes == ["negative", "neutral", "positive"]
    labels = sorted(int(label) for label in datamodule.splits["validation"]["label"])
    assert labels == sorted(label for _, label in rows["validation"])
    assert compose_config(["data=tweet_eval"]).data.source == "hf:cardiffnlp/tweet_eval:sentiment"


def preset(name: str, source: str, cache: Path):
    config = compose_config([f"data={name}", f"data.source={source}", "data.batch_size=2", f"data.cache_dir={cache}"])
    options = OmegaConf.to_container(config.data, resolve=True)
    if "eval_batch_size" in options:
        options["eval_batch_size"] = 2
    datamodule = build_datamodule(options)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


OFFLINE_SCRIPT = """
import json, sys, time
from omegaconf import OmegaConf
from seqlab.run.compose import compose_config
from seqlab.data.base import DataError
from seqlab.run.train import build_datamodule
config = compose_config([f"data={sys.argv[1]}", f"data.cache_dir={sys.argv[2]}"])
options = OmegaConf.to_container(config.data, resolve=True)
datamodule = build_datamodule(options)
start = time.monotonic()
try:
    datamodule.prepare_data()
    message = "loaded"
except DataError as err:
    message = str(err)
print(json.dumps({"seconds": time.monotonic() - start, "message": message}))
"""


@pytest.mark.e2e
@pytest.mark.parametrize(
    "preset_name, copy",
    [
        ("wikitext2", "hf:/path/to/wikitext:wikitext-2-v1"),
        ("ptb", "hf:/path/to/ptb_text_only:penn_treebank"),
        ("tweet_eval", "hf:/path/to/tweet_eval:sentiment"),
    ],
)
def test_without_the_hub_a_preset_fails_within_5_seconds_saying_how_to_use_a_local_copy(tmp_path, preset_name, copy):
    env = {**cli_env(tmp_path / "cache"), "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_HOME": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, preset_name, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["seconds"] < 5, outcome
    assert "\n" not in outcome["message"] and "cannot reach the Hugging Face hub" in outcome["message"]
    assert f"set data.source={copy}" in outcome["message"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "offline, reason",
    [("0", "cannot reach the Hugging Face hub"), ("1", "not in the datasets cache and HF_HUB_OFFLINE is set")],
)
def test_the_cli_reports_a_hub_source_it_cannot_load_in_one_line(run_seqlab, tmp_path, offline, reason):
    env = {
        "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": offline,
    }
    result = run_seqlab("data=wikitext2", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"seqlab: error: data.source=hf:Salesforce/wikitext:wikitext-2-v1: {reason}")
    assert "set data.source=hf:/path/to/wikitext:wikitext-2-v1" in lines[0]


def test_word_lm_on_a_wikitext2_copy_trains_and_writes_data_splits_json(run_seqlab, tmp_path):
    from support.runs import WITH_BASELINE as TINY
    from support.runs import run_dirs

    root = wikitext_copy(tmp_path / "wikitext", LINES)
    # word_lm validates once per epoch; the tiny copy's epoch is one batch, so validate every 3 steps instead
    result = run_seqlab("+experiment=word_lm", "data=wikitext2", f"data.source=hf:{root}:wikitext-2-v1", *TINY,
                        "trainer.check_val_every_n_epoch=null")
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dirs(tmp_path, "word_lm")[-1]
    splits = json.loads((run / "data_splits.json").read_text())
    assert splits == {
        "train": len(LINES["train"]),
        "val": len(LINES["validation"]),
        "test": len(LINES["test"]),
        "duplicates_grouped": 0,
        "val_overlap": splits["val_overlap"],
        "test_overlap": 0.0,
        "near_duplicates": splits["near_duplicates"],
    }
    assert splits["val_overlap"] == pytest.approx(3 / 9)  # " = = Gameplay = = " is a train line too (given splits)
    assert (result.stdout + result.stderr).count("also occur in train") == 1  # one warning line, in the run log


def test_word_lm_pex_runs_pytorch_examples_readme_command_on_a_wikitext2_copy(run_seqlab, tmp_path):
    """``+experiment=word_lm_pex``: main.py's setting (WikiText-2, 6 epochs, validation and annealing per epoch, test
    with the best weights), tiny here: 2 epochs of 2 batches."""
    from support.runs import WITH_BASELINE as TINY
    from support.runs import run_dirs

    root = wikitext_copy(tmp_path / "wikitext", LINES)
    quick = [*TINY, "trainer.max_steps=-1", "trainer.val_check_interval=1.0"]  # the recipe's epochs
    result = run_seqlab("+experiment=word_lm_pex", f"data.source=hf:{root}:wikitext-2-v1", *quick,
                        "trainer.max_epochs=2", "trainer.limit_train_batches=2", "data.batch_size=2", "data.bptt=5",
                        "data.eval_batch_size=2")
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dirs(tmp_path, "word_lm_pex")[-1]
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    assert (config.seed, config.trainer.max_epochs, config.trainer.val_check_interval) == (1111, 2, 1.0)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_weights"] == "best" and "baseline/ngram_test_perplexity" in metrics
    with open(run / "csv" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    validated = sorted({int(r["step"]) for r in rows if r.get("val/loss")})
    assert len(validated) == 2  # once per epoch: after each epoch's 2 training batches


def test_word_lm_zaremba_small_tests_as_one_stream_with_every_parameter_uniform(run_seqlab, tmp_path):
    from support.runs import WITH_BASELINE as TINY
    from support.runs import run_dirs

    config = compose_config(["+experiment=word_lm_zaremba_small"])
    data, trainer = config.data, config.trainer
    assert (data.bptt, data.batch_size, data.eval_batch_size, data.test_batch_size) == (20, 20, 20, 1)
    assert config.optimizer.lr == 1
    assert (trainer.max_epochs, trainer.gradient_clip_val, config.model.encoder.dropout) == (13, 5.0, 0)
    quick = TINY
    result = run_seqlab("+experiment=word_lm_zaremba_small", *quick, "trainer.limit_test_batches=1.0")
    assert result.returncode == 0, result.stderr[-3000:]
    run = run_dirs(tmp_path, "word_lm_zaremba_small")[-1]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/perplexity"] > 1 and "baseline/ngram_test_perplexity" in metrics
