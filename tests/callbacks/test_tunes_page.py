"""Sampled tunes as sheet music: the vendored abcjs, HTML escaping, and every tune drawn to SVG in a real headless
Chromium — on a page written directly, on <run>/tunes/index.html after a music run, and in seqlab.report's page."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from support.runs import TINY, needs_chromium, rendered_dom, run_dirs

from seqlab.music.tunes_page import ABCJS_FILE, abcjs_source, write_tunes_page

REEL = (
    "R:reel\nM:C|\nL:1/8\nK:G\nB|:d3e dBGB|dBgB aAAB|d3e dBgB|AcBA BGGB:|\n|:dgbg agbg|dgbg ageg|dgbg agbg|dedc BGG2:|"
)
JIG = "R:jig\nM:6/8\nL:1/8\nK:D\nA|:dfa afd|gbg faf|(3efg e dcB|A3 A2:|"
HOSTILE = 'M:6/8\nL:1/8\nK:D\n|ABc d2e|</script><script>document.title="pwned"</script> & "q"|fed cBA|'


def tune_blocks(dom: str) -> list[str]:
    """The markup of each ``<div class="tune" …>`` (up to the next one)."""
    return [block for block in re.split(r'(?=<div class="tune")', dom) if block.startswith('<div class="tune"')]


def assert_every_tune_drawn(dom: str, expected: int) -> None:
    blocks = tune_blocks(dom)
    assert len(blocks) == expected
    for block in blocks:
        head = block[: block.index(">")]
        assert 'data-rendered="svg"' in head, head
        assert int(re.search(r'data-notes="(\d+)"', head)[1]) > 0, head  # what Play sounds
        assert "<svg" in block and "abcjs-note" in block  # abcjs drew notes, not an empty staff
        assert re.search(r'class="midi"[^>]*href="data:audio/midi', block), "no MIDI link"


def test_abcjs_is_vendored_inside_the_package_with_its_mit_licence():
    source = abcjs_source()
    assert source.startswith("/*! abcjs_basic v6.7.2") and len(source) > 400_000
    static = Path(__import__("seqlab").__file__).parent / "static"
    assert (static / ABCJS_FILE).is_file()
    licence = (static / "abcjs-LICENSE.md").read_text()
    assert "Paul Rosen and Gregory Dyke" in licence and "Permission is hereby granted, free of charge" in licence


def test_tune_text_is_html_escaped(tmp_path):
    page = write_tunes_page(tmp_path / "index.html", [{"index": 1, "abc": HOSTILE}], "a <b>title</b>", {})
    text = page.read_text()
    body = text[: text.index("<style>")]  # the markup before the inlined scripts
    assert "</script><script>document.title" not in body and "<b>title</b>" not in body
    pre = re.search(r'<pre class="abc">(.*?)</pre>', body, re.S)[1]
    assert html.unescape(pre) == "X:1\n" + HOSTILE


@pytest.mark.e2e
@needs_chromium
def test_every_tune_renders_to_svg_in_headless_chromium(tmp_path):
    tunes = [
        {"index": 1, "abc": REEL, "valid": True, "parses": True, "bars": 16, "matching": 16},
        {"index": 2, "abc": JIG, "valid": True, "parses": True, "bars": 4, "matching": 4, "type": "jig"},
        {"index": 3, "abc": HOSTILE, "valid": False, "parses": True, "bars": 3, "matching": 2},
    ]
    page = write_tunes_page(tmp_path / "index.html", tunes, "tunes", {"samples/valid_tune_rate": 2 / 3})
    dom = rendered_dom(page, tmp_path)
    assert_every_tune_drawn(dom, 3)
    assert "<title>tunes</title>" in dom  # the hostile tune's text did not run as a script


@needs_chromium
def test_a_music_run_writes_a_tunes_page_and_the_report_shows_its_tunes(run_seqlab, tmp_path):
    source = tmp_path / "tunes.abc"
    ends = [f"|{a}2{b} d3|]" for a in "DEFGABcdefg" for b in "DEFGABcdefg"]  # 40 different tunes
    source.write_text("".join(f"X:{i}\n{REEL if i % 2 else JIG}\n{ends[i]}\n\n" for i in range(40)))
    result = run_seqlab(
        "+experiment=abc_music",
        *TINY,
        "test=false",
        f"data.source={source}",
        "data.seq_len=20",
        "callbacks.music.num_samples=3",
        "callbacks.music.max_length=60",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "samples/parse_rate" in result.stdout and "samples/bar_accuracy" in result.stdout
    (run,) = run_dirs(tmp_path, "abc_music")
    data = json.loads((run / "tunes" / "tunes.json").read_text())
    assert {"samples/valid_tune_rate", "samples/parse_rate", "samples/bar_accuracy"} <= set(data)
    assert len(data["tunes"]) == 3
    assert_every_tune_drawn(rendered_dom(run / "tunes" / "index.html", tmp_path), 3)

    report = run_seqlab(str(run), module="seqlab.report")
    assert report.returncode == 0, report.stderr[-2000:]
    dom = rendered_dom(run / "report.html", tmp_path)
    assert "<h2>Tunes</h2>" in dom
    assert_every_tune_drawn(dom, 3)
