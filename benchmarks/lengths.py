"""Variable-length batches vs windows: training tokens/s per real token, side by side in one run.

For each datamodule (default options, default model: embedding 64, LSTM 256, the head its task picks) this takes the
first ``--batches`` training batches, as the loader makes them (one whole sequence per row, bucketed by length), and
builds from each its *window twin*: the same real tokens (padding dropped) cut into the same number of rows of one
length, with no ``lengths`` — what a batch of windows of the same model looks like. Both are timed as training steps
(forward, loss, backward, Adam step), interleaved round by round; the figure is the median over ``--reps`` rounds.

- ``tokens_per_s``: real tokens (the sum of ``lengths``) per second of the variable-length batches;
- ``window_tokens_per_s``: tokens per second of their window twins;
- ``cost_ratio`` = window / variable: what a real token costs in a variable-length batch, in window tokens (target
  ≤ 1.5); ``padding``: the share of padded steps in the variable-length batches.

``abc_music`` also gets ``abc_music[windows]``: the real ``data.mode=windows`` loader (100-token windows of the
concatenated tunes), the comparison of issue 29. ``--unbucketed`` adds ``<data>[unbucketed]``: the same data with
``data.bucket=false`` (random lengths in a batch, so much more padding).

    python benchmarks/lengths.py [--data abc_music tweets tagging] [--batches 6] [--reps 3] [--threads 1]
                                 [--clock wall|cpu] [--json lengths.json] [--profile abc_music]

``--clock cpu`` times by the process's CPU time instead of wall time (on a machine shared with other jobs, time
spent waiting for a core is then not counted).

``--profile DATA`` instead profiles the steps of DATA's variable-length batches (torch.profiler, the top operators
by self CPU time; then cProfile, the top Python functions) and prints both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

DEFAULT_DATA = ("abc_music", "tweets", "tagging")


def load(name: str, cache: Path, batches: int, overrides: tuple[str, ...] = ()) -> tuple[list[dict], object, dict]:
    from omegaconf import OmegaConf

    from seqlab.run.compose import compose_config
    from seqlab.run.train import build_datamodule

    cfg = compose_config([f"data={name}", *overrides, f"paths.cache_dir={cache}", "paths.output_dir=/unused"])
    dm = build_datamodule(OmegaConf.to_container(cfg.data, resolve=True))
    dm.prepare_data()
    dm.setup("fit")
    seen = []
    for batch in dm.train_dataloader():
        seen.append(batch)
        if len(seen) == batches:
            break
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return seen, dm.spec, {k: model[k] for k in ("embedding", "embedding_dim", "encoder", "cell", "head")}


def window_twin(batch: dict) -> dict:
    """The batch's real tokens, padding dropped, cut into as many rows of one length (no ``lengths``)."""
    import torch

    lengths = batch["lengths"]
    rows = batch["inputs"].shape[0]
    real = torch.arange(batch["inputs"].shape[1])[None, :] < lengths[:, None]
    width = int(lengths.sum()) // rows
    twin = {"inputs": batch["inputs"][real][: rows * width].view(rows, width)}
    targets = batch["targets"]
    twin["targets"] = targets[real][: rows * width].view(rows, width) if targets.dim() == 2 else targets
    return twin


def real_tokens(batch: dict) -> int:
    return int(batch["lengths"].sum()) if "lengths" in batch else batch["inputs"].numel()


def trainer_step(spec, model_options: dict):
    import torch

    from seqlab.models.builder import make_module

    torch.manual_seed(0)
    module = make_module(spec, model_options)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    module.train()

    def step(batch: dict) -> None:
        loss = module.model.head.loss(module.model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def timed(step, batches: list[dict], clock=time.perf_counter) -> float:
    started = clock()
    for batch in batches:
        step(batch)
    return sum(real_tokens(b) for b in batches) / (clock() - started)


def measure(
    names: list[str], cache: Path, batches: int, reps: int, clock=time.perf_counter, unbucketed: bool = False
) -> dict:
    sides = {}  # label -> (step, batches)
    padding = {}
    for name in [*names, *(f"{n}[unbucketed]" for n in names if unbucketed)]:
        data = name.removesuffix("[unbucketed]")
        overrides = ("data.bucket=false",) if name != data else ()
        seen, spec, options = load(data, cache, batches, overrides)
        step = trainer_step(spec, options)
        sides[name] = (step, seen)
        sides[f"{name}@window_twin"] = (step, [window_twin(b) for b in seen])
        padding[name] = 1 - sum(real_tokens(b) for b in seen) / sum(b["inputs"].numel() for b in seen)
        if name == "abc_music":
            windows, spec_w, options_w = load(name, cache, batches, ("data.mode=windows",))
            sides["abc_music[windows]"] = (trainer_step(spec_w, options_w), windows)
    for step, seen in sides.values():  # warm-up: one step of each
        step(seen[0])
    rates: dict[str, list[float]] = {label: [] for label in sides}
    for _ in range(reps):
        for label, (step, seen) in sides.items():
            rates[label].append(timed(step, seen, clock))
    figures: dict[str, dict] = {}
    for name in padding:
        variable = statistics.median(rates[name])
        twin = statistics.median(rates[f"{name}@window_twin"])
        per_round = [w / v for v, w in zip(rates[name], rates[f"{name}@window_twin"])]
        figures[name] = {
            "tokens_per_s": round(variable),
            "window_tokens_per_s": round(twin),
            "cost_ratio": round(twin / variable, 3),
            "cost_ratio_median_round": round(statistics.median(per_round), 3),
            "padding": round(padding[name], 4),
            "mean_length": round(statistics.mean(float(b["lengths"].float().mean()) for b in sides[name][1]), 1),
            "batches": len(sides[name][1]),
        }
        if name == "abc_music":
            windows = statistics.median(rates["abc_music[windows]"])
            figures[name]["windows_mode_tokens_per_s"] = round(windows)
            figures[name]["cost_ratio_to_windows_mode"] = round(windows / variable, 3)
    return figures


def profile(name: str, cache: Path, batches: int) -> None:
    import cProfile
    import pstats

    from torch.profiler import profile as torch_profile

    seen, spec, options = load(name, cache, batches)
    step = trainer_step(spec, options)
    step(seen[0])
    with torch_profile() as prof:
        for batch in seen[1:]:
            step(batch)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    profiler = cProfile.Profile()
    profiler.enable()
    for batch in seen[1:]:
        step(batch)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("outputs/.cache"), help="prepared-data cache (warm)")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: process CPU time (for a shared machine)"
    )
    parser.add_argument(
        "--unbucketed", action="store_true", help="also each data with data.bucket=false ('<data>[unbucketed]')"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", metavar="DATA", help="profile DATA's variable-length steps instead")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cache = args.cache.resolve()
    if args.profile:
        profile(args.profile, cache, args.batches)
        return
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    figures = measure(args.data, cache, args.batches, args.reps, clock, args.unbucketed)
    print(f"{'data':<20} {'padding':>8} {'mean len':>9} {'tokens/s':>10} {'twin tok/s':>11} {'cost ×':>7}")
    for name, f in figures.items():
        print(
            f"{name:<20} {f['padding']:>8.1%} {f['mean_length']:>9.1f} {f['tokens_per_s']:>10,} "
            f"{f['window_tokens_per_s']:>11,} {f['cost_ratio']:>7.2f}"
        )
        if "windows_mode_tokens_per_s" in f:
            print(
                f"{'  vs data.mode=windows':<39} {f['windows_mode_tokens_per_s']:>21,} "
                f"{f['cost_ratio_to_windows_mode']:>7.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
