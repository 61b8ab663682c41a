"""User-facing errors the CLI prints as one line (``seqlab: error: ...``); no heavy imports, so torch need not load."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem: the message names the option, the value, and what is allowed."""


class DataError(ValueError):
    """Bad input data: the message names the file (and line) and what is wrong."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: the message names the file and the problem."""


class NonFiniteError(ValueError):
    """A model whose outputs are not finite (NaN or inf), asked for something they cannot give (a sample)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that describe a problem in the user's input rather than a bug in seqlab."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return ConfigError, DataError, CheckpointError, NonFiniteError, OmegaConfBaseException, HydraException


def one_line(err: BaseException) -> str:
    """One line from an error's message: Hydra/OmegaConf's detail lines (``full_key: ...``) are dropped."""
    from hydra.errors import InstantiationException

    cause = err.__cause__ or err.__context__
    if isinstance(err, InstantiationException) and cause is not None:
        return one_line(cause)
    lines = []
    for line in str(err).strip().splitlines():
        line = line.strip()
        if line.startswith(("full_key:", "object_type", "reference_type", "Set the environment variable")):
            break
        if line:
            lines.append(line.rstrip("."))
    message = "; ".join(lines) if lines else type(err).__name__
    full_key = getattr(err, "full_key", None)  # OmegaConf errors know the dotted key
    if full_key and full_key not in message:
        message = f"{full_key}: {message}"
    return message


#: the exit status of a process stopped by each signal, as a shell reports it (128 + the signal's number)
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


class RunInterrupted(BaseException):
    """SIGINT/SIGTERM outside the training loop's own handling (testing, sampling at the end of fit): raised from the
    signal handler so the phase stops at once; the job prints one line and exits 130/143. A ``BaseException``, so no
    ``except Exception`` on the way turns it into a failure."""

    def __init__(self, signal_name: str, phase: str = ""):
        super().__init__(signal_name)
        self.signal_name, self.phase = signal_name, phase

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT.get(self.signal_name, 1)
