"""Compiling a cell's per-step function (``update`` or ``step``) for ``Recurrent(compile=True)``.

The loop of ``Recurrent`` stays in Python; only the pointwise update is compiled (one fused kernel forward, one
backward), with ``dynamic=False`` and ``fullgraph=True``. The compiled step sees ``(B, gates*H)`` tensors, so its
shapes do not depend on the sequence length: a new length never recompiles, a new batch size (the last, smaller
batch) or grad mode (train vs. eval) compiles once more. Inductor caches the generated code on disk, so a second process
with the same shapes skips most of the work. The time each compilation took is logged once, at INFO level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from seqlab.registry import ConfigError

log = logging.getLogger(__name__)


def _signature(args: tuple[Any, ...]) -> tuple:
    """What makes torch.compile (dynamic=False) specialise: shapes, dtypes, devices, requires_grad, grad mode."""
    flat: list[Any] = [torch.is_grad_enabled()]
    for a in args:
        for t in a if isinstance(a, tuple) else (a,):
            if isinstance(t, torch.Tensor):
                flat.append((tuple(t.shape), t.dtype, t.device.type, t.requires_grad))
            else:
                flat.append(t)
    return tuple(flat)


class CompiledStep:
    """``torch.compile(fn, dynamic=False, fullgraph=True)`` that logs how long each new specialisation took.

    ``compile_seconds`` maps each input signature seen to its first call's wall time (compilation included).
    """

    def __init__(self, fn: Callable[..., Any], name: str):
        self.name = name
        self.compiled = torch.compile(fn, dynamic=False, fullgraph=True)
        self.compile_seconds: dict[tuple, float] = {}

    def __call__(self, *args: Any) -> Any:
        signature = _signature(args)
        if signature in self.compile_seconds:
            return self.compiled(*args)
        start = time.perf_counter()
        try:
            result = self.compiled(*args)
        except torch._dynamo.exc.Unsupported as err:
            raise ConfigError(
                f"model.compile=true: {self.name} does not compile as one graph ({str(err).splitlines()[0]}); "
                "remove Python branches on tensor values and .item() from it, or set compile=false"
            ) from err
        seconds = time.perf_counter() - start
        self.compile_seconds[signature] = seconds
        shapes = [s for s in signature[1:] if isinstance(s, tuple)]
        log.info("compiled %s for %s (grad=%s) in %.1f s", self.name, shapes[:1], signature[0], seconds)
        return result
