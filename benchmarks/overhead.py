"""seqlab's overhead against a hand-written PyTorch loop, on the same word-level LSTM language model.

Both sides train the classic small word LM — embedding 200, 2×200 LSTM, truncated BPTT over 35 words in 20
parallel streams, SGD lr 20, gradient clipping at 0.25 — on the same WikiText/PTB-style folder (train.txt,
valid.txt, test.txt written from CPython's Python reference) for the same number of steps:

- ``seqlab``: ``python -m seqlab data=text_word ...`` with its default callbacks (checkpoints, samples,
  gradient flow at its default interval, throughput, non-finite guard, LR monitor), loggers (CSV, TensorBoard,
  wandb offline) and progress bar;
- ``seqlab_no_gradient_flow``: the same with ``callbacks.gradient_flow=null`` (the diagnostics' cost);
- ``plain``: a minimal loop over ``nn.Embedding → nn.LSTM → nn.Linear`` a user would write by hand;
- ``plain_retain``: the same loop with glibc told to keep freed memory (``MALLOC_MMAP_MAX_=0
  MALLOC_TRIM_THRESHOLD_=1073741824``), which is what seqlab's ``cpu_allocator=retain`` does: the ratio to it is
  the framework's own overhead, with the allocator's gain taken out.

Each side runs in its own process with the same thread count; sides are interleaved round by round and each
reports tokens/s over the steps after a warm-up. A seqlab step is timed from the end of the previous one to its own
end (``ThroughputMonitor``): fetching the batch, every hook, callback, logger and the progress bar are included.
The hand-written loop is timed from the end of its warm-up to the end of its last step (on CUDA between two device
synchronisations, so its kernels queue freely in between: the fastest such a loop can go).
Printed: medians and ratios (seqlab / plain).

    python benchmarks/overhead.py --steps 300 --reps 5 --threads 2 --json overhead.json
    python benchmarks/overhead.py --device cuda --steps 300 --reps 3 --json overhead_cuda.json
    python benchmarks/overhead.py --sides seqlab,seqlab_no_gradient_flow --json probe.json   # the probe's cost only

``--device cuda``: seqlab runs with ``trainer=gpu``, the hand-written loop on ``cuda``; the ``plain_retain`` side
(glibc's CPU allocator) is left out, and so are its keys.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqlab.run.allocator import RETAIN_ENV  # glibc's environment twin of seqlab's mallopt calls

EMBED, HIDDEN, LAYERS, BPTT, BATCH, LR, CLIP = 200, 200, 2, 35, 20, 20.0, 0.25


def write_corpus(folder: Path) -> Path:
    """A WikiText-style folder from the Python reference: one paragraph per line, lower-cased words."""
    from pydoc_data.topics import topics

    paragraphs = [" ".join(p.split()).lower() for t in sorted(topics) for p in topics[t].split("\n\n") if p.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    n = len(paragraphs)
    splits = {"train.txt": paragraphs[: int(0.9 * n)], "valid.txt": paragraphs[int(0.9 * n) : int(0.95 * n)],
              "test.txt": paragraphs[int(0.95 * n) :]}
    for name, lines in splits.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def plain_worker(folder: Path, steps: int, warmup: int, device: str = "cpu") -> dict:
    """The loop a user would write: batchify, carry detached state, clip, step."""
    import torch
    from torch import nn

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    words = [w for line in (folder / "train.txt").read_text().splitlines() for w in [*line.split(), "<eos>"]]
    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", *dict.fromkeys(words)])}
    ids = torch.tensor([vocab[w] for w in words])
    streams = ids[: len(ids) // BATCH * BATCH].view(BATCH, -1).to(device)

    class WordLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(len(vocab), EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True)
            self.out = nn.Linear(HIDDEN, len(vocab))

        def forward(self, x, state):
            y, state = self.lstm(self.embedding(x), state)
            return self.out(y), state

    torch.manual_seed(0)
    model = WordLM().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    state, position, tokens, started = None, 0, 0, 0.0
    for step in range(steps):
        if step == warmup:
            sync()
            started = time.perf_counter()
        if position + BPTT + 1 > streams.shape[1]:
            position, state = 0, None
        x, y = streams[:, position : position + BPTT], streams[:, position + 1 : position + BPTT + 1]
        position += BPTT
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        if step >= warmup:
            tokens += x.numel()
    sync()
    return {"tokens_per_s": tokens / (time.perf_counter() - started), "steps": steps - warmup}


def seqlab_args(folder: Path, steps: int, run_dir: Path, gradient_flow: bool, device: str = "cpu") -> list[str]:
    args = [*(["trainer=gpu"] if device.startswith("cuda") else []),
        "data=text_word", f"data.source={folder}", "data.mode=stream", f"data.bptt={BPTT}", f"data.batch_size={BATCH}",
        f"model.embedding_dim={EMBED}", f"model.encoder.hidden_size={HIDDEN}", f"model.encoder.num_layers={LAYERS}",
        "optimizer=sgd", f"optimizer.lr={LR}", f"trainer.gradient_clip_val={CLIP}", f"trainer.max_steps={steps}",
        "test=false", f"hydra.run.dir={run_dir}",
    ]
    return args if gradient_flow else [*args, "callbacks.gradient_flow=null"]


def probe_figures(run_dir: Path) -> dict[str, float]:
    """The gradient-flow probe's own time in a finished seqlab run, against its step time: ``probe_s`` (median of
    its recordings after step 0, which also pays first-call costs), ``step_s`` (1 / steps_per_s of the timed steps)
    and ``probe_cost_at_default_interval`` = probe_s / (period × step_s), period = log_every_n_steps × interval."""
    import csv

    from omegaconf import OmegaConf

    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    period = config.callbacks.gradient_flow.every_n_steps or (
        config.trainer.log_every_n_steps * config.callbacks.gradient_flow.interval)
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        probes = [float(r["grad_flow/probe_seconds"]) for r in csv.DictReader(f)
                  if r.get("grad_flow/probe_seconds") not in (None, "") and int(r["step"]) > 0]
    if not probes:
        return {}
    step_s = 1 / json.loads((run_dir / "throughput.json").read_text())["steps_per_s"]
    probe_s = statistics.median(probes)
    return {"probe_s": probe_s, "step_s": step_s, "period": period,
            "probe_cost_at_default_interval": probe_s / (period * step_s)}


def run_side(side: str, folder: Path, steps: int, warmup: int, env: dict, device: str = "cpu",
             extras: dict | None = None) -> float:
    """One side's tokens/s; for the ``seqlab`` side, :func:`probe_figures` go into ``extras``."""
    if side.startswith("plain"):
        env = {**env, **RETAIN_ENV} if side == "plain_retain" else env
        out = subprocess.run([sys.executable, __file__, "--worker", str(folder), "--steps", str(steps),
                              "--warmup", str(warmup), "--device", device], env=env, capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["tokens_per_s"]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        args = seqlab_args(folder, steps, run_dir, gradient_flow=side == "seqlab", device=device)
        args.append(f"callbacks.throughput.warmup_steps={warmup}")
        done = subprocess.run([sys.executable, "-m", "seqlab", *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"seqlab run failed:\n{done.stderr[-3000:]}")
        if side == "seqlab" and extras is not None:
            extras.update(probe_figures(run_dir))
        return json.loads((run_dir / "throughput.json").read_text())["tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--sides", help="comma-separated subset of the sides to run (default: all); "
                        "seqlab,seqlab_no_gradient_flow measures the gradient-flow probe's cost alone")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(plain_worker(args.worker, args.steps, args.warmup, args.device)))
        return
    on_cuda = args.device.startswith("cuda")

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore"}
    sides: tuple[str, ...] = ("seqlab", "seqlab_no_gradient_flow", "plain", *(() if on_cuda else ("plain_retain",)))
    if args.sides:
        chosen = tuple(args.sides.split(","))
        if unknown := [s for s in chosen if s not in sides]:
            raise SystemExit(f"overhead.py: error: --sides: unknown side(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(sides)}")
        sides = chosen
    figures: dict[str, list[float]] = {s: [] for s in sides}
    probes: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_corpus(Path(tmp) / "corpus")
        env["SEQLAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        # prepare the data cache outside the timed runs
        run_side("seqlab", folder, args.warmup + 5, min(5, args.warmup), env, args.device)
        for rep in range(args.reps):
            for side in sides:
                extras: dict[str, float] = {}
                figures[side].append(run_side(side, folder, args.steps, args.warmup, env, args.device, extras))
                if extras:
                    probes.append(extras)
            print(f"round {rep + 1}: " + "  ".join(f"{s} {figures[s][-1]:,.0f} tok/s" for s in sides), flush=True)
    median = {s: statistics.median(v) for s, v in figures.items()}
    result: dict = {f"{s}_tokens_per_s": median[s] for s in sides}
    result.update(steps=args.steps, warmup=args.warmup, reps=args.reps, threads=args.threads, device=args.device)
    print("\nmedian tokens/s  " + "  ".join(f"{s} {median[s]:,.0f}" for s in sides))
    if {"seqlab", "plain"} <= set(sides):
        ratios = [a / b for a, b in zip(figures["seqlab"], figures["plain"])]
        result["ratio"] = median["seqlab"] / median["plain"]
        result["median_round_ratio"] = statistics.median(ratios)
        print(f"seqlab / plain = {result['ratio']:.3f} (median of per-round ratios {result['median_round_ratio']:.3f})")
    if {"seqlab", "plain_retain"} <= set(sides):
        result["ratio_to_plain_retain"] = median["seqlab"] / median["plain_retain"]
        print(f"seqlab / plain with memory retained = {result['ratio_to_plain_retain']:.3f}")
    if {"seqlab", "seqlab_no_gradient_flow"} <= set(sides):
        # per round: the two sides ran back to back, so a round's ratio cancels most of a shared machine's drift
        rounds = [1 - a / b for a, b in zip(figures["seqlab"], figures["seqlab_no_gradient_flow"])]
        result["gradient_flow_cost"] = 1 - median["seqlab"] / median["seqlab_no_gradient_flow"]
        result["gradient_flow_cost_median_round"] = statistics.median(rounds)
        print(f"gradient-flow cost {100 * result['gradient_flow_cost']:.1f} % (median of per-round costs "
              f"{100 * result['gradient_flow_cost_median_round']:.1f} %)")
    if probes:  # timed inside each run: the probe against that run's own steps, immune to the machine's drift
        for key in ("probe_s", "step_s", "probe_cost_at_default_interval"):
            result[key] = statistics.median(p[key] for p in probes)
        cost = 100 * result["probe_cost_at_default_interval"]
        print(f"probe {1000 * result['probe_s']:.0f} ms vs step {1000 * result['step_s']:.1f} ms, every "
              f"{probes[0]['period']:.0f} steps: {cost:.2f} % of training time")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
