"""``python -m seqlab.score``: the probability of a text under a trained language model, and one-line errors."""

from __future__ import annotations

import math
import re

import pytest
import torch
from support.runs import TINY, cli_env, run_dirs

from seqlab.data.base import DataSpec
from seqlab.data.vocab import Tokenizer, Vocabulary
from seqlab.models.builder import load_module, make_module
from seqlab.score import main


@pytest.fixture(scope="module")
def lm_checkpoint(tmp_path_factory, cache_dir, warm_python):
    """A tiny character language model with a one-hot input encoding and a causal Transformer, trained by the CLI."""
    root = tmp_path_factory.mktemp("score")
    overrides = [*TINY, "model.embedding=onehot", "encoder=transformer", "model.encoder.num_heads=2"]
    result = warm_python.run("seqlab", [*overrides, "callbacks.samples=null"], root, cli_env(cache_dir), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dirs(root, "char_rnn")[-1] / "checkpoints" / "last.ckpt"


def test_score_prints_log_probability_bits_perplexity_and_per_token_values(run_seqlab, lm_checkpoint):
    result = run_seqlab(f"ckpt_path={lm_checkpoint}", "text=The cat", module="seqlab.score")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    total = re.fullmatch(r"log P = (-\d+\.\d+) nats = (-\d+\.\d+) bits over 7 tokens", lines[0])
    assert total, lines[0]
    nats, bits = float(total.group(1)), float(total.group(2))
    assert bits == pytest.approx(nats / math.log(2), abs=1e-3)
    perplexity = float(re.search(r"perplexity = (\d+\.\d+)", lines[1]).group(1))
    assert perplexity == pytest.approx(math.exp(-nats / 7), rel=1e-3)
    rows = [re.fullmatch(r"('.*')\s+(-\d+\.\d+)\s+(-\d+\.\d+)", line).groups() for line in lines[3:]]
    assert [token for token, _, _ in rows] == ["'T'", "'h'", "'e'", "' '", "'c'", "'a'", "'t'"]
    per_token = [float(nat) for _, nat, _ in rows]
    assert all(float(bit) == pytest.approx(float(nat) / math.log(2), abs=1e-3) for _, nat, bit in rows)
    assert sum(per_token) == pytest.approx(nats, abs=1e-3)

    # the same numbers from the model itself: log P(y_t | c, y_<t), teacher-forced after the start context c the
    # model was trained with — for character windows the paragraph separator "\n\n", never the untrained <bos>
    module = load_module(lm_checkpoint)
    spec = module.model.spec
    context = spec.start_context()
    assert spec.vocab.decode(context) == ["\n", "\n"]
    ids = spec.encode("The cat")
    with torch.no_grad():
        logits = module.model({"inputs": torch.tensor([[*context, *ids[:-1]]])})["logits"][0, len(context) - 1 :]
    expected = torch.log_softmax(logits, -1)[torch.arange(7), torch.tensor(ids)]
    assert per_token == pytest.approx(expected.tolist(), abs=1e-3)



def test_eos_adds_the_probability_of_the_end(lm_checkpoint, capsys):
    main([f"ckpt_path={lm_checkpoint}", "text=The cat", "eos=true"])
    out = capsys.readouterr().out
    assert "over 8 tokens" in out and out.splitlines()[-1].startswith("'<eos>'")


@pytest.mark.parametrize(
    "args, message",
    [
        (["text="], 'text is empty: give the text to score, text="..."'),
        (["text=  "], 'text is empty: give the text to score, text="..."'),
        ([], "Missing mandatory value: text"),
        (["text=hi", "temperature=1"], "Key 'temperature' not in 'ScoreOptions'"),
        (["text"], "'text' is not key=value"),
    ],
)
def test_bad_arguments_fail_in_one_line(run_seqlab, lm_checkpoint, args, message):
    result = run_seqlab(f"ckpt_path={lm_checkpoint}", *args, module="seqlab.score")
    assert result.returncode == 1
    assert result.stderr.startswith(f"seqlab: error: {message}") and len(result.stderr.strip().splitlines()) == 1


def test_a_classifier_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    spec = DataSpec("classification", Vocabulary.build([list("ab")]), Tokenizer(), classes=["no", "yes"])
    model_config = {"cell": {"name": "gru"}, "head": {"name": "auto"}, "encoder": {"hidden_size": 4},
                    "embedding": "learned", "embedding_dim": 4}
    module = make_module(spec, model_config)
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    path = tmp_path / "classifier.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(SystemExit) as exit_code:
        main([f"ckpt_path={path}", "text=ab"])
    assert exit_code.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"seqlab: error: ckpt_path={path}: a classification model with head many_to_one; scoring a text needs a "
        "language model (task language_model, head many_to_many)"
    )
    with pytest.raises(SystemExit):
        main([f"ckpt_path={tmp_path / 'none.ckpt'}", "text=ab"])
    assert "no such file" in capsys.readouterr().err
