"""The CPU memory allocator setting of a run (``cpu_allocator``).

PyTorch on CPU ``malloc``s every activation and gradient and frees it within the step. glibc returns large freed
blocks to the OS (unmapping blocks over its mmap threshold, trimming the heap's top), so the next step maps them again
and the kernel zero-fills every page (measured: benchmarks/README.md). ``retain`` tells glibc to serve all blocks from
the heap and keep freed memory: the process's memory stays at its peak instead of shrinking between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("seqlab")

CHOICES = ("retain", "system")
# mallopt parameters (glibc <malloc.h>)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
TRIM_THRESHOLD = 1 << 30  # free memory at the top of the heap beyond 1 GiB is still given back
#: the same settings as glibc environment variables, read when a process starts: child processes (DDP ranks
#: started with ``spawn``, DataLoader workers, anything a run launches) inherit them
RETAIN_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the one with these ``mallopt`` parameters), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
    except (OSError, AttributeError):
        return None  # musl and others
    return libc


def configure_cpu_allocator(mode: str) -> bool:
    """Apply ``cpu_allocator=<mode>`` here and to child processes (user-set variables win); True if glibc took it."""
    if mode not in CHOICES:
        raise ValueError(f"cpu_allocator={mode!r}: expected one of {', '.join(CHOICES)}")
    if mode == "system":
        return False
    libc = glibc()
    if libc is None:
        log.debug("cpu_allocator=retain: not glibc, allocator left as it is")
        return False
    for name, value in RETAIN_ENV.items():
        os.environ.setdefault(name, value)
    ok = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not ok:
        log.warning("cpu_allocator=retain: glibc refused the settings; allocator left as it is")
    return ok
