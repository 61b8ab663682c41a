"""``hydra/launcher=joblib`` with each job in a process of its own: a job that dies fails alone.

Hydra's joblib launcher runs jobs inside loky's worker processes; when one dies (the kernel's OOM killer, a SIGKILL, a
segfault in a native library) loky marks the whole pool broken, every job still running fails with it and the sweep
ends in a 40-line ``TerminatedWorkerError`` traceback, with no ``error.txt`` anywhere. Here a worker only supervises:
it forks one process per job and waits for it. A job process that dies is recorded like any failed job —
``error.txt`` in its folder, the sweeper's worst value — and the other jobs go on; the sweep then ends with its
summary and a non-zero exit (:func:`seqlab.run.job.main`).
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import OmegaConf, open_dict


def _child(conn: Any, args: tuple) -> None:
    idx, overrides, hydra_context, config, task_function, singleton_state = args
    ret = _core.execute_job(idx, overrides, hydra_context, config, task_function, singleton_state)
    ret.hydra_cfg = None  # not needed by the sweepers, and not always picklable
    conn.send(ret)
    conn.close()


def isolated_job(idx: int, overrides: Sequence[str], hydra_context: Any, config: Any, task_function: Any,
                 singleton_state: dict[Any, Any]) -> JobReturn:
    """Run one job in a forked process and wait; a process that ends without a result fails its job only."""
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.num = idx
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
    HydraConfig.instance().set_config(sweep_config)
    job_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)

    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(send, (idx, overrides, hydra_context, config, task_function, singleton_state))
    )
    process.start()
    send.close()
    result = None
    try:
        result = receive.recv()
    except EOFError:  # the job's process ended without sending a result
        pass
    process.join()
    if isinstance(result, JobReturn):
        return result
    code = process.exitcode
    how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
    message = f"the job's process ({process.pid}) died ({how}) before it finished; the other jobs went on"
    from seqlab.run import scale

    value = scale.write_failed_job(job_dir, message, idx, list(overrides), OmegaConf.select(
        sweep_config, "hydra.sweeper.direction"))
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=value,
                     working_dir=str(job_dir), task_name=sweep_config.hydra.job.name)


class IsolatedJoblibLauncher(JoblibLauncher):
    """Hydra's joblib launcher, each job in its own process (see the module's docstring)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib import Parallel, delayed

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        options = dict(self.joblib, backend="loky")
        _core.process_joblib_cfg(options)
        _core.log.info("Joblib.Parallel(%s) is launching %d jobs, each in its own process",
                       ",".join(f"{k}={v}" for k, v in options.items()), len(job_overrides))
        for idx, overrides in enumerate(job_overrides):
            _core.log.info("\t#%d : %s", initial_job_idx + idx, " ".join(filter_overrides(overrides)))
        state = Singleton.get_state()
        return Parallel(**options)(
            delayed(isolated_job)(initial_job_idx + idx, overrides, self.hydra_context, self.config,
                                  self.task_function, state)
            for idx, overrides in enumerate(job_overrides)
        )
