"""``python -m MODULE ARGS`` in a real, separate process — started by fork from an interpreter that has already
imported the heavy libraries, instead of a new interpreter that imports them again.

Why: a seqlab run spends ~6 s of CPU importing torch, Lightning, torchmetrics, datasets and wandb before its first
line of work (``python -X importtime -m seqlab``), and the suite starts about a hundred of them. A fork of a warm
interpreter skips that and nothing else: the child is its own process, with its own working folder, environment,
stdin/stdout/stderr, exit status and signals; it runs the module as ``python -m`` does (``runpy``'s own
``_run_module_as_main``) and ends as the interpreter ends (thread joins, atexit handlers, the exit code of
``SystemExit``, a traceback and 1 for an exception, death by SIGINT for an unhandled Ctrl+C) — except for the
teardown of the modules, which only frees memory.

What a fork shares with its server, and how this module keeps it from mattering:

- what the interpreter read at start-up (``PYTHON*``, ``OMP_*``/``MKL_*`` thread counts, ``MALLOC_*``, ``LD_*``,
  ...): a request whose such variables differ from the server's runs in a fresh interpreter instead;
- the string-hash seed: tests whose point is that two separate interpreters agree (determinism across processes),
  or that start-up itself behaves (exit status before imports, allocator settings, installs), ask for
  ``fresh=True``;
- ``random``'s state and ``tempfile``'s cached folder: reset in the child.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: imported by the server before it forks (third-party only: seqlab's own modules load in the child, as in a run).
#: Not wandb: it makes a temporary media folder when imported, which the first child to exit would delete for all.
PRELOAD = (
    "torch",
    "pytorch_lightning",
    "torchmetrics",
    "hydra",
    "omegaconf",
    "datasets",
    "torch.utils.tensorboard",
    "matplotlib.pyplot",
)
#: environment variables read when an interpreter (or a library it loads) starts: a mismatch means a fresh process
STARTUP_PREFIXES = ("PYTHON", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "MALLOC_", "GLIBC_", "LD_", "CUDA_", "LC_", "LANG",
                    "HF_")  # huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME when it is imported

SERVER = r"""
import importlib, json, os, sys, threading
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
import gc
gc.freeze()  # the imported objects: never traversed again, so the children do not copy their pages
hello = {"threads": threading.active_count()}
out = os.fdopen(os.dup(1), "w")
print(json.dumps(hello), file=out, flush=True)


def serve():
    while True:
        line = sys.stdin.readline()
        if not line:
            sys.exit(0)
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            return request
        print(json.dumps({"pid": pid}), file=out, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), file=out, flush=True)


request = serve()
# the child: become `python -m <module> <args>` in the requested folder and environment
out.close()
for fd, path, flags in (
    (0, os.devnull, os.O_RDONLY),
    (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
):
    target = os.open(path, flags, 0o644)
    os.dup2(target, fd)
    os.close(target)
sys.stdin = open(0, closefd=False)
os.chdir(request["cwd"])
os.environ.clear()
os.environ.update(request["env"])
sys.path[0] = os.getcwd()
# PYTHONPATH as the interpreter would have put it: after the script's folder, before the standard library
extra = [os.path.abspath(p) for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
sys.path[1:1] = [p for p in extra if p not in sys.path]
sys.argv = ["-m", *request["args"]]
import random, runpy, tempfile
random.seed()
tempfile.tempdir = None


def __warm_main(module):
    # run the module as `python -m` does, then end as the interpreter does: threads joined, atexit handlers,
    # garbage collected, streams flushed, the exit code of SystemExit (a traceback and 1 for an exception; death by
    # SIGINT for an unhandled Ctrl+C). Only the teardown of the modules is skipped: it frees memory and, in a fork,
    # would first copy every page of the imported libraries (4 s).
    import atexit, gc, os, runpy, signal, sys, threading, traceback
    code, interrupted = 0, False
    try:
        runpy._run_module_as_main(module, alter_argv=True)
    except SystemExit as exit:
        code = exit.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        interrupted = True
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()
    atexit._run_exitfuncs()
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


__warm_module = request["module"]
for name in [name for name in globals() if not name.startswith("__")]:
    del globals()[name]
__warm_main(__warm_module)
"""


def startup_env(env: dict[str, str]) -> dict[str, str]:
    """The variables an interpreter reads at start-up (PYTHONPATH is applied by the child itself)."""
    return {k: v for k, v in env.items() if k.startswith(STARTUP_PREFIXES) and k != "PYTHONPATH"}


class WarmPython:
    """A warm interpreter that forks one ``python -m`` process per :meth:`run` (one at a time)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)
        self.server = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(PRELOAD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self.env,
            text=True,
            bufsize=1,
        )
        self.replies = self.server.stdout.fileno()  # read unbuffered: select() must see every reply
        hello = self._reply()
        # a thread in the server would be missing (and its locks possibly held) in every child
        self.usable = hello["threads"] == 1

    def close(self) -> None:
        if self.server.poll() is None:
            self.server.stdin.close()
            self.server.wait(timeout=30)

    def run(
        self, module: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float, fresh: bool = False
    ) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", module, *args]
        alive = self.server.poll() is None
        if fresh or not self.usable or not alive or startup_env(env) != startup_env(self.env):
            return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        with tempfile.TemporaryDirectory(prefix="warm-") as scratch:
            out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
            request = {
                "args": args,
                "cwd": str(cwd),
                "module": module,
                "env": env,
                "stdout": str(out),
                "stderr": str(err),
            }
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            pid = self._reply()["pid"]
            returncode = self._wait(pid, timeout)
            stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
        if returncode is None:
            raise subprocess.TimeoutExpired(command, timeout, output=stdout, stderr=stderr)
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    def _reply(self) -> dict:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self.replies, 1)
            if not chunk:
                raise RuntimeError("the warm interpreter ended unexpectedly")
            line += chunk
        return json.loads(line)

    def _wait(self, pid: int, timeout: float) -> int | None:
        """The child's exit code as ``subprocess`` gives it (−N for a signal), or None after killing it at
        ``timeout``."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.replies, selectors.EVENT_READ)
            timed_out = not selector.select(timeout)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        returncode = self._reply()["returncode"]
        return None if timed_out else returncode
