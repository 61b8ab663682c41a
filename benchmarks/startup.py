"""Start-up time and memory of the command line.

- ``help_s``: ``python -m seqlab --help``;
- ``bad_option_s``: a bad value (``model.encoder.hidden_size=-3``) rejected with its one-line error;
- ``typo_with_plugins_s``: with both example plugins (``plugins/seqlab-*``) pip-installed into a private folder on
  ``PYTHONPATH``, each of a typo per config group (``cell=lstmm``, ``trainer.max_step=10``,
  ``+data.min_freqq=2``, ``callbacks.samples.temprature=0.5``, ``head=many_to_one model.head.dropout=lots``)
  rejected — the median over those inputs and the reps (issue 26's bound: 1.5 s on 2 cores);
- ``first_step_s``: from launching ``python -m seqlab`` (default experiment, data cache warm) to its first
  training step;
- ``peak_rss_mb``: peak resident memory of the default experiment (``trainer.max_steps`` steps, with one
  validation, sampling and checkpointing), from the kernel's accounting of the finished process.

Each figure is the median of ``--reps`` runs.

    python benchmarks/startup.py --reps 5 --json startup.json
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


def timed(args: list[str], env: dict, cwd: str) -> tuple[float, int, int]:
    """Seconds, exit code and peak RSS (kB) of one ``python -m seqlab`` process."""
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "seqlab", *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.time() - started, proc.returncode, usage.ru_maxrss


TYPOS = ["cell=lstmm", "trainer.max_step=10", "+data.min_freqq=2", "callbacks.samples.temprature=0.5",
         "head=many_to_one model.head.dropout=lots"]


def install_example_plugins(tmp: Path) -> str:
    """pip-install the example plugins (copies, no build isolation) into ``tmp/site``; returns that folder."""
    import shutil

    repo = Path(__file__).resolve().parents[1]
    sources = []
    for name in ("seqlab-mgu", "seqlab-reverse-digits"):
        shutil.copytree(repo / "plugins" / name, tmp / name, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        sources.append(str(tmp / name))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(tmp / "site"), *sources], check=True)
    return str(tmp / "site")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"help_s": [], "bad_option_s": [], "typo_with_plugins_s": [],
                                       "first_step_s": [], "peak_rss_mb": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SEQLAB_CACHE_DIR": f"{tmp}/cache", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
               "PYTHONWARNINGS": "ignore"}
        plugin_env = {**env, "PYTHONPATH": install_example_plugins(Path(tmp))}
        run = ["trainer.max_steps=2", "test=false"]
        timed(run + [f"hydra.run.dir={tmp}/warm"], env, tmp)  # build the data cache once
        for rep in range(args.reps):
            figures["help_s"].append(timed(["--help"], env, tmp)[0])
            seconds, code, _ = timed(["model.encoder.hidden_size=-3"], env, tmp)
            assert code != 0
            figures["bad_option_s"].append(seconds)
            for typo in TYPOS:
                seconds, code, _ = timed(typo.split(), plugin_env, tmp)
                assert code == 2, typo
                figures["typo_with_plugins_s"].append(seconds)
            run_dir = Path(tmp) / f"run{rep}"
            launched = time.time()
            _, code, _ = timed(run + [f"hydra.run.dir={run_dir}", "callbacks.throughput.warmup_steps=0"], env, tmp)
            first = json.loads((run_dir / "throughput.json").read_text())["first_step_at"]
            figures["first_step_s"].append(first - launched)
            _, code, rss = timed([f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps // 2}",
                                  f"hydra.run.dir={run_dir}-full"], env, tmp)
            assert code == 0
            figures["peak_rss_mb"].append(rss / 1024)
            print(f"round {rep + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in figures.items()), flush=True)
    result = {k: statistics.median(v) for k, v in figures.items()}
    print("median: " + "  ".join(f"{k} {v:.2f}" for k, v in result.items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
