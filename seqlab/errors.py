"""User-facing errors: the CLI prints them as one line (``seqlab: error: ...``) and exits non-zero."""

from __future__ import annotations

from seqlab.data.base import DataError
from seqlab.models.module import CheckpointError
from seqlab.registry import ConfigError

__all__ = ["ConfigError", "DataError", "CheckpointError", "user_errors", "one_line"]


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that describe a problem in the user's input rather than a bug in seqlab."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return ConfigError, DataError, CheckpointError, OmegaConfBaseException, HydraException


def one_line(err: BaseException) -> str:
    """The first meaningful line of an error's message (Hydra/OmegaConf add 'full_key: ...' detail lines)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    cause = err.__cause__ or err.__context__
    if isinstance(err, _hydra_instantiation()) and cause is not None:
        return one_line(cause)
    return lines[0] if lines else type(err).__name__


def _hydra_instantiation() -> type[BaseException]:
    from hydra.errors import InstantiationException

    return InstantiationException
