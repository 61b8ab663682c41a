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
  validation, sampling and checkpointing), from the kernel's accounting of the finished process;
- ``timeline``: seconds from launch at which the default experiment (data cache warm) reaches each phase:
  ``interpreter`` (Python is up), ``seqlab`` (seqlab's ``main`` called), ``config`` (composed, checked, the job
  started: ``train.run`` called), ``lightning`` (``pytorch_lightning`` and torch imported), ``data`` (the
  datamodule set up from the cache, its split report written), ``model`` (built), ``loggers`` (made),
  ``trainer`` (made), ``fit_start`` (Lightning's ``on_fit_start``: the loggers' runs started, wandb's included),
  ``train_start`` (after the sanity validation), ``first_step`` (the first training batch starts). Measured by
  running seqlab in a child process of this script with marks set on those functions as their modules load
  (:func:`timeline_child`); the run itself is unchanged;
- ``timeline_rss_mb``: the resident memory (MB) of that child at each of those phases.

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


def timeline_child(out: str, argv: list[str]) -> None:
    """Run ``python -m seqlab ARGV`` in this process, recording when each start-up phase is reached (``time.time()``)
    into the JSON file OUT at exit. Marks are set on seqlab's and Lightning's functions as their modules finish
    loading (an import hook), so nothing is imported earlier than the run imports it."""
    import atexit
    import functools
    import importlib.abc
    import importlib.util

    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    marks: dict[str, float] = {}
    rss: dict[str, float] = {}  # resident memory (MB) at each mark, from /proc/self/statm

    def mark(name: str) -> None:
        if name not in marks:
            marks[name] = time.time()
            rss[name] = int(Path("/proc/self/statm").read_text().split()[1]) * page_mb

    mark("interpreter")

    def after(module, name: str, phase: str) -> None:  # the phase is reached when FUNCTION returns
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            mark(phase)
            return result

        setattr(module, name, wrapper)

    def before(module, name: str, phase: str) -> None:  # ... when FUNCTION is called
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            mark(phase)
            return original(*args, **kwargs)

        setattr(module, name, wrapper)

    def on_callback_hooks(module) -> None:
        original = module._call_callback_hooks

        def wrapper(trainer, hook_name, *args, **kwargs):
            if hook_name in ("on_fit_start", "on_train_start", "on_train_batch_start"):
                mark({"on_train_batch_start": "first_step"}.get(hook_name, hook_name[3:]))
            return original(trainer, hook_name, *args, **kwargs)

        module._call_callback_hooks = wrapper

    patches = {
        "seqlab.run.job": lambda m: before(m, "main", "seqlab"),
        "seqlab.run.train": lambda m: (before(m, "run", "config"), after(m, "build_loggers", "loggers")),
        "pytorch_lightning": lambda m: mark("lightning"),
        # the data phase (prepare, setup, vocab.json and data_splits.json) ends when the model build starts
        "seqlab.models.builder": lambda m: (after(m, "build_module", "model"), before(m, "build_module", "data")),
        "seqlab.run.scale": lambda m: after(m, "build_trainer", "trainer"),
        "pytorch_lightning.trainer.call": on_callback_hooks,
    }

    class Marker(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name not in patches:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            self.loader, spec.loader = spec.loader, self
            return spec

        def create_module(self, spec):
            return self.loader.create_module(spec)

        def exec_module(self, module):
            self.loader.exec_module(module)
            patches[module.__name__](module)

    sys.meta_path.insert(0, Marker())
    atexit.register(lambda: Path(out).write_text(json.dumps({"at": marks, "rss_mb": rss})))
    # what ``python -m seqlab ARGV`` runs (seqlab/__main__.py calls seqlab.cli.main), called directly: under
    # runpy.run_module's swapped __main__ module, wandb's start took 2-3 s longer than in a real run
    sys.argv = [str(Path(importlib.util.find_spec("seqlab").origin).with_name("__main__.py")), *argv]
    from seqlab.cli import main

    main()


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
    parser.add_argument("--timeline-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timeline_child:
        return timeline_child(args.timeline_child[0], args.timeline_child[1:])
    figures: dict[str, list[float]] = {"help_s": [], "bad_option_s": [], "typo_with_plugins_s": [],
                                       "first_step_s": [], "peak_rss_mb": []}
    timeline: dict[str, list[float]] = {}
    timeline_rss: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SEQLAB_CACHE_DIR": f"{tmp}/cache", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
               "PYTHONWARNINGS": "ignore"}
        plugin_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [install_example_plugins(Path(tmp)),
                                                                    os.environ.get("PYTHONPATH")]))}
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
            marks_file = Path(tmp) / f"timeline{rep}.json"
            launched = time.time()
            subprocess.run([sys.executable, __file__, "--timeline-child", str(marks_file), *run,
                            f"hydra.run.dir={run_dir}-timeline"], env=env, cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            marks = json.loads(marks_file.read_text())
            for phase, at in sorted(marks["at"].items(), key=lambda item: item[1]):
                timeline.setdefault(phase, []).append(at - launched)
                timeline_rss.setdefault(phase, []).append(marks["rss_mb"][phase])
            _, code, rss = timed([f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps // 2}",
                                  f"hydra.run.dir={run_dir}-full"], env, tmp)
            assert code == 0
            figures["peak_rss_mb"].append(rss / 1024)
            print(f"round {rep + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in figures.items()), flush=True)
    result: dict = {k: statistics.median(v) for k, v in figures.items()}
    print("median: " + "  ".join(f"{k} {v:.2f}" for k, v in result.items()))
    result["timeline"] = {phase: statistics.median(at) for phase, at in timeline.items()}
    result["timeline_rss_mb"] = {phase: statistics.median(mb) for phase, mb in timeline_rss.items()}
    print("timeline (s from launch, median): " + "  ".join(f"{k} {v:.2f}" for k, v in result["timeline"].items()))
    print("resident MB at each phase (median): "
          + "  ".join(f"{k} {v:.0f}" for k, v in result["timeline_rss_mb"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
