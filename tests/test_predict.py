"""``seqlab predict``: checkpoints of a tweets classifier, a tagger, a regression model and the dates seq2seq model,
each trained by the CLI for a few steps, asked about new inputs — text and file input, output aligned with the input
lines (empty lines kept in place), JSONL/CSV output, and one line for bad input."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from support.runs import TINY, cli_env, run_dirs

from seqlab.models.builder import load_module
from seqlab.predict import main


def train(tmp_path_factory, cache_dir, warm_python, name: str, *overrides: str):
    root = tmp_path_factory.mktemp(name)
    args = [*TINY, "callbacks.samples=null", f"experiment_name={name}", *overrides]
    result = warm_python.run("seqlab", args, root, cli_env(cache_dir), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dirs(root, name)[-1] / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, cache_dir, warm_python):
    return train(tmp_path_factory, cache_dir, warm_python, "tweets", "data=tweets")


@pytest.fixture(scope="module")
def tagger(tmp_path_factory, cache_dir, warm_python):
    return train(tmp_path_factory, cache_dir, warm_python, "tagging", "data=tagging", "data.num_sentences=300")


@pytest.fixture(scope="module")
def regressor(tmp_path_factory, cache_dir, warm_python):
    return train(tmp_path_factory, cache_dir, warm_python, "adding", "data=adding", "model.embedding=identity",
                 "data.seq_len=10", "data.num_train=200", "data.num_val=50", "data.num_test=50")


@pytest.fixture(scope="module")
def translator(tmp_path_factory, cache_dir, warm_python):
    return train(tmp_path_factory, cache_dir, warm_python, "dates", "+experiment=date_translation",
                 "experiment_name=dates")


def predict(capsys, *args: str) -> str:
    main(list(args))
    return capsys.readouterr().out


def one_line_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_code:
        main(list(args))
    assert exit_code.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("seqlab: error: ") and "Traceback" not in err, err
    return err


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_classifier_gives_each_line_a_label_and_the_models_own_probabilities(classifier, tmp_path, capsys):
    inputs = ["the food was good, not bad at all", "", "@bob the coffee was awful #meh", "   ", "not bad at all"]
    source = tmp_path / "tweets.txt"
    source.write_text("\n".join(inputs) + "\n", encoding="utf-8")
    out = tmp_path / "labels.jsonl"
    assert predict(capsys, f"ckpt_path={classifier}", f"file={source}", f"output={out}").strip() == (
        f"seqlab: 5 predictions written to {out}"
    )
    rows = jsonl(out)
    assert [r["input"] for r in rows] == inputs  # aligned with the input lines, empty ones kept in place
    assert [r["label"] is None for r in rows] == [False, True, False, True, False]
    module = load_module(classifier)
    classes = module.model.spec.classes
    for row in (rows[0], rows[4]):
        assert row["label"] in classes and math.isclose(sum(row["probabilities"].values()), 1, abs_tol=1e-4)
        assert row["probability"] == max(row["probabilities"].values())
    # the probabilities are the model's, for the text as training prepared it (the tweet normaliser)
    from seqlab.data.tweets import TweetNormalizer

    ids = module.model.spec.encode(TweetNormalizer()(inputs[2]))
    with torch.no_grad():
        logits = module.model({"inputs": torch.tensor([ids]), "lengths": torch.tensor([len(ids)])})["logits"]
    expected = torch.softmax(logits[0], -1).tolist()
    assert [rows[2]["probabilities"][c] for c in classes] == pytest.approx(expected, abs=1e-5)

    table = predict(capsys, f"ckpt_path={classifier}", "text=the food was good, not bad at all").splitlines()
    assert table[0].split() == ["input", "label", "probability"]
    assert table[1].startswith("the food was good, not bad at all  ") and table[1].split()[-2] in classes


def test_a_csv_column_is_read_and_csv_output_has_a_column_per_class(classifier, tmp_path, capsys):
    source = tmp_path / "tweets.csv"
    source.write_text('id,text\n1,good food\n2,\n3,"bad, very bad"\n', encoding="utf-8")
    out = tmp_path / "labels.csv"
    predict(capsys, f"ckpt_path={classifier}", f"file={source}", f"output={out}")
    with out.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    classes = load_module(classifier).model.spec.classes
    assert list(rows[0]) == ["input", "label", "probability", *(f"p({c})" for c in classes)]
    assert [r["input"] for r in rows] == ["good food", "", "bad, very bad"]
    assert rows[1]["label"] == "" and rows[1][f"p({classes[0]})"] == ""
    err = one_line_error(capsys, f"ckpt_path={classifier}", f"file={source}", "column=tweet")
    assert err == f"seqlab: error: file={source}: no column 'tweet'; its columns are id, text; choose one with " \
                  "column=NAME"


def test_a_tagger_tags_every_token(tagger, tmp_path, capsys):
    source = tmp_path / "sentences.txt"
    source.write_text("mr jordan said that paris hill flooded\n\nin Paris yesterday\n", encoding="utf-8")
    out = tmp_path / "tags.jsonl"
    predict(capsys, f"ckpt_path={tagger}", f"file={source}", f"output={out}")
    rows = jsonl(out)
    tag_set = set(load_module(tagger).model.spec.target_vocab.itos[4:])
    assert rows[0]["tokens"] == "mr jordan said that paris hill flooded".split()
    assert rows[2]["tokens"] == ["in", "Paris", "yesterday"]  # as written
    assert rows[1] == {"input": "", "tokens": None, "tags": None}
    for row in (rows[0], rows[2]):
        assert len(row["tags"]) == len(row["tokens"]) and set(row["tags"]) <= tag_set
    table = predict(capsys, f"ckpt_path={tagger}", "text=mr jordan said").splitlines()
    assert table[0].split() == ["input", "tags"]
    assert [pair.split("/")[0] for pair in table[1].split("  ")[-1].split()] == ["mr", "jordan", "said"]


def test_a_regression_model_reads_real_valued_steps(regressor, tmp_path, capsys):
    source = tmp_path / "steps.txt"
    source.write_text("0.5,1 0.1,0 0.2,0 0.3,1\n\n0.9,0 0.4,1 0.7,1\n", encoding="utf-8")
    out = tmp_path / "values.jsonl"
    predict(capsys, f"ckpt_path={regressor}", f"file={source}", f"output={out}")
    rows = jsonl(out)
    assert [type(r["value"]) for r in rows] == [float, type(None), float]
    module = load_module(regressor)
    steps = torch.tensor([[[0.9, 0.0], [0.4, 1.0], [0.7, 1.0]]])
    with torch.no_grad():
        expected = float(module.model({"inputs": steps, "lengths": torch.tensor([3])})["logits"][0])
    assert rows[2]["value"] == pytest.approx(expected, abs=1e-5)
    err = one_line_error(capsys, f"ckpt_path={regressor}", "text=0.5,1 0.1 0.2,0")
    assert err.startswith("seqlab: error: line 1: step 2 is '0.1'; the model reads 2 comma-separated numbers")


def test_the_dates_model_translates_greedily_by_default(translator, tmp_path, capsys):
    source = tmp_path / "dates.txt"
    source.write_text("3 March 2021\n\nJuly 4, 1999\n", encoding="utf-8")
    out = tmp_path / "iso.jsonl"
    predict(capsys, f"ckpt_path={translator}", f"file={source}", f"output={out}")
    rows = jsonl(out)
    assert [r["input"] for r in rows] == ["3 March 2021", "", "July 4, 1999"] and rows[1]["translation"] is None
    module = load_module(translator)
    spec = module.model.spec
    assert module.model.head.beam_size == 1  # the recipe's: greedy decoding
    greedy = module.model.head.generate(module.model, source=[spec.encode("3 March 2021")], temperature=0.0,
                                        max_length=2 * len("3 March 2021") + 10)[0]
    assert rows[0]["translation"] == spec.decode(greedy, target=True)
    again = predict(capsys, f"ckpt_path={translator}", "text=3 March 2021")
    assert again == predict(capsys, f"ckpt_path={translator}", "text=3 March 2021")  # no sampling by default
    assert again.splitlines()[1].split("  ")[-1].strip() == rows[0]["translation"]
    beam = predict(capsys, f"ckpt_path={translator}", "text=3 March 2021", "beam_size=3")
    assert beam.splitlines()[0].split() == ["input", "translation"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give one input: text=TEXT or file=FILE"),
        (["text=a", "file=b.txt"], "give one input: text=TEXT or file=FILE"),
        (["text= "], 'text is empty: give the text to predict for, text="..."'),
        (["text=a", "output=out.txt"], "output=out.txt: write a .jsonl or a .csv file"),
        (["text=a", "column=text"], "column=text: only .csv and .tsv files have columns"),
        (["text=a", "temperatur=1"], "Key 'temperatur' not in 'PredictOptions'"),
        (["file=/no/such/file.txt"], "file=/no/such/file.txt: no such file"),
    ],
)
def test_bad_arguments_fail_in_one_line(classifier, capsys, args, message):
    assert one_line_error(capsys, f"ckpt_path={classifier}", *args).startswith(f"seqlab: error: {message}")


def test_a_bad_file_is_one_line(classifier, tmp_path, capsys):
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\x02 not text")
    assert "not a text file (it holds NUL bytes)" in one_line_error(capsys, f"ckpt_path={classifier}",
                                                                     f"file={binary}")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("good\ncaf\xe9 food\n".encode("latin-1"))
    assert f"file={latin}: not UTF-8 text (line 2" in one_line_error(capsys, f"ckpt_path={classifier}",
                                                                      f"file={latin}")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert f"file={empty}: no inputs" in one_line_error(capsys, f"ckpt_path={classifier}", f"file={empty}")
    assert "a folder, not a file" in one_line_error(capsys, f"ckpt_path={classifier}", f"file={tmp_path}")
    assert "no such file" in one_line_error(capsys, f"ckpt_path={tmp_path / 'none.ckpt'}", "text=good")


def test_seqlab_predict_is_a_verb_of_the_command_and_a_module(run_seqlab, classifier, tmp_path):
    result = run_seqlab("predict", f"ckpt_path={classifier}", "text=the food was good")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0].split() == ["input", "label", "probability"]
    as_module = run_seqlab(f"ckpt_path={classifier}", "text=the food was good", module="seqlab.predict")
    assert (as_module.returncode, as_module.stdout) == (0, result.stdout), as_module.stderr[-2000:]
    bad = run_seqlab("predict", f"ckpt_path={classifier}", f"file={tmp_path / 'missing.txt'}")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        f"seqlab: error: file={tmp_path / 'missing.txt'}: no such file"
    ]


def test_seqlab_generate_translates_greedily_unless_sampling_is_asked_for(translator, capsys):
    from seqlab.generate import main as generate

    outputs = []
    for seed in (1, 2):
        generate([f"ckpt_path={translator}", "source=3 March 2021", f"seed={seed}", "max_length=34"])
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].count("--- sample") == 1  # one translation, the same for any seed
    generate([f"ckpt_path={translator}", "source=3 March 2021", "temperature=1.0", "num_samples=3", "max_length=34"])
    assert capsys.readouterr().out.count("--- sample") == 3  # sampled when asked
