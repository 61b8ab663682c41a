"""What the CUDA tests share: the device under test, sizes for it, and moving batches and modules to it.

The tests run against CUDA (``pytest -m gpu``) and are skipped without it, so CI stays green. Setting
``SEQLAB_GPU_TESTS_DEVICE=cpu`` runs the same test bodies on the CPU with tiny sizes: that is how
``benchmarks/gpu/check.sh --dry-run`` keeps them from rotting on machines without a GPU. (On the CPU a test
compares the CPU with itself, so the dry run proves the tests run, not that CUDA agrees.)
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

DEVICE_ENV = "SEQLAB_GPU_TESTS_DEVICE"


def target_device() -> torch.device:
    return torch.device(os.environ.get(DEVICE_ENV, "cuda"))


def on_cuda() -> bool:
    return target_device().type == "cuda"


#: applied to every module here: marked ``gpu``; skipped when the target is CUDA and there is none
needs_device = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        on_cuda() and not torch.cuda.is_available(),
        reason=f"needs CUDA (set {DEVICE_ENV}=cpu to run these tests on the CPU)",
    ),
]

#: a 2-layer bidirectional Recurrent, padded batches: big enough on CUDA to use real kernels (cuDNN picks other
#: algorithms for tiny sizes), tiny on the CPU dry run
SIZES = (
    dict(input_size=32, hidden_size=64, num_layers=2, bidirectional=True)
    if on_cuda()
    else dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
)
BATCH, STEPS = (16, 24) if on_cuda() else (3, 6)
#: float32 on two devices: the same math in a different order, so agreement to a few ulps of the largest value
FLOAT32_TOLERANCE = 1e-4


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def lengths_for(batch: int, steps: int) -> torch.Tensor:
    """Padded lengths: the full length, a middle one and 1 (the shortest a sequence can be), then cycling."""
    pattern = [steps, max(1, steps * 2 // 3), 1]
    return torch.tensor([pattern[i % 3] for i in range(batch)])
