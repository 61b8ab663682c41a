"""Training tokens/s of the default experiment (char_rnn) and of word_lm, float32 vs bf16-mixed, on one device.

One Hydra multirun (one process, so start-up is paid once) trains each experiment with ``trainer.precision``
``32-true`` and ``bf16-mixed`` for ``--steps`` steps (test split off). The figure is the ``ThroughputMonitor``'s
(``<run>/throughput.json``): input tokens per second of whole training steps after ``--warmup`` untimed steps —
fetching the batch, every hook, callback and logger included, validation excluded.

    python benchmarks/gpu/throughput.py --device cuda --steps 300 --json throughput.json

``--device cuda`` trains with ``trainer=gpu``; ``--device cpu`` with ``trainer=cpu`` (``--tiny`` shrinks the model
for a dry run). JSON: ``{"<experiment>/<precision>": {"tokens_per_s", "steps_per_s", "steps", "seconds"},
"<experiment>/bf16_over_fp32": tokens/s of bf16-mixed divided by float32's}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

EXPERIMENTS = ("char_rnn", "word_lm")  # char_rnn is the default experiment (python -m seqlab)
PRECISIONS = ("32-true", "bf16-mixed")
#: a few-second smoke run on the CPU (the dry run): small model, short samples
TINY = [
    "model.embedding_dim=8",
    "model.encoder.hidden_size=16",
    "callbacks.samples.max_length=20",
    "trainer.limit_val_batches=2",
]


def measure(device: str, steps: int, warmup: int, tiny: bool, sweep_dir: Path) -> dict[str, dict]:
    """Run the sweep; return ``{"<experiment>/<precision>": throughput.json}`` for every job."""
    args = [
        "-m",
        f"+experiment={','.join(EXPERIMENTS)}",
        f"trainer.precision={','.join(PRECISIONS)}",
        "trainer=gpu" if device.startswith("cuda") else "trainer=cpu",
        f"trainer.max_steps={steps}",
        f"callbacks.throughput.warmup_steps={warmup}",
        "test=false",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep_dir}",
        *(TINY if tiny else []),
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "seqlab", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"seqlab: error: the throughput sweep failed:\n{done.stderr[-3000:]}")
    figures = {}
    for path in sorted(sweep_dir.rglob("throughput.json")):
        overrides = dict(
            o.lstrip("+").split("=", 1) for o in yaml.safe_load((path.parent / ".hydra" / "overrides.yaml").read_text())
        )
        figures[f"{overrides['experiment']}/{overrides['trainer.precision']}"] = json.loads(path.read_text())
    missing = [f"{e}/{p}" for e in EXPERIMENTS for p in PRECISIONS if f"{e}/{p}" not in figures]
    if missing:
        errors = [p.read_text().splitlines()[0] for p in sweep_dir.rglob("error.txt")]
        raise SystemExit(f"seqlab: error: no throughput for {', '.join(missing)} ({'; '.join(errors) or 'no error'})")
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="untimed first steps (cuDNN plans, allocator)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model (the dry run)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.steps <= args.warmup:
        parser.error(f"--steps ({args.steps}) must be larger than --warmup ({args.warmup})")
    with tempfile.TemporaryDirectory() as tmp:
        result: dict = measure(args.device, args.steps, args.warmup, args.tiny, Path(tmp) / "sweep")
    for experiment in EXPERIMENTS:
        fp32, bf16 = (result[f"{experiment}/{p}"]["tokens_per_s"] for p in PRECISIONS)
        result[f"{experiment}/bf16_over_fp32"] = bf16 / fp32
        print(
            f"{experiment:<10} float32 {fp32:>12,.0f} tok/s   bf16-mixed {bf16:>12,.0f} tok/s   "
            f"bf16/fp32 {bf16 / fp32:.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
