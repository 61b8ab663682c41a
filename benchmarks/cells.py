"""Training-step speed of every cell and execution path, side by side with ``torch.nn.LSTM``.

One training step is forward + ``sum(output).backward()`` at batch 32 (``--batch``), length 100, input 64. Every
configuration and the ``torch.nn.LSTM`` baseline run in the same process, with the same thread count, interleaved
round by round in a shuffled order (so drift in machine load hits all of them alike). Each reports the median time
over ``--reps`` rounds, and the median over rounds of its time divided by ``torch.nn.LSTM``'s in the same round.

    python -m benchmarks.cells --threads 1 --hidden 64 256 1024 --json outputs/bench_cells.json
    python -m benchmarks.cells --device cuda --batch 64 --hidden 256 1024 --precision 32-true bf16-mixed

On CUDA the baseline is cuDNN's LSTM kernel; each step is timed between two device synchronisations. Float32 is
true float32 on both sides (TF32 off in cuBLAS and cuDNN, unless ``--tf32``); ``bf16-mixed`` runs the step under
``torch.autocast(dtype=torch.bfloat16)``, as ``trainer.precision=bf16-mixed`` does.

JSON: ``{"<cell>[<path>]@<hidden>": {"ms": ..., "ratio_to_nn_lstm": ...}, "lstmcell_loop@<hidden>": ...}`` with
path ``fused``/``structured``/``step``/``scan`` (``structured/plain`` with ``--plain-product``: without the
prepacked recurrent product); ``--clock cpu`` times by process CPU time instead of wall time;
``--compile`` adds ``"<cell>[structured+compile]@<hidden>"`` etc.;
bf16-mixed keys end in ``/bf16-mixed`` (``"lstm[structured]@1024/bf16-mixed"``). The first printed line names
the device, batch, reps and TF32 setting.
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
PRECISIONS = ("32-true", "bf16-mixed")


def training_step(module: nn.Module, x: torch.Tensor, precision: str = "32-true") -> Callable[[], None]:
    """A closure running one forward + backward of ``module`` on ``x`` (under bf16 autocast for ``bf16-mixed``)."""

    def run() -> None:
        for p in module.parameters():
            p.grad = None
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            out = module(x)[0]
        out.sum().backward()

    return run


def timed_ms(run: Callable[[], None], device: torch.device, clock: str = "wall") -> float:
    """Time of ``run()`` in ms; on CUDA between two synchronisations, so the queued kernels are counted.

    ``clock="cpu"`` counts the process's CPU time instead of wall time (CPU only): on a machine shared with other
    jobs, time spent waiting for a core is then not counted (cache and memory-bandwidth contention still is)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    now = time.process_time if clock == "cpu" else time.perf_counter
    sync()
    start = now()
    run()
    sync()
    return (now() - start) * 1e3


def without_packed_product(run: Callable[[], None]) -> Callable[[], None]:
    """``run`` with the structured path's prepacked recurrent product switched off (every hidden size too small)."""
    from seqlab.cells import products

    def plain() -> None:
        threshold, products.PACKED_MIN_HIDDEN = products.PACKED_MIN_HIDDEN, 2**62
        try:
            run()
        finally:
            products.PACKED_MIN_HIDDEN = threshold

    return plain


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


def benchmark(
    hidden: int,
    cells: list[str],
    reps: int,
    compile: bool,
    device: torch.device | None = None,
    precision: str = "32-true",
    batch: int = BATCH,
    clock: str = "wall",
    plain_product: bool = False,
) -> dict[str, tuple[float, float]]:
    """For each configuration at one hidden size: (median ms of one training step, median over rounds of its time
    divided by ``torch.nn.LSTM``'s time in the same round)."""
    device = device or torch.device("cpu")
    torch.manual_seed(0)
    x = torch.randn(batch, LENGTH, INPUT, device=device)
    modules: dict[str, nn.Module] = {
        "nn_lstm": nn.LSTM(INPUT, hidden, batch_first=True),
        "lstmcell_loop": lstmcell_loop(hidden),
    }
    for cell in cells:
        for path in supported_paths(cell):
            modules[f"{cell}[{path}]"] = Recurrent(cell, INPUT, hidden, path=path)
            if compile and path in ("structured", "step"):
                modules[f"{cell}[{path}+compile]"] = Recurrent(cell, INPUT, hidden, path=path, compile=True)
    steps = {name: training_step(module.to(device), x, precision) for name, module in modules.items()}
    if plain_product:  # the structured path as before the prepacked recurrent product (commit 5d11b59)
        for cell in cells:
            if "structured" in supported_paths(cell):
                step = training_step(Recurrent(cell, INPUT, hidden, path="structured").to(device), x, precision)
                steps[f"{cell}[structured/plain]"] = without_packed_product(step)
    for run in steps.values():  # warm up: allocator, oneDNN/cuDNN primitives, compilation
        run()
        run()
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for rep in range(reps):
        random.Random(rep).shuffle(order)  # no configuration always follows the same neighbour
        for name in order:
            times[name].append(timed_ms(steps[name], device, clock))
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
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--precision", nargs="+", default=["32-true"], choices=PRECISIONS)
    parser.add_argument("--tf32", action="store_true", help="let cuBLAS and cuDNN use TF32 for float32 (CUDA)")
    parser.add_argument(
        "--plain-product",
        action="store_true",
        help="also time the structured path without the prepacked recurrent product ('<cell>[structured/plain]')",
    )
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: time by the process's CPU time (CPU only)"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    # cuDNN's RNNs use TF32 by default while cuBLAS does not: without this the baseline would run in lower precision
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    name_of_device = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results: dict[str, dict[str, float]] = {}
    print(
        f"device={name_of_device} threads={args.threads} batch={args.batch} length={LENGTH} input={INPUT} "
        f"reps={args.reps} compile={args.compile} tf32={args.tf32} clock={args.clock}"
    )
    print(f"{'configuration':<30}{'precision':>11}{'hidden':>8}{'ms':>11}{'× nn.LSTM':>11}")
    for precision in args.precision:
        suffix = "" if precision == "32-true" else f"/{precision}"
        for hidden in args.hidden:
            figures = benchmark(
                hidden, args.cells, args.reps, args.compile, device, precision, args.batch,
                clock=args.clock, plain_product=args.plain_product,
            )
            for name, (ms, ratio) in figures.items():
                print(f"{name:<30}{precision:>11}{hidden:>8}{ms:>11.2f}{ratio:>11.2f}", flush=True)
                results[f"{name}@{hidden}{suffix}"] = {"ms": round(ms, 3), "ratio_to_nn_lstm": round(ratio, 3)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
