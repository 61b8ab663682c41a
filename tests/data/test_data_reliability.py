"""Data inputs that used to lose or corrupt work silently: rows with extra fields, symlink loops in globs, numeric
labels, concurrent and killed cache builds (real processes, real signals), and the memory of preparation."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.data import cache_entries, prepared

from seqlab.data.parallel import ParallelDataModule
from seqlab.data.sources import resolve_files
from seqlab.data.tweets import TweetsDataModule
from seqlab.errors import DataError

# -- tables: a delimiter inside a field ------------------------------------------------------------------------------


def test_parallel_rows_with_an_extra_tab_are_skipped_and_counted_not_shifted(tmp_path):
    good = [f"hello {i}\tbonjour {i}" for i in range(40)]
    shifted = ["good\tmorning\tbonjour", "see you\tà\tbientôt"]
    (tmp_path / "p.tsv").write_text("en\tfr\n" + "\n".join(good[:20] + shifted + good[20:]) + "\n")
    dm = prepared(
        ParallelDataModule, tmp_path / "c", source=str(tmp_path / "p.tsv"), source_lang="en", target_lang="fr"
    )
    assert dm.skipped == 2
    pairs = {
        (dm.spec.decode(row["src"]), dm.spec.decode(row["tgt"], target=True))
        for split in dm.splits.values()
        for row in split
    }
    assert len(pairs) == 40 and all(src.replace("hello", "bonjour") == tgt for src, tgt in pairs)
    with pytest.raises(DataError, match=r"p\.tsv:22: 3 columns, expected 2 \(data\.strict=true"):
        prepared(
            ParallelDataModule,
            tmp_path / "c2",
            source=str(tmp_path / "p.tsv"),
            source_lang="en",
            target_lang="fr",
            strict=True,
        )


def test_headerless_parallel_tsv_with_an_extra_field_is_malformed_too(tmp_path):
    rows = [f"hi {i}\tsalut {i}" for i in range(30)] + ["one\ttwo\tthree"]
    (tmp_path / "p.tsv").write_text("\n".join(rows) + "\n")
    dm = prepared(
        ParallelDataModule, tmp_path / "c", source=str(tmp_path / "p.tsv"), source_lang="en", target_lang="fr"
    )
    assert dm.skipped == 1


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_tweets_rows_with_an_extra_delimiter_never_become_label_classes(tmp_path, suffix):
    sep = "," if suffix == ".csv" else "\t"
    rows = [f"the food was fine {i}{sep}{'positive' if i % 2 else 'negative'}" for i in range(40)]
    rows[5] = f"the food{sep} really awful{sep}negative"
    rows[9] = f"the service{sep}was bad{sep}negative"
    rows.append(f"a trailing delimiter is fine{sep}positive{sep}")
    file = tmp_path / f"t{suffix}"
    file.write_text(f"text{sep}label\n" + "\n".join(rows) + "\n")
    dm = prepared(TweetsDataModule, tmp_path / "c", source=str(file))
    assert dm.spec.classes == ["negative", "positive"] and dm.skipped == 2
    with pytest.raises(DataError, match=rf"t\{suffix}:7: 3 columns, expected 2 \(data\.strict=true"):
        prepared(TweetsDataModule, tmp_path / "c2", source=str(file), strict=True)


# -- globs and folders with symlink loops ----------------------------------------------------------------------------


def corpus_with_loops(root: Path, loops: int) -> Path:
    """``root/data`` with paragraphs in two files and ``loops`` symlinks back to ``data`` or its parent folder."""
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("\n\n".join(f"alpha paragraph {i}" for i in range(30)))
    (data / "sub" / "b.txt").write_text("\n\n".join(f"beta paragraph {i}" for i in range(30)))
    (data / "sub" / "again").symlink_to(data)
    if loops > 1:
        (data / "sub" / "up").symlink_to(data / "sub")
        (data / "loop").symlink_to(root)
    return data


@pytest.mark.parametrize("loops", [1, 2])
def test_globs_and_folders_read_each_real_file_once_through_symlink_loops(tmp_path, loops):
    data = corpus_with_loops(tmp_path, loops)
    for source in (str(data / "**" / "*.txt"), str(data), str(tmp_path / "**" / "*.txt")):
        started = time.perf_counter()
        files = resolve_files(source)
        assert time.perf_counter() - started < 10
        assert sorted(os.path.realpath(f) for f in files) == sorted(
            os.path.realpath(f) for f in (data / "a.txt", data / "sub" / "b.txt")
        ), source
    assert resolve_files(str(data / "*.txt")) == [data / "a.txt"]


def test_a_text_source_behind_a_symlink_loop_puts_each_paragraph_in_one_split(tmp_path):
    from seqlab.data.text import CharTextDataModule

    data = corpus_with_loops(tmp_path, loops=2)
    dm = prepared(CharTextDataModule, tmp_path / "c", source=str(data / "**" / "*.txt"), mode="lines")
    texts = {split: [dm.spec.decode(row) for row in ds["ids"]] for split, ds in dm.splits.items()}
    everything = [t for split_texts in texts.values() for t in split_texts]
    assert len(everything) == len(set(everything)) == 60


# -- numeric labels --------------------------------------------------------------------------------------------------


SPELLED = {"-1": "minus one", "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five"}


def labelled_csv(path: Path, labels: list[str]) -> Path:
    """A CSV whose texts spell their label out in words (``zero review 7,0``), so a prepared example shows its true
    label (its text up to ``review``)."""
    rows = (f"{SPELLED.get(label, label)} review {i},{label}\n" for i, label in enumerate(labels))
    path.write_text("text,label\n" + "".join(rows))
    return path


def class_of_each_row(dm: TweetsDataModule) -> set[tuple[str, str]]:
    """``(spelled label, class name)`` of every prepared example, decoded back."""
    return {
        (dm.spec.decode(row["ids"]).split(" review")[0], dm.spec.classes[int(row["label"])])
        for ds in dm.splits.values()
        for row in ds
    }


def test_star_ratings_are_five_classes_named_by_their_number(tmp_path):
    stars = [str(1 + i % 5) for i in range(60)]
    dm = prepared(TweetsDataModule, tmp_path / "c", source=str(labelled_csv(tmp_path / "s.csv", stars)))
    assert dm.spec.classes == ["1", "2", "3", "4", "5"] and dm.spec.num_classes == 5
    assert class_of_each_row(dm) == {(SPELLED[s], s) for s in stars}


def test_minus_one_zero_one_are_three_classes_sorted_by_value(tmp_path):
    labels = [("-1", "0", "1")[i % 3] for i in range(60)]
    dm = prepared(TweetsDataModule, tmp_path / "c", source=str(labelled_csv(tmp_path / "s.csv", labels)))
    assert dm.spec.classes == ["-1", "0", "1"]
    assert class_of_each_row(dm) == {(SPELLED[s], s) for s in labels}


def test_numbers_mixed_with_names_are_refused_in_one_line(tmp_path):
    labels = [("0", "1", "negative", "positive")[i % 4] for i in range(60)]
    source = str(labelled_csv(tmp_path / "s.csv", labels))
    mixed = r"labels mix numbers \(0, 1, e\.g\. .*s\.csv:\d+\) and names \(negative, positive, e\.g\. "
    with pytest.raises(DataError, match=mixed):
        prepared(TweetsDataModule, tmp_path / "c", source=source)


def test_label_ids_true_reads_integers_as_ids_into_the_classes(tmp_path):
    labels = [str(i % 3) for i in range(60)]
    source = str(labelled_csv(tmp_path / "s.csv", labels))
    named = ["negative", "neutral", "positive"]
    dm = prepared(TweetsDataModule, tmp_path / "c", source=source, classes=named, label_ids=True)
    assert class_of_each_row(dm) == {(SPELLED[s], named[int(s)]) for s in labels}
    dm = prepared(TweetsDataModule, tmp_path / "c", source=source, label_ids=True)
    assert dm.spec.classes == ["0", "1", "2"]
    with pytest.raises(DataError, match=r"s\.csv:\d+: label '\d' is not one of .* set data\.label_ids=true"):
        prepared(TweetsDataModule, tmp_path / "c", source=source, classes=named)
    labelled_csv(tmp_path / "bad.csv", labels[:-1] + ["-1"])
    with pytest.raises(DataError, match=r"bad\.csv:61: label '-1' is not a class id in 0\.\.2 \(data\.label_ids=true"):
        prepared(TweetsDataModule, tmp_path / "c", source=str(tmp_path / "bad.csv"), classes=named, label_ids=True)


# -- the cache: concurrent builders, killed builders, the malformed count ---------------------------------------------

#: a builder process: ``CharTextDataModule`` building into ``cache``. With ``then=publish`` every builder waits,
#: just before moving its finished build into place (``os.rename``/``os.replace`` into ``cache``), until all ``n``
#: have got there — so they publish at the same moment, every time; with ``then=sleep`` it sleeps there, to be killed
BUILDER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from seqlab.data.text import CharTextDataModule

    source, cache, gate, me, n, then = sys.argv[1:7]

    def at_the_gate(move):
        def gated(src, dst, *args, **kwargs):
            if Path(dst).parent == Path(cache) and Path(src).name.startswith("."):
                (Path(gate) / me).touch()
                if then == "sleep":
                    time.sleep(120)
                deadline = time.time() + 60
                while len(list(Path(gate).iterdir())) < int(n) and time.time() < deadline:
                    time.sleep(0.0005)
            return move(src, dst, *args, **kwargs)
        return gated

    os.rename, os.replace = at_the_gate(os.rename), at_the_gate(os.replace)
    dm = CharTextDataModule(source=source, cache_dir=cache, mode="lines", batch_size=4)
    dm.prepare_data()
    dm.setup("fit")
    print(json.dumps({split: len(ds) for split, ds in dm.splits.items()}))
    """
)


def builder(source: Path, cache: Path, gate: Path, me: str, n: int, then: str = "publish") -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    args = [sys.executable, "-c", BUILDER, str(source), str(cache), str(gate), me, str(n), then]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def paragraphs_file(path: Path, count: int = 60) -> Path:
    path.write_text("\n\n".join(f"paragraph number {i} of the corpus" for i in range(count)))
    return path


@pytest.mark.e2e
def test_two_builders_finishing_together_both_succeed_on_one_complete_cache(tmp_path):
    source = paragraphs_file(tmp_path / "corpus.txt")
    for attempt in range(3):
        cache, gate = tmp_path / f"cache{attempt}", tmp_path / f"gate{attempt}"
        gate.mkdir()
        procs = [builder(source, cache, gate, str(i), 2) for i in range(2)]
        outputs = [p.communicate(timeout=240) for p in procs]
        for proc, (_, err) in zip(procs, outputs):
            assert proc.returncode == 0, err[-2000:]
        sizes = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        assert sizes[0] == sizes[1] and sum(sizes[0].values()) == 60
        entries = cache_entries(cache)
        assert len(entries) == 1 and entries[0].startswith("text_char-"), entries  # the loser's copy is gone


@pytest.mark.e2e
def test_a_killed_builder_leaves_a_folder_the_next_run_removes(tmp_path):
    source, cache, gate = paragraphs_file(tmp_path / "corpus.txt"), tmp_path / "cache", tmp_path / "gate"
    gate.mkdir()
    proc = builder(source, cache, gate, "killed", 1, then="sleep")
    deadline = time.time() + 120
    while not (gate / "killed").exists():
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    left = cache_entries(cache)
    assert len(left) == 1 and f".build-{socket.gethostname()}-{proc.pid}-" in left[0], left
    # another host's build folder: kept while fresh, removed once older than STALE_BUILD_HOURS
    fresh, old = cache / ".text_char-x.build-elsewhere-1-abc", cache / ".text_char-y.build-elsewhere-2-abc"
    fresh.mkdir()
    old.mkdir()
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    from seqlab.data.text import CharTextDataModule

    dm = prepared(CharTextDataModule, cache, source=str(source), mode="lines", batch_size=4)
    assert sum(len(ds) for ds in dm.splits.values()) == 60
    assert cache_entries(cache) == sorted([fresh.name, dm.cache_path.name])


def test_every_run_that_uses_the_cache_reports_the_malformed_lines(tmp_path, caplog):
    rows = [f"fine text {i},{'ab'[i % 2]}" for i in range(40)] + ["no label here", "a, b, c,d"]
    (tmp_path / "t.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    for run in range(2):  # the first run builds the cache, the second only reads it
        caplog.clear()
        with caplog.at_level("WARNING", logger="seqlab.data"):
            dm = prepared(TweetsDataModule, tmp_path / "c", source=str(tmp_path / "t.csv"))
        warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
        assert dm.skipped == 2 and len(warnings) == 1, (run, warnings)
        assert "skipped 2 malformed lines" in warnings[0] and "t.csv:42: 1 columns, expected 2" in warnings[0]


# -- memory of preparation -------------------------------------------------------------------------------------------

#: prepares ``data=<name>`` on ``corpus`` in a fresh process; prints its resident set after the imports and its peak
PREPARE = textwrap.dedent(
    """
    import json, sys
    import datasets, pytorch_lightning, torch
    from seqlab.data.text import CharTextDataModule, WordTextDataModule

    corpus, cache, kind = sys.argv[1:4]
    baseline = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
    cls = CharTextDataModule if kind == "char" else WordTextDataModule
    dm = cls(source=corpus, cache_dir=cache)
    dm.prepare_data()
    dm.setup("fit")
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so it would report the parent test worker's peak
    peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "train": len(dm.splits["train"])}))
    """
)


def write_corpus(path: Path, megabytes: int) -> None:
    """Paragraphs of made-up words, and one single-line paragraph of a quarter of the corpus (the costly case)."""
    words = [f"w{i % 997}x{i % 13}" for i in range(5000)]
    paragraph = "\n".join(" ".join(words[j : j + 12]) for j in range(0, 60, 12))
    size = megabytes * 1_000_000
    with open(path, "w", encoding="utf-8") as out:
        long_line = " ".join(words) * (size // 4 // (len(" ".join(words)) + 1))
        out.write(long_line + "\n\n")
        written, number = len(long_line), 0
        while written < size:
            number += 1
            text = f"{paragraph} p{number}"  # distinct, so duplicate grouping leaves the fractions as they are
            out.write(text + "\n\n")
            written += len(text) + 2


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["char", "word"])
def test_preparing_a_20_mb_corpus_grows_memory_by_a_small_multiple_of_it(tmp_path, kind):
    corpus = tmp_path / "corpus.txt"
    write_corpus(corpus, 20)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    args = [sys.executable, "-c", PREPARE, str(corpus), str(tmp_path / "cache"), kind]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["train"] > 0
    # measured: +124 MB (char) where reading the corpus whole grew by +763 MB; growth is about 1.2x the corpus (the
    # paragraphs held) plus ~95 MB whatever the corpus size (benchmarks/data.py --memory)
    assert figures["peak_mb"] - figures["baseline_mb"] < 10 * 20, figures
