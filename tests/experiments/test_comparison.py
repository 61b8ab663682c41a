"""The why_recurrence summary (comparison.md): one value per encoder and data set, or the mean ± 95 % t-interval
with n when the sweep also ran several seeds."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from seqlab.experiments.comparison import markdown_table, read_jobs
from seqlab.stats import interval


def write_job(sweep: Path, number: int, encoder: str, data: str, seed: int, metrics: dict | None) -> None:
    """A job folder as the sweep writes it: the composed config, and metrics.json unless the job failed."""
    job = sweep / f"{number}_data={data},encoder={encoder},seed={seed}"
    (job / ".hydra").mkdir(parents=True)
    config = {"seed": seed, "data": {"name": data}, "model": {"encoder": {"name": encoder}, "cell": {"name": "lstm"}}}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_seeds_of_one_encoder_and_data_set_are_averaged_with_their_interval(tmp_path):
    accuracies = {
        ("bag_of_words", 0): 0.50,
        ("bag_of_words", 1): 0.47,
        ("bag_of_words", 2): 0.52,
        ("recurrent", 0): 1.0,
        ("recurrent", 1): 0.98,
        ("recurrent", 2): None,
    }  # seed 2 failed
    for number, ((encoder, seed), value) in enumerate(accuracies.items()):
        write_job(tmp_path, number, encoder, "tweets", seed, None if value is None else {"val/accuracy": value})
    for number, seed in enumerate((0, 1), start=6):
        write_job(tmp_path, number, "bag_of_words", "text_char", seed, {"val/bpc": 4.4 + seed / 10})
    table = markdown_table(read_jobs(tmp_path)).splitlines()

    bow, lstm = interval([0.50, 0.47, 0.52]), interval([1.0, 0.98])
    bpc = interval([4.4, 4.5])
    assert table[0] == "| encoder | tweets: val/accuracy ↑ | text_char: val/bpc ↓ |"
    assert table[2] == (
        f"| bag_of_words | {bow.mean:.4f} ± {bow.half_width:.4f} (n=3) "
        f"| **{bpc.mean:.4f} ± {bpc.half_width:.4f} (n=2)** |"
    )
    assert table[3] == f"| recurrent (lstm) | **{lstm.mean:.4f} ± {lstm.half_width:.4f} (n=2)** | failed |"
    assert "95 % Student-t interval" in table[-1]


def test_one_seed_per_pair_keeps_the_plain_table():
    jobs = [
        {"encoder": "a", "data": "tweets", "metrics": {"val/accuracy": 0.5}},
        {"encoder": "b", "data": "tweets", "metrics": {}},
    ]
    assert markdown_table(jobs).splitlines()[2:] == ["| a | **0.5000** |", "| b | failed |"]
