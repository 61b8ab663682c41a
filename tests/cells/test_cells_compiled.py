"""``compile=True``: every built-in cell's update compiles as one graph, matches eager, and never recompiles for a
new sequence length. Compilation on CPU calls a C compiler (seconds per cell), hence one test, marked slow."""

from __future__ import annotations

import logging

import pytest
import torch
from support.cells import BUILTIN_CELLS, build


@pytest.mark.slow
def test_every_builtin_update_compiles_fullgraph_matches_eager_and_is_not_recompiled_per_length(caplog):
    torch._dynamo.reset()
    caplog.set_level(logging.INFO, logger="seqlab.cells.compiled")
    for cell in BUILTIN_CELLS:
        torch.manual_seed(0)
        eager = build(cell, "structured", input_size=3, hidden_size=4)
        compiled = build(cell, "structured", input_size=3, hidden_size=4, compile=True)  # fullgraph=True inside
        x = torch.randn(2, 5, 3)
        expected, _ = eager(x)
        out, _ = compiled(x)
        out.sum().backward()
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        wrapper = compiled._compiled_fns[(id(compiled.cells[0]), "update")]
        seen = dict(wrapper.compile_seconds)
        frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        compiled(torch.randn(2, 9, 3))[0].sum().backward()  # another sequence length: same step shapes
        assert wrapper.compile_seconds == seen, f"{cell}: a new sequence length recompiled the update"
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames
    timings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled ")]
    assert len(timings) == len(BUILTIN_CELLS) and all(t.endswith(" s") for t in timings)
