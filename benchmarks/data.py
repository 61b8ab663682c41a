"""Data throughput: cold and warm preparation of every offline default, and loader speed vs model speed.

For each datamodule (its offline default, default options) this measures, each in a fresh process:

- ``cold_s``: ``prepare_data()`` + ``setup()`` into an empty cache; ``warm_s``: the same again (a cache hit);
- ``loader_batches_per_s``: batches per second the train loader delivers (iterating only);
- ``model_batches_per_s``: training steps per second of the default model (LSTM 256, head by task) on those
  batches — forward, backward and optimizer step, the consumer the loader must keep up with;
- ``headroom`` = loader / model: above 1 the loader is never the bottleneck.

    python benchmarks/data.py --json data.json [--data text_char tweets] [--batches 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULTS = ("text_char", "text_word", "abc_music", "tweets", "parallel", "tagging")


def measure(name: str, cache: Path, batches: int) -> dict:
    import torch
    from omegaconf import OmegaConf

    from seqlab.cli import compose_config
    from seqlab.models.module import SequenceModule
    from seqlab.train import build_datamodule

    cfg = compose_config([f"data={name}", f"paths.cache_dir={cache}", "paths.output_dir=/unused"])
    options = OmegaConf.to_container(cfg.data, resolve=True)
    figures = {}
    for label in ("cold_s", "warm_s"):
        started = time.perf_counter()
        dm = build_datamodule(dict(options))
        dm.prepare_data()
        dm.setup("fit")
        figures[label] = time.perf_counter() - started

    loader = dm.train_dataloader()
    started, seen = time.perf_counter(), []
    for batch in loader:
        seen.append(batch)
        if len(seen) == batches:
            break
    figures["loader_batches_per_s"] = len(seen) / (time.perf_counter() - started)

    model = OmegaConf.to_container(cfg.model, resolve=True)
    module = SequenceModule(dm.spec, {k: model[k] for k in ("embedding", "embedding_dim", "encoder", "cell", "head")})
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    module.train()

    def step(batch: dict) -> None:
        loss = module.model.head.loss(module.model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(seen[0])  # warm-up
    started = time.perf_counter()
    for batch in seen[1:]:
        step(batch)
    figures["model_batches_per_s"] = (len(seen) - 1) / (time.perf_counter() - started)
    figures["headroom"] = figures["loader_batches_per_s"] / figures["model_batches_per_s"]
    figures["batch_size"] = dm.batch_size
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DEFAULTS))
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.cache, args.batches)))
        return

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}
    results = {}
    print(f"{'data':<12}{'cold s':>9}{'warm s':>9}{'loader b/s':>12}{'model b/s':>11}{'headroom':>10}")
    for name in args.data:
        with tempfile.TemporaryDirectory() as cache:
            done = subprocess.run([sys.executable, __file__, "--worker", name, "--cache", cache, "--batches",
                                   str(args.batches)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name:<12} failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        r = results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name:<12}{r['cold_s']:>9.2f}{r['warm_s']:>9.3f}{r['loader_batches_per_s']:>12.1f}"
              f"{r['model_batches_per_s']:>11.1f}{r['headroom']:>9.1f}×", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
