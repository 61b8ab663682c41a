"""The Cell contract: documented, runnable examples, every built-in selectable by name and by its config file."""

from __future__ import annotations

import doctest
import inspect
import re

import pytest
import torch
from support.cells import BUILTIN_CELLS

import seqlab.cells.base
import seqlab.cells.compiled
import seqlab.cells.recurrent
from seqlab import schema
from seqlab.cells import Cell, Recurrent
from seqlab.registry import CELLS, ConfigError


@pytest.mark.parametrize("module", [seqlab.cells.base, seqlab.cells.recurrent], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", BUILTIN_CELLS)
def test_every_builtin_cell_documents_its_equations_and_source(name):
    doc = inspect.getdoc(CELLS.get(name))
    assert ":math:" in doc or ".. math::" in doc, f"{name}: no equations in the docstring"
    assert re.search(r"(19|20)\d\d", doc), f"{name}: no source (author, year) in the docstring"


@pytest.mark.parametrize("name", BUILTIN_CELLS)
def test_every_builtin_cell_is_selectable_through_its_config_file(name):
    options = schema.defaults("cell", name)
    assert options.pop("name") == name
    rnn = Recurrent(name, input_size=3, hidden_size=4, num_layers=2, **options)
    out, state = rnn(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, 4)
    assert len(state) == len(CELLS.get(name).state_names)


def test_unknown_cell_and_unknown_option_are_config_errors():
    with pytest.raises(ConfigError, match="unknown cell 'lsmt'; choose one of: .*lstm"):
        Recurrent("lsmt", 3, 4)
    with pytest.raises(ConfigError, match="LSTMCell does not accept these options"):
        Recurrent("lstm", 3, 4, forget_gate=1.0)


@pytest.mark.parametrize(
    ("cell", "path", "message"),
    [
        ("peephole_lstm", "fused", "no fused torch.nn equivalent"),
        ("lstm", "scan", "no parallel scan"),
    ],
)
def test_asking_for_a_path_the_cell_lacks_is_a_config_error(cell, path, message):
    with pytest.raises(ConfigError, match=message):
        Recurrent(cell, 3, 4, path=path)


def test_lstm_forget_bias_sets_only_the_forget_gate_rows():
    cell = CELLS.get("lstm")(3, 4, forget_bias=1.0)
    assert torch.all(cell.b_x[4:8] == 1.0)
    assert not torch.any(cell.b_x[:4] == 1.0)


def test_irnn_starts_from_a_scaled_identity():
    cell = CELLS.get("irnn")(3, 4, recurrent_scale=0.5)
    assert torch.equal(cell.W_h, 0.5 * torch.eye(4)) and torch.all(cell.b_x == 0)


def test_cells_without_a_recurrent_matrix_have_no_W_h():
    for name in ("indrnn", "mingru", "minlstm"):
        cell = CELLS.get(name)(3, 4)
        assert cell.W_h is None and "W_h" not in dict(cell.named_parameters())


def test_auto_path_picks_fused_then_scan_then_structured():
    assert Recurrent("lstm", 3, 4).resolve_path() == "fused"
    assert Recurrent("mingru", 3, 4).resolve_path() == "scan"
    assert Recurrent("peephole_lstm", 3, 4).resolve_path() == "structured"
    tapping = Recurrent("lstm", 3, 4)
    tapping.tap_states = True  # the gradient-flow probe: a per-step path, whatever path says
    assert tapping.resolve_path() == "structured"
    tapping = Recurrent("mingru", 3, 4, path="scan")
    tapping.tap_states = True
    assert tapping.resolve_path() == "structured"


class MinimalGatedUnit(Cell):
    """MGU — Zhou et al. 2016: the forget gate multiplies h before the recurrent product, so only ``step`` fits.

    .. math::
        f_t = \\sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f), \\quad
        h_t = (1 - f_t) h_{t-1} + f_t \\tanh(W_{xh} x_t + W_{hh} (f_t h_{t-1}) + b_h)
    """

    gates = 2
    structured = False

    def step(self, x_t, state):
        H = self.hidden_size
        h = state[0]
        xf, xh = torch.nn.functional.linear(x_t, self.W_x, self.b_x).split(H, dim=-1)
        f = torch.sigmoid(xf + h @ self.W_h[:H].t())
        h_tilde = torch.tanh(xh + (f * h) @ self.W_h[H:].t())
        return ((1 - f) * h + f * h_tilde,)


def test_a_plugin_cell_with_only_step_runs_bidirectional_stacked_and_masked():
    rnn = Recurrent(MinimalGatedUnit, 3, 4, num_layers=2, bidirectional=True)
    assert rnn.resolve_path() == "step"
    with pytest.raises(ConfigError, match="does not implement update"):
        Recurrent(MinimalGatedUnit, 3, 4, path="structured")
    out, (h,) = rnn(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
    out.sum().backward()
    assert out.shape == (2, 5, 8) and h.shape == (4, 2, 4)
    assert torch.all(out[1, 2:] == 0)
    assert all(p.grad is not None for p in rnn.parameters())


def test_a_cell_with_extra_parameters_needs_no_guard_and_reset_parameters_covers_them():
    """``create_parameters`` runs before the one ``reset_parameters`` call of ``Cell.__init__``: a layer-norm-like
    gain exists when the cell is initialised, starts where ``reset_extra_parameters`` puts it, and a later
    ``reset_parameters()`` puts it back there (not at the uniform init of the four standard parameters)."""
    import torch
    from torch import nn

    from seqlab.cells import Cell, Recurrent

    class GainedElman(Cell):
        state_names = ("h",)
        gates = 1

        def create_parameters(self):
            self.gain = nn.Parameter(torch.empty(self.hidden_size))

        def reset_extra_parameters(self):
            nn.init.ones_(self.gain)

        def update(self, xp_t, hp_t, state):
            return (torch.tanh(self.gain * (xp_t + hp_t)),)

    cell = GainedElman(3, 5)
    assert torch.equal(cell.gain, torch.ones(5))
    with torch.no_grad():
        cell.gain.mul_(3.0)
        cell.W_x.zero_()
    cell.reset_parameters()
    assert torch.equal(cell.gain, torch.ones(5)) and cell.W_x.abs().sum() > 0
    out, _ = Recurrent(GainedElman, input_size=3, hidden_size=5)(torch.randn(2, 4, 3))
    assert out.shape == (2, 4, 5)
    out.sum().backward()


def test_built_in_extra_parameters_start_where_their_papers_put_them():
    import torch

    from seqlab.registry import CELLS

    assert torch.count_nonzero(CELLS.get("peephole_lstm")(3, 5).peephole) == 0
    assert torch.count_nonzero(CELLS.get("coupled_lstm")(3, 5, peepholes=True).peephole) == 0
    u = CELLS.get("indrnn")(3, 5, recurrent_max=0.5).u
    assert bool(((u >= 0) & (u <= 0.5)).all())


class BareTensorElman(Cell):
    """An Elman cell whose ``update`` forgot the tuple: ``return h`` instead of ``return (h,)``."""

    def update(self, xp_t, hp_t, state):
        return torch.tanh(xp_t + hp_t)


class StatelessLSTM(Cell):
    """Declares ``(h, c)`` but returns only ``h``."""

    state_names = ("h", "c")
    gates = 4

    def update(self, xp_t, hp_t, state):
        i, f, g, o = (xp_t + hp_t).chunk(4, dim=-1)
        return (torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g)),)


class WideStepCell(Cell):
    """A ``step``-only cell returning its pre-activation of all gates, ``(B, 2H)``, as the state."""

    gates = 2
    structured = False

    def step(self, x_t, state):
        return (torch.nn.functional.linear(x_t, self.W_x, self.b_x),)


@pytest.mark.parametrize(
    ("cell", "path", "message"),
    [
        (BareTensorElman, "structured", r"cell BareTensorElman: update\(\) returned a bare tensor \(2, 4\); it must "
         r"return the state tuple \('h',\), one \(2, 4\) tensor each"),
        (StatelessLSTM, "structured", r"cell StatelessLSTM: update\(\) returned a tuple of 1 \(\(2, 4\)\); it must "
         r"return the state tuple \('h', 'c'\)"),
        (BareTensorElman, "step", r"cell BareTensorElman: step\(\) returned a bare tensor \(2, 4\)"),
        (WideStepCell, "auto", r"cell WideStepCell: step\(\) returned a tuple of 1 \(\(2, 8\)\); .* one \(2, 4\) "),
    ],
)
def test_a_cell_returning_anything_but_its_state_tuple_fails_at_the_first_step_in_one_line(cell, path, message):
    rnn = Recurrent(cell, input_size=3, hidden_size=4, path=path)
    with pytest.raises(ConfigError, match=message) as err:
        rnn(torch.randn(2, 5, 3), lengths=torch.tensor([5, 3]))
    assert "\n" not in str(err.value)
    assert err.traceback[-1].name == "call"  # raised where the cell returned, not later where the state is read


def test_gate_names_must_name_every_gate_and_cut_w_h_into_its_blocks():
    class TwoGates(Cell):
        gates = 2
        gate_names = ("f", "c")

        def update(self, xp_t, hp_t, state):
            f, c = (xp_t + hp_t).chunk(2, dim=-1)
            return (torch.sigmoid(f) * state[0] + torch.tanh(c),)

    cell = TwoGates(3, 4)
    blocks = cell.recurrent_weights()
    assert list(blocks) == ["W_hf", "W_hc"] and torch.equal(blocks["W_hc"], cell.W_h[4:])
    assert list(CELLS.get("lstm")(3, 4).recurrent_weights()) == ["W_hi", "W_hf", "W_hc", "W_ho"]
    assert list(CELLS.get("rnn_tanh")(3, 4).recurrent_weights()) == ["W_h"]
    assert list(CELLS.get("indrnn")(3, 4).recurrent_weights()) == ["u"]
    assert CELLS.get("minlstm")(3, 4).recurrent_weights() == {}
    with pytest.raises(ValueError, match=r"TwoGates.gate_names \('f', 'c', 'o'\) must name its 2 gates"):
        type("TwoGates", (TwoGates,), {"gate_names": ("f", "c", "o")})(3, 4)
