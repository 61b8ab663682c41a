"""data=tagging: CoNLL-U / CoNLL reading, the generated two-sided-cue corpus, entity F1, bidirectional beating uni."""

from __future__ import annotations

import random

import pytest
import torch

from seqlab.data.base import DataError
from seqlab.data.synthetic import synthetic_entity_sentences
from seqlab.data.tagging import TaggingDataModule
from seqlab.metrics import EntityF1, bio_chunks, is_bio
from seqlab.models.builder import build_model

CONLLU = """# sent_id = 1
1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_
1\tde\tde\tADP\t_\t_\t_\t_\t_\tNER=O
2\tle\tle\tDET\t_\t_\t_\t_\t_\tNER=O
3\tParis\tParis\tPROPN\t_\t_\t_\t_\t_\tNER=B-LOC|SpaceAfter=No

# sent_id = 2
1\tMarie\tMarie\tPROPN\t_\t_\t_\t_\t_\tNER=B-PER
2\tCurie\tCurie\tPROPN\t_\t_\t_\t_\t_\tNER=I-PER
2.1\tx\tx\tX\t_\t_\t_\t_\t_\t_
3\tvient\tvenir\tVERB\t_\t_\t_\t_\t_\tNER=O

# sent_id = 3
1\tsans\tsans\tADP\t_\t_\t_\t_\t_\t_

"""


def datamodule(tmp_path, source, **options) -> TaggingDataModule:
    dm = TaggingDataModule(source=str(source), cache_dir=str(tmp_path / "cache"), **({"batch_size": 4} | options))
    dm.prepare_data()
    dm.setup()
    return dm


def test_conllu_folder_gives_splits_tags_from_misc_and_skips_untagged_sentences(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("train.conllu", "dev.conllu"):
        (folder / name).write_text(CONLLU, encoding="utf-8")
    dm = datamodule(tmp_path, folder)
    spec = dm.spec
    assert spec.task == "tagging" and dm.skipped == 2  # sentence 3 of each file has no NER tag
    assert spec.target_vocab.itos[4:] == ["B-LOC", "B-PER", "I-PER", "O"]
    train = dm.splits["train"]
    assert [spec.vocab.decode(ids) for ids in train["ids"]] == [["de", "le", "Paris"], ["Marie", "Curie", "vient"]]
    assert [spec.target_vocab.decode(t) for t in train["tags"]][1] == ["B-PER", "I-PER", "O"]
    batch = dm.collate([train[0], train[1]])
    assert batch["inputs"].shape == batch["targets"].shape == (2, 3) and batch["lengths"].tolist() == [3, 3]

    upos = datamodule(tmp_path, folder, tag_field="upos")
    assert upos.spec.target_vocab.itos[4:] == ["ADP", "DET", "PROPN", "VERB"] and upos.skipped == 0
    with pytest.raises(DataError, match=r"sentence 3: word 'sans' has no misc:NER tag \(data.strict=true"):
        datamodule(tmp_path / "strict", folder, strict=True)


def test_conll_2003_columns_with_docstart(tmp_path):
    text = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
            "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    path = tmp_path / "eng.train"
    path.write_text(text, encoding="utf-8")
    dm = datamodule(tmp_path, path, split=(0.5, 0.5, 0.0))
    tags = sorted(tuple(dm.spec.target_vocab.decode(t)) for s in dm.splits.values() for t in s["tags"])
    assert tags == [("B-ORG", "O"), ("B-PER", "I-PER")]
    assert datamodule(tmp_path / "pos", path, tag_column=1, split=(0.5, 0.5, 0.0)).spec.target_vocab.itos[4:] == [
        "NNP", "VBZ"]
    with pytest.raises(DataError, match=r"eng\.train:3: 4 column\(s\) but data.tag_column=7"):
        datamodule(tmp_path / "bad", path, tag_column=7)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tag_field": "ner"}, "data.tag_field must be one of upos, xpos, deprel, lemma or misc:KEY, got 'ner'"),
        ({"source": "builtin:nope"}, "unknown built-in 'builtin:nope'; available: builtin:synthetic_ner"),
    ],
)
def test_bad_options_are_one_line_data_errors(tmp_path, options, message):
    with pytest.raises(DataError, match=message):
        datamodule(tmp_path, options.pop("source", "builtin:synthetic_ner"), **options)


def test_non_utf8_conllu_is_reported_with_the_file(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes("1\tcafé\t_\tNOUN\t_\t_\t_\t_\t_\tNER=O\n\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.conllu: not UTF-8 text"):
        datamodule(tmp_path, path)


def test_generated_corpus_is_deterministic_and_every_entity_has_one_cue_on_one_side():
    sentences = synthetic_entity_sentences(400, seed=3)
    assert sentences == synthetic_entity_sentences(400, seed=3) != synthetic_entity_sentences(400, seed=4)
    sides = {"left": 0, "right": 0}
    left_cues = {"mr", "mrs", "dr", "in", "near", "across", "firm", "brand", "club"}
    for words, tags in sentences:
        for _, start, end in bio_chunks(tags):
            left = start > 0 and words[start - 1] in left_cues
            right = end < len(words) and words[end] in {"said", "smiled", "sneezed", "flooded", "froze", "thawed",
                                                        "merged", "hired", "rebranded"}
            assert left != right, (words, tags)
            sides["left" if left else "right"] += 1
    assert min(sides.values()) > 0.4 * sum(sides.values())


def test_generated_default_is_written_as_conllu_into_the_cache(tmp_path):
    dm = datamodule(tmp_path, "builtin:synthetic_ner", num_sentences=200)
    files = sorted(p.name for p in (dm.cache_path / "conllu").iterdir())
    assert files == ["test.conllu", "train.conllu", "validation.conllu"]
    assert "\tNER=B-" in (dm.cache_path / "conllu" / "train.conllu").read_text()
    assert sum(len(s) for s in dm.splits.values()) == 200 and is_bio(dm.spec.target_vocab.itos)


def test_chunks_and_entity_f1_match_seqeval_on_random_tag_sequences():
    from seqeval.metrics import f1_score

    rng = random.Random(0)
    tags = ["<pad>", "<unk>", "<bos>", "<eos>", "B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    gold = [[rng.choice(tags[4:]) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    predicted = [[t if rng.random() < 0.7 else rng.choice(tags[4:]) for t in row] for row in gold]
    metric = EntityF1(tags)
    for i in range(0, 300, 50):  # batches, padded with ignored steps
        rows = range(i, i + 50)
        width = max(len(gold[r]) for r in rows)
        g = torch.full((50, width), -100)
        p = torch.zeros((50, width), dtype=torch.long)
        for j, r in enumerate(rows):
            g[j, : len(gold[r])] = torch.tensor([tags.index(t) for t in gold[r]])
            p[j, : len(gold[r])] = torch.tensor([tags.index(t) for t in predicted[r]])
        metric.update(p, g)
    assert float(metric.compute()) == pytest.approx(f1_score(gold, predicted), abs=1e-6)
    assert bio_chunks(["I-PER", "I-LOC", "B-LOC", "I-LOC", "O"]) == {("PER", 0, 1), ("LOC", 1, 2), ("LOC", 2, 4)}
    assert not is_bio(["<pad>", "NOUN", "VERB"]) and is_bio(["<pad>", "O", "B-X"])


def train_tagger(dm: TaggingDataModule, bidirectional: bool, steps: int) -> dict[str, float]:
    """Train a small GRU tagger with a plain loop on the datamodule's batches; validation metrics from the head."""
    torch.manual_seed(0)
    model = build_model(dm.spec, {"name": "gru"}, {"name": "auto"},
                          {"hidden_size": 24, "bidirectional": bidirectional}, embedding_dim=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    batches = iter(())
    for _ in range(steps):
        batch = next(batches, None)
        if batch is None:
            batches = iter(dm.train_dataloader())
            batch = next(batches)
        optimizer.zero_grad()
        model.head.loss(model(batch), batch).backward()
        optimizer.step()
    model.eval()
    metrics = torch.nn.ModuleDict(model.head.make_metrics())
    with torch.no_grad():
        for batch in dm.val_dataloader():
            model.head.update_metrics(metrics, model(batch), batch)
    return {name: float(metric.compute()) for name, metric in metrics.items()}


def test_bidirectional_tagger_beats_left_to_right_on_two_sided_cues(tmp_path):
    dm = datamodule(tmp_path, "builtin:synthetic_ner", num_sentences=1500, batch_size=64)
    left_to_right = train_tagger(dm, bidirectional=False, steps=80)
    both = train_tagger(dm, bidirectional=True, steps=80)
    assert both["entity_f1"] > 0.9  # measured 0.98: every cue is read
    assert left_to_right["entity_f1"] < 0.75  # measured 0.60: cues after a name are never seen
    assert both["accuracy"] > left_to_right["accuracy"]
