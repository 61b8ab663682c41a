"""CUDA tests: every module here is marked ``gpu`` and skipped where CUDA is absent (see gpu_helpers.py).

The builders of the cell and head tests are reused, not copied: their folders go on ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / name) for name in ("cells", "heads")]


@pytest.fixture
def device() -> torch.device:
    """The device under test: CUDA, or what ``SEQLAB_GPU_TESTS_DEVICE`` names (``cpu`` for the dry run)."""
    from gpu_helpers import target_device

    return target_device()


@pytest.fixture(autouse=True)
def exact_float32():
    """Float32 means float32: no TF32 in cuBLAS or cuDNN (cuDNN's RNNs use TF32 by default on Ampere and later,
    which alone differs from float32 by ~1e-3), and one CPU thread on the shared CPU machine."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_num_threads()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(1)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
    torch.set_num_threads(saved[2])
