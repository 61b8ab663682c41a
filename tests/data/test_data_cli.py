"""One training step of every datamodule's offline default through the real CLI (one Hydra multirun)."""

from __future__ import annotations

import json

from support.runs import TINY, run_dirs

DATAMODULES = ("text_word", "tweets", "abc_music", "parallel")


def test_every_offline_default_trains_through_the_cli_with_the_head_its_task_selects(run_seqlab, tmp_path):
    result = run_seqlab(
        "--multirun",
        f"data={','.join(DATAMODULES)}",
        "callbacks=music",
        "callbacks.music.num_samples=2",
        "callbacks.music.max_length=40",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {next(d for d in DATAMODULES if f"data={d}" in run.name): run for run in run_dirs(tmp_path, "char_rnn")}
    assert set(runs) == set(DATAMODULES)
    metrics = {name: json.loads((run / "metrics.json").read_text()) for name, run in runs.items()}
    assert "val/perplexity" in metrics["text_word"] and "val/perplexity" in metrics["abc_music"]
    assert 0 <= metrics["tweets"]["val/accuracy"] <= 1
    assert "val/loss" in metrics["parallel"]
    for name, run in runs.items():
        config = (run / ".hydra" / "config.yaml").read_text()
        assert f"name: {name}" in config and (run / "vocab.json").is_file()
    tunes = json.loads((runs["abc_music"] / "tunes" / "tunes.json").read_text())
    assert len(tunes["tunes"]) == 2 and 0 <= tunes["samples/valid_tune_rate"] <= 1
    assert "samples/valid_tune_rate" in result.stdout
    assert "samples/valid_tune_rate" in (runs["abc_music"] / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert not (runs["tweets"] / "tunes").exists()
