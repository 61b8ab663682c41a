"""Data throughput: cold and warm preparation of every offline default, and loader speed vs model speed.

For each datamodule (its offline default, default options) this measures, each in a fresh process:

- ``cold_s``: ``prepare_data()`` + ``setup()`` into an empty cache; ``warm_s``: the same again (a cache hit);
- ``loader_batches_per_s``: batches per second the train loader delivers (iterating only);
- ``model_batches_per_s``: training steps per second of the default model (LSTM 256, head by task) on those
  batches — forward, backward and optimizer step, the consumer the loader must keep up with;
- ``headroom`` = loader / model: above 1 the loader is never the bottleneck.

    python benchmarks/data.py --json data.json [--data text_char tweets] [--batches 30] [--threads 2]

``--memory MB [MB ...]``: peak memory of preparing a generated corpus of that many megabytes instead (text_char and
text_word, default options, ``prepare_data()`` + ``setup()`` into an empty cache, one fresh process each):
``peak_rss_mb`` is the process's peak resident set (``ru_maxrss``), ``baseline_rss_mb`` its resident set after the
imports, before preparing; ``corpus_mb``, ``prepare_s`` (wall) and ``cpu_s`` (user + system) go with them.

    python benchmarks/data.py --memory 50 500 --json memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULTS = ("text_char", "text_word", "abc_music", "tweets", "parallel", "tagging")


def measure(name: str, cache: Path, batches: int) -> dict:
    import torch
    from omegaconf import OmegaConf

    from seqlab.models.builder import make_module
    from seqlab.run.compose import compose_config
    from seqlab.run.train import build_datamodule

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
    module = make_module(dm.spec, {k: model[k] for k in ("embedding", "embedding_dim", "encoder", "cell", "head")})
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


def write_corpus(path: Path, megabytes: float, seed: int = 0) -> None:
    """A synthetic English-like corpus of ``megabytes`` MB: paragraphs (blank-line separated) of 1–8 lines of 5–15
    words drawn from a Zipf-like vocabulary of 20 000 made-up words, plus one single-line paragraph of 10 % of the
    corpus in the middle (the case that used to cost most). Written a block of words at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    words = np.array(["".join(rng.choice(letters, rng.integers(1, 10))) for _ in range(20_000)], dtype=object)
    zipf = 1 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()
    target, written, long_line = int(megabytes * 1_000_000), 0, True
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            if long_line and written >= target // 2:
                text = " ".join(words[rng.choice(len(words), target // 50, p=zipf)])[: target // 10] + "\n\n"
                long_line = False
            else:
                block = words[rng.choice(len(words), 200_000, p=zipf)]
                ends = np.cumsum(rng.integers(5, 16, size=len(block)))  # line ends, 5–15 words apart
                lines = [" ".join(block[a:b]) for a, b in zip(np.r_[0, ends[:-1]], ends) if b <= len(block)]
                breaks = np.cumsum(rng.integers(1, 9, size=len(lines)))  # paragraph ends, 1–8 lines apart
                text = "".join(
                    "\n".join(lines[a:b]) + "\n\n" for a, b in zip(np.r_[0, breaks[:-1]], breaks) if b <= len(lines)
                )
            out.write(text)
            written += len(text)


def measure_memory(name: str, corpus: Path, cache: Path) -> dict:
    from omegaconf import OmegaConf

    from seqlab.run.compose import compose_config
    from seqlab.run.train import build_datamodule

    overrides = [f"data={name}", f"data.source={corpus}", f"paths.cache_dir={cache}", "paths.output_dir=/unused"]
    options = OmegaConf.to_container(compose_config(overrides).data, resolve=True)
    import datasets  # noqa: F401  (imported before the baseline is read, as preparation imports it)
    import pytorch_lightning  # noqa: F401

    baseline = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
    started, cpu = time.perf_counter(), time.process_time()
    dm = build_datamodule(dict(options))
    dm.prepare_data()
    dm.setup("fit")
    return {
        "corpus_mb": corpus.stat().st_size / 1e6,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "prepare_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "train_examples": len(dm.splits["train"]),
        "vocab": len(dm.spec.vocab),
    }


def memory_main(sizes: list[float], env: dict, json_path: Path | None) -> None:
    results = {}
    print(f"{'data':<10}{'corpus MB':>10}{'baseline MB':>13}{'peak RSS MB':>13}{'wall s':>9}{'CPU s':>8}")
    for megabytes in sizes:
        with tempfile.TemporaryDirectory() as folder:
            corpus = Path(folder) / "corpus.txt"
            write_corpus(corpus, megabytes)
            for name in ("text_char", "text_word"):
                cache = Path(folder) / f"cache-{name}"
                worker = ["--memory-worker", name, "--corpus", str(corpus), "--cache", str(cache)]
                done = subprocess.run([sys.executable, __file__, *worker], env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{name:<10} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
                    continue
                r = results[f"{name}@{megabytes:g}MB"] = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{name:<10}{r['corpus_mb']:>10.0f}{r['baseline_rss_mb']:>13.0f}{r['peak_rss_mb']:>13.0f}"
                      f"{r['prepare_s']:>9.1f}{r['cpu_s']:>8.1f}", flush=True)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DEFAULTS))
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--memory", type=float, nargs="+", metavar="MB", help="peak RSS of preparing a corpus")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.cache, args.batches)))
        return
    if args.memory_worker:
        print(json.dumps(measure_memory(args.memory_worker, args.corpus, args.cache)))
        return

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}
    if args.memory:
        memory_main(args.memory, env, args.json)
        return
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
