"""cpu_allocator=retain: freed memory is reused, so a training step does not page-fault its tensors in again."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from seqlab.run.allocator import RETAIN_ENV, configure_cpu_allocator, glibc

pytestmark = pytest.mark.e2e  # each test starts Python processes

# a word-LM-like training step whose logits (700 x 16,000 floats, 45 MB) are over glibc's largest mmap threshold:
# with glibc's defaults they are mapped afresh (and page-faulted in) every step
PROBE = """
import json, os, resource, statistics, sys, torch
from seqlab.run.allocator import RETAIN_ENV, configure_cpu_allocator
applied = configure_cpu_allocator(sys.argv[1])
torch.manual_seed(0)
out = torch.nn.Linear(64, 16_000)
x, y = torch.randn(700, 64), torch.randint(0, 16_000, (700,))
faults = []
for step in range(20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.nn.functional.cross_entropy(out(x), y).backward()
    if step >= 5:  # the heap grows to its working size in the first few steps
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "median_faults_per_step": statistics.median(faults),
                  "env": {k: os.environ.get(k) for k in RETAIN_ENV}}))
"""


def probe(mode: str, env: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in RETAIN_ENV} | (env or {})
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(glibc() is None, reason="the retain settings are glibc's")
def test_retain_stops_the_page_faults_of_repeated_large_allocations():
    system, retain = probe("system"), probe("retain")
    assert not system["applied"] and retain["applied"]
    assert system["median_faults_per_step"] > 10_000  # the logits and their gradient: 2 x 11,000 pages
    # a step now and then still maps one block afresh (heap fragmentation); the typical step maps none
    assert retain["median_faults_per_step"] < 100
    assert retain["env"] == RETAIN_ENV and system["env"] == dict.fromkeys(RETAIN_ENV)


@pytest.mark.skipif(glibc() is None, reason="the retain settings are glibc's")
def test_processes_a_run_starts_inherit_the_setting():
    """DDP ranks started with spawn and other child processes get the settings through the environment."""
    child = probe("system", env=RETAIN_ENV)  # a process that did not call configure_cpu_allocator itself
    assert not child["applied"] and child["median_faults_per_step"] < 100


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="cpu_allocator='fast'"):
        configure_cpu_allocator("fast")
