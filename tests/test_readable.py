"""Word-level text reads right in ``generate``, ``score`` and ``predict`` (spaces between words, none before the
punctuation the tokenizer split off); character-level text is unchanged. The verbs of ``seqlab`` are discoverable."""

from __future__ import annotations

import re

import pytest
from support.runs import TINY, cli_env, run_dirs

from seqlab.data.vocab import Tokenizer
from seqlab.display.readable import continue_text, join_tokens, join_words
from seqlab.models.builder import load_module


def test_words_are_joined_with_spaces_and_punctuation_sits_on_its_word():
    assert join_words(["the", "program", "from", "work"]) == "the program from work"
    assert join_words(["a", "list", "(", "or", "tuple", ")", ",", "then", "x", "[", "0", "]", ";", "done", "."]) == (
        "a list (or tuple), then x [0]; done."
    )
    assert join_words(["end", ".", "<eos>", "next", "<pad>"]) == "end.\nnext"
    assert continue_text("The program", ["from", "work", "."], Tokenizer("word")) == "The program from work."


def test_character_text_is_unchanged():
    assert join_tokens(list("a ( b ) ."), Tokenizer("char")) == "a ( b ) ."
    assert continue_text("The ", list("cat."), Tokenizer("char")) == "The cat."


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory, cache_dir, warm_python):
    """A tiny ``word_lm`` (the built-in WikiText-style word data) trained by the CLI."""
    root = tmp_path_factory.mktemp("word_lm")
    args = ["+experiment=word_lm", *TINY, "callbacks.samples=null", "model.encoder.num_layers=1"]
    result = warm_python.run("seqlab", args, root, cli_env(cache_dir), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dirs(root, "word_lm")[-1] / "checkpoints" / "last.ckpt"


def test_word_lm_generation_and_scoring_have_spaces_between_words(run_seqlab, word_lm):
    vocab = set(load_module(word_lm).model.spec.vocab.itos)
    result = run_seqlab(f"ckpt_path={word_lm}", "prompt=the program", "temperature=0", "num_samples=1",
                        "max_length=15", module="seqlab.generate")
    assert result.returncode == 0, result.stderr[-2000:]
    sample = result.stdout.split("--- sample 1 ---\n", 1)[1].strip()
    assert sample.startswith("the program ") and not sample.startswith("the program ,")
    # every word of the sample is a word of the vocabulary, with at most punctuation attached: nothing glued
    for word in sample.split():
        assert re.sub(r"^[(\[{]+|[.,;:!?)\]}%]+$", "", word) in vocab | {""}, (word, sample)

    scored = run_seqlab(f"ckpt_path={word_lm}", "text=the program , in the list .", module="seqlab.score")
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert "text as read: the program, in the list." in scored.stdout.splitlines()


def test_seqlab_help_lists_the_verbs(run_seqlab):
    result = run_seqlab("--help")
    assert result.returncode == 0, result.stderr[-2000:]
    verbs = re.findall(r"^  (\w+)  ", result.stdout.split("verbs:", 1)[1], re.M)
    assert verbs[:6] == ["train", "generate", "score", "predict", "report", "plugins"]
    assert "Powered by Hydra" in result.stdout or "== Config ==" in result.stdout  # Hydra's help follows


def test_train_help_lists_the_groups_and_composes_the_overrides_and_refuses_a_typo_in_one_line(run_seqlab):
    result = run_seqlab("--help", "cell=gru")
    assert result.returncode == 0, result.stderr[-2000:]
    groups = dict(line.split(": ", 1) for line in result.stdout.split("== Configuration groups ==")[1]
                  .split("== Config ==")[0].splitlines() if ": " in line)
    assert {"lstm", "gru", "rnn_tanh"} <= set(groups["cell"].split(", "))  # from the schema
    assert "char_rnn" in groups["experiment"].split(", ")  # from the config files
    composed = result.stdout.split("== Config ==")[1]
    assert "name: gru" in composed and "name: lstm" not in composed  # the overrides are composed
    typo = run_seqlab("--help", "cell=lstmm")
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    assert typo.stderr.strip().splitlines() == [typo.stderr.strip()]
    assert typo.stderr.startswith("seqlab: error: cell=lstmm: no such option in config group 'cell'")


def test_an_unknown_verb_gets_a_did_you_mean_in_one_line(run_seqlab):
    result = run_seqlab("genrate", "ckpt_path=x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "seqlab: error: unknown verb 'genrate'; did you mean 'generate'? verbs: train, generate, score, predict, "
        "report, plugins (seqlab --help)"
    ]
