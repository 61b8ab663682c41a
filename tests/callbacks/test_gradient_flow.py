"""The gradient-flow callback's curves equal autograd on a hand-unrolled network, per row, with mixed lengths; the
vanishing index reads total vanishing where there is no recurrence; recording leaves the training run unchanged."""

from __future__ import annotations

import copy
import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from seqlab.callbacks.gradient_flow import GradientFlowCallback
from seqlab.callbacks.gradient_math import aligned_norms, recurrent_norms, vanishing_index
from seqlab.cells import Cell, Recurrent
from seqlab.data.vocab import SPECIALS, Tokenizer, Vocabulary
from seqlab.heads import Head, HeadContext
from seqlab.models.builder import make_module
from seqlab.models.module import SequenceLitModule
from seqlab.registry import CELLS
from seqlab.spec import DataSpec

VOCAB = Vocabulary.build([list("abcdefgh")])


def lm_module(cell: str = "rnn_tanh", layers: int = 2, dropout: float = 0.0, **encoder) -> SequenceLitModule:
    torch.manual_seed(0)
    spec = DataSpec(task="language_model", vocab=VOCAB, tokenizer=Tokenizer("char"))
    config = {
        "embedding": "learned",
        "embedding_dim": 5,
        "cell": {"name": cell},
        "head": {"name": "many_to_many"},
        "encoder": {"hidden_size": 6, "num_layers": layers, "bidirectional": False, "dropout": dropout, **encoder},
    }
    return make_module(spec, config, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})


def lm_batch(lengths: list[int], steps: int | None = None) -> dict[str, torch.Tensor]:
    """Rows of random ids, each padded (id 0) after its length, to ``steps`` columns."""
    steps = steps or max(lengths)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(4, 12, (len(lengths), max(lengths) + 1), generator=g)
    inputs, targets = (
        torch.zeros(len(lengths), steps, dtype=torch.long),
        torch.zeros(len(lengths), steps, dtype=torch.long),
    )
    for b, n in enumerate(lengths):
        inputs[b, :n], targets[b, :n] = ids[b, :n], ids[b, 1 : n + 1]
    return {"inputs": inputs, "targets": targets, "lengths": torch.tensor(lengths)}


def unrolled_row(module: SequenceLitModule, ids: torch.Tensor) -> tuple[list[list[tuple]], torch.Tensor]:
    """One row run by hand, step by step, from the equations (no Recurrent): every layer's states per step, each
    kept for autograd, and the logits ``(n, V)``."""
    model = module.model
    layer_input = model.embedding(ids[None])[0]  # (n, I)
    states = []
    for cell in model.encoder.cells:
        h = torch.zeros(cell.hidden_size)
        c = torch.zeros(cell.hidden_size)
        per_step = []
        for x_t in layer_input:
            pre = x_t @ cell.W_x.t() + cell.b_x + h @ cell.W_h.t()
            if type(cell).__name__ == "LSTMCell":
                i, f, g, o = pre.chunk(4)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                per_step.append((h, c))
            else:
                h = torch.tanh(pre)
                per_step.append((h,))
        states.append(per_step)
        layer_input = torch.stack([s[0] for s in per_step])
    return states, model.head.logits(model, layer_input)


def hand_curves(module: SequenceLitModule, batch: dict) -> tuple[dict, dict]:
    """Step-loss curves ‖∂L/∂h_t‖ (L = mean token cross-entropy over all real tokens) and terminal curves
    G_k = RMS over rows reaching k of ‖∂L_T/∂h_{T_b−k}‖ (L_T = mean over rows of the last real step's
    cross-entropy), computed row by row with autograd."""
    module = copy.deepcopy(module)
    rows = []
    for b, n in enumerate(batch["lengths"].tolist()):
        states, logits = unrolled_row(module, batch["inputs"][b, :n])
        rows.append((states, logits, batch["targets"][b, :n]))
    tokens = int(batch["lengths"].sum())
    step_loss = sum(F.cross_entropy(lg, tg, reduction="sum") for _, lg, tg in rows) / tokens
    final_loss = sum(F.cross_entropy(lg[-1:], tg[-1:]) for _, lg, tg in rows) / len(rows)
    leaves = [s for states, _, _ in rows for layer in states for state in layer for s in state]
    step_grads = dict(zip(map(id, leaves), torch.autograd.grad(step_loss, leaves, retain_graph=True)))
    final_grads = dict(zip(map(id, leaves), torch.autograd.grad(final_loss, leaves)))
    T = batch["inputs"].shape[1]
    step, terminal = {}, {}
    for layer in range(len(rows[0][0])):
        per_t = [0.0] * T
        for states, _, _ in rows:
            for t, state in enumerate(states[layer]):
                per_t[t] += float(step_grads[id(state[0])].norm()) ** 2
        step[f"step_loss_grad/encoder.layer{layer}"] = [math.sqrt(v) for v in per_t]
        for i, name in enumerate(("h", "c")[: len(rows[0][0][layer][0])]):
            curve = []
            for k in range(max(len(states[layer]) for states, _, _ in rows)):
                squares = [
                    float(final_grads[id(states[layer][-1 - k][i])].norm()) ** 2
                    for states, _, _ in rows
                    if len(states[layer]) > k
                ]
                curve.append(math.sqrt(sum(squares) / len(squares)))
            terminal[f"terminal/encoder.layer{layer}/{name}"] = curve
    return step, terminal


def fit(module: SequenceLitModule, batches: list[dict], callback: pl.Callback | None, **trainer) -> pl.Trainer:
    trainer = pl.Trainer(
        max_steps=len(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[callback] if callback else [],
        **trainer,
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    return trainer


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm"])
def test_both_curves_match_autograd_on_a_hand_unrolled_network_with_mixed_lengths(tmp_path, cell):
    module = lm_module(cell)
    batch = lm_batch([8, 5, 3, 8])
    expected_step, expected_terminal = hand_curves(module, batch)
    callback = GradientFlowCallback(dirpath=str(tmp_path), every_n_steps=1)
    fit(module, [batch, batch], callback, gradient_clip_val=1e-3)

    assert set(expected_terminal) | set(expected_step) <= set(callback.history)
    for label, expected in {**expected_step, **expected_terminal}.items():
        step, recorded = callback.history[label][0]  # the first step saw the initial weights, as the hand did
        assert step == 0
        torch.testing.assert_close(torch.tensor(recorded), torch.tensor(expected), rtol=1e-5, atol=1e-9)
    first = callback.records[0]
    for layer in (0, 1):
        curve = expected_terminal[f"terminal/encoder.layer{layer}/h"]
        assert first[f"grad_flow/encoder.layer{layer}/vanishing_span"] == 2  # the shortest row: 3 steps
        assert first[f"grad_flow/encoder.layer{layer}/vanishing_index"] == pytest.approx(curve[2] / curve[0], 1e-5)
    if cell == "lstm":
        curve = expected_terminal["terminal/encoder.layer0/c"]
        assert first["grad_flow/encoder.layer0/vanishing_index_c"] == pytest.approx(curve[2] / curve[0], 1e-5)
    # the training step's own gradients: the total norm before clipping, every step clipped (1e-3 is tiny)
    assert abs(float(module.grad_stats.norm_before_clip) - callback.records[1]["grad_norm/total"]) < 1e-6
    assert callback.records[1]["grad_norm/clipped_fraction"] == 1.0


def test_padding_does_not_move_the_terminal_curve(tmp_path):
    module = lm_module("gru")
    tight = GradientFlowCallback(dirpath=str(tmp_path))
    padded = GradientFlowCallback(dirpath=str(tmp_path))
    tight.probe(None, module, lm_batch([7, 4, 2]))
    padded.probe(None, module, lm_batch([7, 4, 2], steps=12))
    for label in ("terminal/encoder.layer0/h", "terminal/encoder.layer1/h", "terminal/inputs"):
        torch.testing.assert_close(torch.tensor(padded.history[label][0][1]), torch.tensor(tight.history[label][0][1]))


def test_without_recurrence_the_index_reads_total_vanishing_beyond_the_last_step(tmp_path):
    """W_h = 0: the last step's loss cannot reach any earlier state. The step-loss curve stays flat (every step
    has its own loss) — what made the old first/last index read 0.78 here."""
    module = lm_module("rnn_tanh", layers=1)
    with torch.no_grad():
        module.model.encoder.cells[0].W_h.zero_()
    callback = GradientFlowCallback(dirpath=str(tmp_path))
    metrics = callback.probe(None, module, lm_batch([9, 9, 6]))
    terminal = callback.history["terminal/encoder.layer0/h"][0][1]
    assert terminal[0] > 0 and all(g == 0.0 for g in terminal[1:])
    assert metrics["grad_flow/encoder.layer0/vanishing_index"] == 0.0
    assert metrics["grad_flow/encoder.layer0/vanished"] == 1.0
    step_loss = callback.history["step_loss_grad/encoder.layer0"][0][1]
    assert min(step_loss[:6]) > 0.1 * max(step_loss)
    assert all(math.isfinite(v) for v in metrics.values())


def test_vanishing_index_is_never_nan():
    assert vanishing_index([0.0, 0.0], 1) == 0.0
    assert vanishing_index([2.0, 0.0], 1) == 0.0
    assert vanishing_index([2.0, 1.0], 1) == 0.5
    assert vanishing_index([float("nan"), 1.0], 1) == math.inf
    # rows that do not reach k steps back are left out of that point, not counted as zeros
    grads = torch.zeros(4, 2, 3)
    grads[:, 0] = 1.0
    grads[1, 1] = 2.0
    assert aligned_norms(grads, torch.tensor([3, 1])) == pytest.approx(
        [math.sqrt(3 * 5 / 2), math.sqrt(3 * 1 / 2), math.sqrt(3), math.sqrt(3)]
    )


def test_scan_and_fused_paths_record_what_the_per_step_path_records(tmp_path):
    for cell, path in (("mingru", "scan"), ("lstm", "fused")):
        probes = {}
        for p in (path, "structured"):
            module = lm_module(cell, layers=1, path=p)
            callback = GradientFlowCallback(dirpath=str(tmp_path))
            metrics = callback.probe(None, module, lm_batch([6, 4]))
            probes[p] = (metrics, callback.history)
            assert module.model.encoder.resolve_path() == p  # the probe leaves the encoder's path as it was
        (metrics, history), (reference, reference_history) = probes[path], probes["structured"]
        assert metrics == pytest.approx(reference)
        curve = history["terminal/encoder.layer0/h"][0][1]
        assert curve == reference_history["terminal/encoder.layer0/h"][0][1] and min(curve) > 0


def test_sigma_max_is_taken_per_gate_block(tmp_path):
    for cell, blocks in (("lstm", "ifco"), ("gru", "rzn"), ("rnn_tanh", [""])):
        module = lm_module(cell, layers=1)
        W_h = module.model.encoder.cells[0].W_h.detach().clone()
        callback = GradientFlowCallback(dirpath=str(tmp_path), every_n_steps=1)
        fit(module, [lm_batch([5, 5])], callback)
        for block, rows in zip(blocks, W_h.chunk(len(blocks))):
            expected = float(torch.linalg.svdvals(rows)[0])
            assert callback.last[f"sigma_max/layer0/W_h{block}"] == pytest.approx(expected, rel=1e-5)
        assert not any(k.startswith("sigma_max/") and k.count("/") != 2 for k in callback.last)
    u = Recurrent("indrnn", 3, 4).cells[0].u
    assert recurrent_norms(Recurrent("indrnn", 3, 4).cells[0]).keys() == {"u"}
    assert recurrent_norms(Recurrent("mingru", 3, 4).cells[0]) == {}
    cell = Recurrent("indrnn", 3, 4).cells[0]
    with torch.no_grad():
        cell.u.copy_(torch.tensor([0.5, -1.5, 1.0, 0.2]))
    assert recurrent_norms(cell) == {"u": 1.5} and u.shape == (4,)


def test_the_same_seed_gives_the_same_losses_with_the_callback_on_or_off(tmp_path):
    """Dropout inside the fused LSTM and in the head: the probe must not draw from the training run's RNG."""

    class Losses(pl.Callback):
        def __init__(self):
            self.values: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.values.append(float(outputs["loss"]))

    batches = [lm_batch([8, 6, 8]) for _ in range(6)]
    runs = []
    for on in (False, True):
        module = lm_module("lstm", dropout=0.3)
        module.model.head.dropout = torch.nn.Dropout(0.3)
        losses = Losses()
        callbacks = [losses] + ([GradientFlowCallback(dirpath=str(tmp_path), every_n_steps=2)] if on else [])
        pl.seed_everything(7)
        trainer = pl.Trainer(
            max_steps=6,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            callbacks=callbacks,
        )
        trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
        runs.append(losses.values)
    assert len(runs[0]) == 6
    torch.testing.assert_close(torch.tensor(runs[1]), torch.tensor(runs[0]), rtol=0, atol=1e-5)


def test_every_head_gets_a_finite_terminal_curve(tmp_path):
    vocab = Vocabulary.build([list("abc")])
    ids = torch.tensor([[4, 5, 6, 4], [6, 4, 0, 0]])
    lengths = torch.tensor([4, 2])
    cases = [
        (
            DataSpec("classification", vocab, Tokenizer(), classes=["no", "yes"]),
            {"name": "many_to_one"},
            {"targets": torch.tensor([0, 1])},
        ),
        (
            DataSpec("classification", vocab, Tokenizer(), classes=["no", "yes"]),
            {"name": "many_to_one", "pool": "attention"},
            {"targets": torch.tensor([0, 1])},
        ),
        (
            DataSpec("regression", Vocabulary(SPECIALS), Tokenizer(), input_features=2),
            {"name": "regression", "pool": "mean"},
            {"inputs": torch.rand(2, 4, 2), "targets": torch.tensor([0.5, 1.5])},
        ),
        (
            DataSpec("conditional_generation", vocab, Tokenizer(), classes=["x", "y"]),
            {"name": "one_to_many"},
            {"condition": torch.tensor([0, 1]), "targets": torch.tensor([[5, 6, 4, 3], [4, 3, 0, 0]])},
        ),
        (
            DataSpec("translation", vocab, Tokenizer()),
            {"name": "seq2seq", "attention": "bahdanau"},
            {
                "targets_in": torch.tensor([[2, 6, 5], [2, 4, 0]]),
                "targets": torch.tensor([[6, 5, 3], [4, 3, 0]]),
                "target_lengths": torch.tensor([3, 2]),
            },
        ),
    ]
    for spec, head, extra in cases:
        embedding = "identity" if spec.input_features else "learned"
        config = {
            "embedding": embedding,
            "embedding_dim": 4,
            "cell": {"name": "gru"},
            "head": head,
            "encoder": {"hidden_size": 5, "num_layers": 1, "bidirectional": head["name"] == "many_to_one"},
        }
        module = make_module(spec, config)
        batch = {"inputs": ids, "lengths": lengths, **extra}
        metrics = GradientFlowCallback(dirpath=str(tmp_path)).probe(None, module, batch)
        layers = ["encoder.layer0"] + (["head.decoder.layer0"] if head["name"] == "seq2seq" else [])
        for layer in layers:
            index = metrics[f"grad_flow/{layer}/vanishing_index"]
            assert math.isfinite(index) and index > 0, (head, layer)
            assert metrics[f"grad_flow/{layer}/terminal_near"] > 0
        assert all(not math.isnan(v) for v in metrics.values())


def test_recording_writes_a_plot_per_curve_and_leaves_the_fused_path(tmp_path):
    module = lm_module("lstm")
    encoder = module.model.encoder
    callback = GradientFlowCallback(dirpath=str(tmp_path / "gf"), every_n_steps=2)
    fit(module, [lm_batch([5, 5])] * 4, callback)
    assert [step for step, _ in callback.history["terminal/encoder.layer0/h"]] == [0, 1, 3]
    assert encoder.resolve_path() == "fused" and not encoder.tap_states and encoder.tapped == {}
    names = sorted(p.name for p in (tmp_path / "gf").glob("*.png"))
    assert "terminal_encoder.layer0_c.png" in names and "step_loss_grad_encoder.layer1.png" in names
    assert len(names) == len(callback.history)


def test_terminal_norms_are_taken_in_float64_so_a_1e_30_gradient_is_not_read_as_vanished():
    grads = torch.zeros(5, 2, 4)  # (T, B, H) float32, as autograd returns them
    grads[4] = 1.0
    grads[0] = 1e-30  # squares to 0 in float32 (below ~1e-45), not in float64
    assert float(grads[0].square().sum()) == 0.0
    curve = aligned_norms(grads, torch.tensor([4, 4]))
    assert curve[4] == pytest.approx(2e-30, rel=1e-6)  # ‖(1e-30,)*4‖ = 2e-30 for each row, RMS over rows
    assert vanishing_index(curve, 4) == pytest.approx(1e-30, rel=1e-6)  # not 0: it did not vanish


class JANETCell(Cell):
    """JANET (docs/plugins.md), declaring its two gate blocks: ``f`` and the candidate ``c``."""

    gates = 2
    gate_names = ("f", "c")

    def update(self, xp_t, hp_t, state):
        s, c = (xp_t + hp_t).chunk(2, dim=-1)
        return (torch.sigmoid(s) * state[0] + (1 - torch.sigmoid(s - 1.0)) * torch.tanh(c),)


@pytest.fixture
def janet():
    CELLS.register("janet_declared", JANETCell)
    yield "janet_declared"
    CELLS._entries.pop("janet_declared")
    CELLS._owners.pop("janet_declared")


def test_a_new_multi_gate_cell_gets_sigma_max_per_declared_gate_block(tmp_path, janet):
    module = lm_module(janet, layers=1)
    W_h = module.model.encoder.cells[0].W_h.detach().clone()
    callback = GradientFlowCallback(dirpath=str(tmp_path), every_n_steps=1)
    fit(module, [lm_batch([5, 5])], callback)
    sigma = {k: v for k, v in callback.last.items() if k.startswith("sigma_max/")}
    assert sigma == pytest.approx({f"sigma_max/layer0/W_h{gate}": float(torch.linalg.svdvals(rows)[0])
                                   for gate, rows in zip("fc", W_h.chunk(2))}, rel=1e-5)


class MeanPoolHead(Head):
    """The plugin head of docs/plugins.md, declaring that its loss reads every step."""

    tasks = ("classification",)

    def __init__(self, ctx):
        super().__init__()
        self.out = torch.nn.Linear(ctx.encoder_size, ctx.spec.num_classes)

    def predict(self, encoded, batch):
        steps = torch.arange(encoded.shape[1], device=encoded.device)
        real = (steps[None, :] < batch["lengths"].to(encoded.device)[:, None]).unsqueeze(-1)
        return {"logits": self.out((encoded * real).sum(1) / real.sum(1).clamp(min=1))}

    def loss(self, out, batch):
        return F.cross_entropy(out["logits"], batch["targets"])

    def pools_over_steps(self):
        return True


class UndeclaredMeanPoolHead(MeanPoolHead):
    def pools_over_steps(self):
        return False


def test_a_plugin_head_declaring_its_pooling_is_diagnosed_as_the_built_in_head_of_that_pooling(tmp_path):
    vocab = Vocabulary.build([list("abc")])
    spec = DataSpec("classification", vocab, Tokenizer(), classes=["no", "yes"])
    batch = {"inputs": torch.tensor([[4, 5, 6, 4, 5], [6, 4, 5, 0, 0]]), "lengths": torch.tensor([5, 3]),
             "targets": torch.tensor([0, 1])}
    config = {"embedding_dim": 4, "cell": {"name": "gru"}, "head": {"name": "many_to_one", "pool": "mean"},
              "encoder": {"hidden_size": 5, "num_layers": 1, "bidirectional": True}}
    module = make_module(spec, config)
    built_in = GradientFlowCallback(dirpath=str(tmp_path)).probe(None, module, batch)
    out = module.model.head.out.state_dict()
    probes = {}
    for head_class in (MeanPoolHead, UndeclaredMeanPoolHead):
        module.model.head = head_class(HeadContext(spec, encoder_size=10, embedding_dim=4))
        module.model.head.out.load_state_dict(out)
        probes[head_class] = GradientFlowCallback(dirpath=str(tmp_path)).probe(None, module, batch)
    assert probes[MeanPoolHead] == built_in
    undeclared = probes[UndeclaredMeanPoolHead]  # the mean's gradient reaches every step, and the terminal curve too
    assert undeclared["grad_flow/encoder.layer0/terminal_far"] != built_in["grad_flow/encoder.layer0/terminal_far"]
