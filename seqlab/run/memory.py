"""How much memory a composed config needs at least, before anything is built: pre-flight refuses a model that
cannot fit (rather than the kernel's OOM killer ending it).

A lower bound, never a guess upward: the recurrent encoder's weights (gate blocks per layer and direction), their
gradients and the optimizer's state, plus the activations kept for backward (gate pre-activations and states per
layer and step). The embedding and head are left out (their size needs the vocabulary). Torch is not imported.

>>> need = training_bytes({"model": {"embedding_dim": 64, "encoder": {"name": "recurrent", "hidden_size": 256,
...     "num_layers": 1}, "cell": {"name": "lstm"}}, "optimizer": {"_target_": "torch.optim.Adam"},
...     "data": {"batch_size": 64, "seq_len": 100}})
>>> round(need / 2**20, 1)
36.3
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

#: gate blocks of W_h per built-in cell (rows = gates × hidden_size); an unknown (plugin) cell counts as 1
CELL_GATES = {"lstm": 4, "peephole_lstm": 4, "coupled_lstm": 3, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1, "irnn": 1,
              "indrnn": 1, "mingru": 2, "minlstm": 3}
#: optimizer state per parameter, in parameter-sized tensors
OPTIMIZER_STATE = {"Adam": 2, "AdamW": 2, "SGD": 1}


def training_bytes(config: dict[str, Any]) -> int:
    """A lower bound on the bytes training ``config`` needs (float32)."""
    model = config.get("model", {})
    encoder = model.get("encoder", {})
    if encoder.get("name", "recurrent") != "recurrent":
        return 0
    hidden, layers = int(encoder.get("hidden_size", 0)), int(encoder.get("num_layers", 1) or 1)
    directions = 2 if encoder.get("bidirectional") else 1
    gates = CELL_GATES.get(str(model.get("cell", {}).get("name")), 1)
    inputs = int(model.get("embedding_dim") or 1)
    params = 0
    for layer in range(layers):
        width = inputs if layer == 0 else hidden * directions
        params += directions * gates * hidden * (width + hidden + 2)
    optimizer = str(config.get("optimizer", {}).get("_target_", "")).rsplit(".", 1)[-1]
    weights = params * (2 + OPTIMIZER_STATE.get(optimizer, 0))  # weights, gradients, optimizer state
    data = config.get("data", {})
    steps = int(data.get("bptt") or data.get("seq_len") or 1)
    activations = int(data.get("batch_size", 1)) * steps * layers * directions * (gates + 1) * hidden
    return 4 * (weights + activations)


def device_bytes(accelerator: str) -> tuple[int, str] | None:
    """The training device's memory and name: RAM, or ``nvidia-smi``'s first GPU; None if unknown without torch."""
    if accelerator in ("gpu", "cuda", "auto") and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout.split()
            return int(float(out[0]) * 2**20), "the GPU's memory"
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return None
    if accelerator in ("cpu", "auto"):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    return None


def check(config: dict[str, Any]) -> str | None:
    """Why ``config`` cannot train on this machine (one line with both figures), or None."""
    need = training_bytes(config)
    device = device_bytes(str(config.get("trainer", {}).get("accelerator", "cpu")))
    if device is None or need <= device[0]:
        return None
    encoder = config["model"]["encoder"]
    return (f"model.encoder.hidden_size={encoder.get('hidden_size')}, num_layers={encoder.get('num_layers', 1)}: "
            f"training needs at least {need / 2**30:,.1f} GiB (weights, gradients, optimizer state, activations) and "
            f"{device[1]} is {device[0] / 2**30:,.1f} GiB; use a smaller model or batch, or add check_memory=false to "
            "try anyway")
