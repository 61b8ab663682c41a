"""Field-standard cell options (issue 15): each variant against a hand-written step of its equations, float64
gradcheck on every path it has, one result on every path, and the options' effect at init and in training.

- ``lstm`` / ``peephole_lstm``: ``forget_bias`` 1.0 by default, on the forget-gate rows of ``b_x``, the same on the
  fused (``torch.nn.LSTM``) path;
- ``coupled_lstm``: ``forget_bias`` (through ``b_i = -forget_bias``, since ``f = 1 - i``) and ``peepholes``;
- ``gru``: ``reset_after=False`` (reset before the recurrent product, step path only);
- ``indrnn``: ``|u| <= recurrent_max`` after every optimizer step.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from support.cells import build, random_state, relative_error
from support.runs import TINY, run_dirs
from test_cells_paths import gradcheck_recurrent, run_with_grads, torch_nn_twin

from seqlab import schema
from seqlab.cells import Recurrent
from seqlab.cells.recurrent import supported_paths
from seqlab.registry import CELLS, ConfigError


def sigmoid(a):
    return 1 / (1 + torch.exp(-a))


def gru_reset_before_step(cell, x, h):
    """Cho et al. 2014 eq. 5–8 with biases, written out gate by gate (rows r, z, n)."""
    H = cell.hidden_size
    W_x, b_x, W_h = cell.W_x, cell.b_x, cell.W_h
    r = sigmoid(x @ W_x[:H].T + b_x[:H] + h @ W_h[:H].T)
    z = sigmoid(x @ W_x[H : 2 * H].T + b_x[H : 2 * H] + h @ W_h[H : 2 * H].T)
    n = torch.tanh(x @ W_x[2 * H :].T + b_x[2 * H :] + (r * h) @ W_h[2 * H :].T)
    return (1 - z) * n + z * h


def cifg_peephole_step(cell, x, h, c):
    """Greff et al. 2017's vanilla LSTM with f = 1 - i (rows i, c_tilde, o; peepholes p_i, p_o)."""
    H = cell.hidden_size
    W_x, b_x, W_h = cell.W_x, cell.b_x, cell.W_h
    p_i, p_o = cell.peephole[0], cell.peephole[1]
    i = sigmoid(x @ W_x[:H].T + b_x[:H] + h @ W_h[:H].T + p_i * c)
    f = 1 - i
    z = torch.tanh(x @ W_x[H : 2 * H].T + b_x[H : 2 * H] + h @ W_h[H : 2 * H].T)
    c_new = z * i + c * f
    o = sigmoid(x @ W_x[2 * H :].T + b_x[2 * H :] + h @ W_h[2 * H :].T + p_o * c_new)
    return o * torch.tanh(c_new), c_new


VARIANTS = {
    "gru[reset_after=false]": ("gru", {"reset_after": False}),
    "coupled_lstm[peepholes=true]": ("coupled_lstm", {"peepholes": True}),
}
VARIANT_PATHS = [
    (variant, path)
    for variant, (cell, options) in VARIANTS.items()
    for path in supported_paths(CELLS.get(cell)(2, 2, **options))
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_equals_a_hand_written_step_of_its_equations_over_a_sequence(variant):
    cell_name, options = VARIANTS[variant]
    rnn = build(cell_name, "auto", dtype=torch.float64, input_size=3, hidden_size=5, **options)
    cell = rnn.cells[0]
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    state = random_state(rnn, 4, torch.float64)
    out, final = rnn(x, state=state)
    s = tuple(t[0] for t in state)
    expected = []
    for t in range(7):
        s = gru_reset_before_step(cell, x[:, t], *s) if cell_name == "gru" else cifg_peephole_step(cell, x[:, t], *s)
        s = s if isinstance(s, tuple) else (s,)
        expected.append(s[0])
    torch.testing.assert_close(out, torch.stack(expected, 1), rtol=1e-12, atol=1e-12)
    for f, e in zip(final, s):
        torch.testing.assert_close(f[0], e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("variant", "path"), VARIANT_PATHS, ids=[f"{v}[{p}]" for v, p in VARIANT_PATHS])
def test_variant_gradcheck_float64_bidirectional_with_padding(variant, path):
    cell_name, options = VARIANTS[variant]
    torch.manual_seed(0)
    assert gradcheck_recurrent(cell_name, path, lengths=torch.tensor([3, 2]), **options)


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_paths_give_the_same_outputs_and_gradients_eager_and_compiled(variant):
    """Every path of the variant, and the compiled form of its per-step function, against the plain step path."""
    cell_name, options = VARIANTS[variant]
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 4, 1])
    sizes = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, **options)
    reference = build(cell_name, "step", **sizes)
    state = random_state(reference, 3)
    ref_out, ref_final, ref_grads = run_with_grads(reference, x, lengths, state)
    runs = [(path, False) for path in supported_paths(reference.cells[0]) if path != "step"]
    runs += [("structured" if reference.cells[0].structured else "step", True)]
    for path, compiled in runs:
        out, final, grads = run_with_grads(build(cell_name, path, compile=compiled, **sizes), x, lengths, state)
        where = f"{variant}[{path}{', compiled' if compiled else ''}]"
        assert (out - ref_out).abs().max() <= 1e-5, where
        for f, ref in zip(final, ref_final):
            assert (f - ref).abs().max() <= 1e-5, where
        for name, g in grads.items():
            assert relative_error(g, ref_grads[name]) <= 1e-5, f"{where} gradient of {name}"


def test_gru_reset_after_false_has_one_bias_per_gate_and_runs_only_the_step_path():
    cell = CELLS.get("gru")(3, 4, reset_after=False)
    assert set(dict(cell.named_parameters())) == {"W_x", "b_x", "W_h"}  # b_h would only duplicate b_x
    assert supported_paths(cell) == ["step"] and supported_paths("gru") == ["fused", "structured", "step"]
    assert Recurrent("gru", 3, 4, reset_after=False).resolve_path() == "step"
    assert Recurrent("gru", 3, 4).resolve_path() == "fused"
    with pytest.raises(ConfigError) as err:
        Recurrent("gru", 3, 4, reset_after=False, path="fused")
    assert str(err.value) == (
        "model.encoder.path=fused: GRUCell with reset_after=false (reset before the recurrent product) has no fused "
        "torch.nn equivalent (its paths: auto, step)"
    )
    with pytest.raises(ConfigError, match="structured: GRUCell with reset_after=false .* does not implement update"):
        Recurrent("gru", 3, 4, reset_after=False, path="structured")


def test_the_two_gru_conventions_differ_for_the_same_weights():
    torch.manual_seed(0)
    after = build("gru", "step", input_size=3, hidden_size=4)
    before = build("gru", "step", input_size=3, hidden_size=4, reset_after=False)
    before.load_state_dict({k: v for k, v in after.state_dict().items() if not k.endswith("b_h")})
    with torch.no_grad():
        after.cells[0].b_h.zero_()  # with b_h = 0 only the place of r differs
    x = torch.randn(2, 5, 3)
    assert not torch.allclose(after(x)[0], before(x)[0], atol=1e-3)


@pytest.mark.parametrize("cell", ["lstm", "peephole_lstm", "coupled_lstm"])
def test_forget_bias_defaults_to_one_in_code_and_config(cell):
    assert schema.defaults("cell", cell)["forget_bias"] == 1.0
    H = 4
    b_x = CELLS.get(cell)(3, H).b_x.detach()
    forget = sigmoid(b_x[:H]) if cell == "coupled_lstm" else None
    if cell == "coupled_lstm":  # f = 1 - i = sigmoid(-a_i): the bias sits on the input-gate rows, negated
        assert torch.all(b_x[:H] == -1.0) and torch.allclose(1 - forget, sigmoid(torch.tensor(1.0)).expand(H))
        assert not torch.any(b_x[H:].abs() == 1.0)
    else:
        assert torch.all(b_x[H : 2 * H] == 1.0)
        assert not torch.any(torch.cat([b_x[:H], b_x[2 * H :]]).abs() == 1.0)
    zero = CELLS.get(cell)(3, H, forget_bias=0.0).b_x.detach()
    assert zero.abs().max() <= 1 / H**0.5  # forget_bias=0 keeps the uniform init everywhere


@pytest.mark.parametrize("masked", [False, True], ids=["full", "packed"])
def test_lstm_forget_bias_is_the_same_on_the_fused_and_structured_paths_and_in_torch_nn(masked):
    """The fused kernel gets b_x as bias_ih and zeros as bias_hh: torch.nn.LSTM loaded that way starts f at σ(1)."""
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 6, 3), (torch.tensor([6, 4, 1]) if masked else None)
    fused = Recurrent("lstm", 3, 4, path="fused", forget_bias=1.0)
    structured = Recurrent("lstm", 3, 4, path="structured", forget_bias=1.0)
    structured.load_state_dict(fused.state_dict())
    twin = torch_nn_twin(fused)
    assert torch.all(twin.bias_ih_l0[4:8] + twin.bias_hh_l0[4:8] == 1.0)
    a, (h_a, c_a) = fused(x, lengths=lengths)
    b, (h_b, c_b) = structured(x, lengths=lengths)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(c_a, c_b, rtol=1e-5, atol=1e-5)
    if not masked:
        torch.testing.assert_close(a, twin(x)[0], rtol=1e-5, atol=1e-5)


def test_coupled_lstm_peepholes_are_parameters_only_when_asked_for():
    plain, peep = CELLS.get("coupled_lstm")(3, 4), CELLS.get("coupled_lstm")(3, 4, peepholes=True)
    assert "peephole" not in dict(plain.named_parameters())
    assert peep.peephole.shape == (2, 4) and torch.all(peep.peephole == 0)


def test_indrnn_recurrent_max_must_be_a_positive_number(tmp_path, monkeypatch):
    """The schema's bound, checked by the model builder (direct use) and by pre-flight (the command line)."""
    from seqlab.data.vocab import Tokenizer, Vocabulary
    from seqlab.models.builder import build_model
    from seqlab.run.preflight import check_composes
    from seqlab.spec import DataSpec

    spec = DataSpec("language_model", Vocabulary.build([list("ab")]), Tokenizer("char"))
    for bad in (0.0, -1.0, float("nan"), float("inf"), "high", True):
        with pytest.raises(ConfigError) as err:
            build_model(spec, {"name": "indrnn", "recurrent_max": bad}, {"name": "auto"}, {"hidden_size": 4})
        assert str(err.value) == f"model.cell.recurrent_max={bad!r}: expected a number > 0 (bound of |u|)"
    monkeypatch.chdir(tmp_path)
    for typed, shown in (("0", "0"), ("-1.0", "-1.0"), ("high", "'high'")):
        message = check_composes(["cell=indrnn", f"model.cell.recurrent_max={typed}"])
        assert message == f"model.cell.recurrent_max={shown}: expected a number > 0 (bound of |u|)"


def test_indrnn_starts_inside_its_bound_and_constrain_clamps_both_signs():
    cell = CELLS.get("indrnn")(3, 64, recurrent_max=0.5)
    assert torch.all((cell.u >= 0) & (cell.u <= 0.5))
    with torch.no_grad():
        cell.u.copy_(torch.linspace(-3, 3, 64))
    cell.constrain_()
    assert cell.u.abs().max() == 0.5 and cell.u.min() == -0.5
    assert torch.equal(cell.u[(cell.u.abs() < 0.5)], torch.linspace(-3, 3, 64)[torch.linspace(-3, 3, 64).abs() < 0.5])


def test_cells_without_constraints_are_left_alone_by_constrain():
    rnn = build("lstm", "auto", input_size=3, hidden_size=4)
    before = {k: v.clone() for k, v in rnn.state_dict().items()}
    for cell in rnn.cells:
        cell.constrain_()
    assert all(torch.equal(before[k], v) for k, v in rnn.state_dict().items())


def test_indrnn_u_stays_within_recurrent_max_after_lightning_steps_with_a_huge_learning_rate(tmp_path):
    """The real Trainer and SequenceLitModule: SGD with lr=1e4 on u throws it far out; every step ends clamped."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from seqlab.data.base import DataSpec
    from seqlab.data.vocab import Tokenizer, Vocabulary
    from seqlab.models.builder import make_module

    torch.manual_seed(0)
    spec = DataSpec(task="language_model", vocab=Vocabulary.build([list("abcdefgh")]), tokenizer=Tokenizer("char"))
    config = {
        "embedding": "learned", "embedding_dim": 5, "head": {"name": "many_to_many"},
        "cell": {"name": "indrnn", "recurrent_max": 0.9},
        "encoder": {"hidden_size": 6, "num_layers": 2, "bidirectional": False, "dropout": 0.0},
    }  # fmt: skip
    module = make_module(spec, config, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 1e4})
    for name, p in module.named_parameters():
        p.requires_grad_(name.endswith(".u"))  # only u moves, so the rest stays finite at this learning rate
    cells = module.model.encoder.cells
    seen: list[float] = []  # max |u| after each step
    plain_sgd: list[float] = []  # max |u - lr * grad|: where each step would have left u without the clamp

    class Watch(pl.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            plain_sgd.append(max(float((c.u.detach() - 1e4 * c.u.grad).abs().max()) for c in cells))

        def on_train_batch_end(self, trainer, pl_module, *args):
            seen.append(max(float(c.u.detach().abs().max()) for c in cells))

    tokens = torch.randint(3, spec.vocab_size, (16, 10))
    batches = [{"inputs": tokens[i : i + 4, :-1], "targets": tokens[i : i + 4, 1:]} for i in range(0, 16, 4)]
    trainer = pl.Trainer(
        max_steps=6, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[Watch()], default_root_dir=tmp_path, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    assert len(seen) == 6 and all(v <= 0.9 for v in seen)
    assert max(plain_sgd) > 10  # the steps did throw u far past the bound ...
    assert max(seen) == pytest.approx(0.9)  # ... and the clamp put it back on the bound


@pytest.mark.e2e
@pytest.mark.parametrize(
    "overrides",
    [["model.cell.reset_after=false"], ["cell=coupled_lstm", "model.cell.peepholes=true"]],
    ids=["gru_reset_before", "cifg_peepholes"],
)
def test_variant_trains_through_the_cli(run_seqlab, tmp_path, overrides):
    cell = ["cell=gru"] if overrides[0].startswith("model.cell.reset_after") else []
    result = run_seqlab(*cell, *overrides, *TINY, "test=false")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "char_rnn")
    cell_config = OmegaConf.load(run / ".hydra" / "config.yaml").model.cell
    expected = {"name": "gru", "reset_after": False} if cell else {"name": "coupled_lstm", "peepholes": True}
    assert {key: cell_config[key] for key in expected} == expected
    metrics = list(run.rglob("metrics.csv"))
    assert metrics, "no metrics.csv written"
    text = metrics[0].read_text()
    assert "train/loss" in text and "val/loss" in text


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["cell=gru", "model.cell.reset_after=false", "model.encoder.path=fused"],
            "model.encoder.path=fused: GRUCell with reset_after=false (reset before the recurrent product) has no "
            "fused torch.nn equivalent (its paths: auto, step)",
        ),
        (["cell=gru", "model.cell.reset_after=maybe"], "model.cell.reset_after='maybe': expected true or false"),
        (["cell=indrnn", "model.cell.recurrent_max=0"], "model.cell.recurrent_max=0: expected a number > 0"),
    ],
    ids=["fused_reset_before", "reset_after_not_bool", "recurrent_max_zero"],
)
def test_a_bad_cell_option_is_one_clear_line(run_seqlab, overrides, message):
    result = run_seqlab(*overrides, *TINY)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"seqlab: error: {message}")
