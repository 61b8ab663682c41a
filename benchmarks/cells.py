"""Training-step speed of every cell and execution path, side by side with ``torch.nn.LSTM``.

One training step is forward + ``sum(output).backward()`` at batch 32, length 100, input 64. Every configuration
and the ``torch.nn.LSTM`` baseline run in the same process, with the same thread count, interleaved round by
round in a shuffled order (so drift in machine load hits all of them alike). Each reports the median time over
``--reps`` rounds, and the median over rounds of its time divided by ``torch.nn.LSTM``'s in the same round.

    python -m benchmarks.cells --threads 1 --hidden 64 256 1024 --json outputs/bench_cells.json

JSON: ``{"<cell>[<path>]@<hidden>": {"ms": ..., "ratio_to_nn_lstm": ...}, "lstmcell_loop@<hidden>": ...}`` with
path ``fused``/``structured``/``step``/``scan``; ``--compile`` adds ``"<cell>[structured+compile]@<hidden>"`` etc.
Run from the repository root (``python -m benchmarks.cells``) or with seqlab installed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from seqlab.cells import Recurrent
from seqlab.cells.recurrent import supported_paths
from seqlab.registry import CELLS

BATCH, LENGTH, INPUT = 32, 100, 64


def training_step(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """A closure running one forward + backward of ``module`` on ``x``."""

    def run() -> None:
        for p in module.parameters():
            p.grad = None
        out = module(x)[0]
        out.sum().backward()

    return run


def lstmcell_loop(hidden: int) -> nn.Module:
    """A plain Python loop over ``torch.nn.LSTMCell``, the way tutorials write it."""

    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = nn.LSTMCell(INPUT, hidden)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
            h = c = x.new_zeros(x.shape[0], hidden)
            outs = []
            for x_t in x.unbind(1):
                h, c = self.cell(x_t, (h, c))
                outs.append(h)
            return (torch.stack(outs, 1),)

    return Loop()


def benchmark(hidden: int, cells: list[str], reps: int, compile: bool) -> dict[str, tuple[float, float]]:
    """For each configuration at one hidden size: (median ms of one training step, median over rounds of its time
    divided by ``torch.nn.LSTM``'s time in the same round)."""
    torch.manual_seed(0)
    x = torch.randn(BATCH, LENGTH, INPUT)
    steps: dict[str, Callable[[], None]] = {
        "nn_lstm": training_step(nn.LSTM(INPUT, hidden, batch_first=True), x),
        "lstmcell_loop": training_step(lstmcell_loop(hidden), x),
    }
    for cell in cells:
        for path in supported_paths(cell):
            steps[f"{cell}[{path}]"] = training_step(Recurrent(cell, INPUT, hidden, path=path), x)
            if compile and path in ("structured", "step"):
                rnn = Recurrent(cell, INPUT, hidden, path=path, compile=True)
                steps[f"{cell}[{path}+compile]"] = training_step(rnn, x)
    for run in steps.values():  # warm up: allocator, oneDNN primitives, compilation
        run()
        run()
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for rep in range(reps):
        random.Random(rep).shuffle(order)  # no configuration always follows the same neighbour
        for name in order:
            start = time.perf_counter()
            steps[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    base = times["nn_lstm"]
    return {
        name: (statistics.median(t), statistics.median(a / b for a, b in zip(t, base))) for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cells", nargs="+", default=CELLS.names(), help="registered cell names (default: all)")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument(
        "--compile", action="store_true", help="also time the loop paths with compile=True ('<cell>[<path>+compile]')"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    results: dict[str, dict[str, float]] = {}
    print(f"threads={args.threads} batch={BATCH} length={LENGTH} input={INPUT} reps={args.reps} compile={args.compile}")
    print(f"{'configuration':<30}{'hidden':>8}{'ms':>11}{'× nn.LSTM':>11}")
    for hidden in args.hidden:
        for name, (ms, ratio) in benchmark(hidden, args.cells, args.reps, args.compile).items():
            print(f"{name:<30}{hidden:>8}{ms:>11.2f}{ratio:>11.2f}", flush=True)
            results[f"{name}@{hidden}"] = {"ms": round(ms, 3), "ratio_to_nn_lstm": round(ratio, 3)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
