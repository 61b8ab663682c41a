"""Generated ABC tunes as sheet music with a play button, in one self-contained HTML page (no network needed).

The notation is drawn by abcjs (MIT licence, Paul Rosen and Gregory Dyke; ``seqlab/static/abcjs-basic-min.js``,
vendored from the npm package ``abcjs`` with its ``abcjs-LICENSE.md``), inlined so that the page opens offline.
abcjs' own synthesizer fetches a sound font from the network, so **Play** sends abcjs' notes to Web Audio
oscillators instead, and **MIDI** downloads a MIDI file abcjs makes in the page, for a real instrument sound.

Used by :class:`seqlab.callbacks.music.MusicSamplesCallback` (``<run>/tunes/index.html``) and by ``seqlab.report``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from seqlab.music.abc import with_x

ABCJS_FILE = "abcjs-basic-min.js"

STYLE = """
.tune { border: 1px solid #ccc; border-radius: 4px; margin: 1em 0; padding: 0.5em 1em; }
.tune h3 { margin: 0.2em 0; font-size: 1em; }
.tune .valid { color: #176117; } .tune .invalid { color: #a31515; }
.tune .notation { min-height: 2em; }
.tune button, .tune a.midi { margin-right: 0.5em; }
.tune pre { white-space: pre-wrap; font-size: 0.85em; background: #f6f6f6; padding: 0.4em; }
"""

# Draw every .tune's ABC text (read from its HTML-escaped <pre>) with abcjs; data-rendered (svg | error) and
# data-notes (the notes Play sounds) let a headless browser test check each. Play: seconds = whole notes ×
# ms-per-measure / 1000 / meter size, as abcjs' CreateSynth computes; MIDI: a data: URI.
SCRIPT = """
(function () {
  function secondsPerWhole(visual, audio) {
    var meter = visual.getMeterFraction();
    var size = meter && meter.den ? meter.num / meter.den : 1;
    return visual.millisecondsPerMeasure(audio.tempo) / 1000 / size;
  }
  function play(visual, button) {
    if (button._ctx) { button._ctx.close(); button._ctx = null; button.textContent = "\\u25B6 Play"; return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { button.textContent = "no Web Audio"; return; }
    var ctx = new Ctx(), audio = visual.setUpAudio(), scale = secondsPerWhole(visual, audio);
    var t0 = ctx.currentTime + 0.1, end = t0;
    audio.tracks.forEach(function (track) {
      track.forEach(function (ev) {
        if (ev.cmd !== "note" || ev.pitch === undefined) return;
        var start = t0 + ev.start * scale, stop = start + Math.max(0.05, ev.duration * scale * 0.95);
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.type = "triangle";
        osc.frequency.value = 440 * Math.pow(2, (ev.pitch - 69) / 12);
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.25 * (ev.volume || 80) / 127, start + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, stop);
        osc.connect(gain).connect(ctx.destination);
        osc.start(start); osc.stop(stop + 0.01);
        end = Math.max(end, stop);
      });
    });
    button._ctx = ctx; button.textContent = "\\u25A0 Stop";
    setTimeout(function () { if (button._ctx === ctx) play(visual, button); }, (end - ctx.currentTime) * 1000 + 200);
  }
  document.querySelectorAll(".tune").forEach(function (tune) {
    var abc = tune.querySelector("pre.abc").textContent, target = tune.querySelector(".notation");
    try {
      var visual = ABCJS.renderAbc(target, abc, { responsive: "resize", add_classes: true })[0];
      tune.dataset.rendered = target.querySelector("svg") ? "svg" : "error";
      tune.dataset.notes = visual.setUpAudio().tracks.reduce(function (n, track) {
        return n + track.filter(function (ev) { return ev.cmd === "note"; }).length;
      }, 0);
      var button = tune.querySelector("button.play");
      button.addEventListener("click", function () { play(visual, button); });
      var link = tune.querySelector("a.midi");
      link.href = ABCJS.synth.getMidiFile(visual, { midiOutputType: "encoded" });
    } catch (err) {
      tune.dataset.rendered = "error";
      target.textContent = "abcjs could not draw this tune: " + err;
    }
  });
})();
"""

NOTE = (
    "Notation drawn by abcjs in this page (no network). <b>Play</b> synthesizes the notes with simple Web Audio "
    "oscillators (abcjs' sampled instruments would need a sound font from the internet); <b>MIDI</b> downloads the "
    "tune as a MIDI file for a proper instrument sound."
)


@cache
def abcjs_source() -> str:
    """The vendored abcjs script (read once from the package data)."""
    return resources.files("seqlab").joinpath("static", ABCJS_FILE).read_text(encoding="utf-8")


def tunes_html(tunes: Sequence[dict[str, Any]], prefix: str = "") -> str:
    """One ``<div class="tune">`` per entry of ``tunes`` (``tunes.json`` rows: ``index``, ``abc``, and optionally
    ``valid``, ``parses``, ``bars``, ``matching``, ``type``); ``prefix`` keeps element ids unique across runs on one
    page. Every text is HTML-escaped; :func:`tunes_assets` must follow on the page."""
    esc = html.escape
    blocks = []
    for position, tune in enumerate(tunes, start=1):
        number = int(tune.get("index", position))
        status = ""
        if "valid" in tune:
            ok = bool(tune["valid"])
            detail = f"{tune['matching']}/{tune['bars']} complete bars fill the meter" if "bars" in tune else ""
            if not tune.get("parses", True):
                detail = "music21 cannot parse it"
            status = f'<span class="{"valid" if ok else "invalid"}">{"valid" if ok else "not valid"}</span>'
            status += f" · {esc(detail)}" if detail else ""
        kind = f" · {esc(str(tune['type']))}" if tune.get("type") else ""
        blocks.append(
            f'<div class="tune" id="{esc(prefix)}tune-{number}"><h3>tune {number}{kind} {status}</h3>'
            f'<div class="notation"></div>'
            f'<button class="play" type="button">&#9654; Play</button>'
            f'<a class="midi" download="{esc(prefix)}tune_{number:03d}.mid">MIDI</a>'
            f'<details><summary>ABC</summary><pre class="abc">{esc(with_x(str(tune["abc"]), number))}</pre>'
            f"</details></div>"
        )
    return "".join(blocks)


def tunes_assets() -> str:
    """The style, abcjs and the script that draws every ``.tune`` on the page: once per page, after the tunes."""
    return f"<style>{STYLE}</style><script>{abcjs_source()}</script><script>{SCRIPT}</script>"


def summary_line(summary: dict[str, Any]) -> str:
    """``key = value`` for the rates in ``summary`` (numbers with 3 decimals), HTML-escaped."""
    items = [f"{k} = {v:.3f}" if isinstance(v, float) else f"{k} = {v}" for k, v in summary.items() if v is not None]
    return html.escape(" · ".join(items))


def write_tunes_page(path: str | Path, tunes: Sequence[dict[str, Any]], title: str, summary: dict[str, Any]) -> Path:
    """Write ``tunes`` (``tunes.json`` rows) as a self-contained page at ``path``, ``summary`` under the title."""
    path = Path(path)
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{summary_line(summary)}</p><p>{NOTE}</p>"
        f"{tunes_html(tunes)}{tunes_assets()}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path


def read_tunes_json(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``tunes.json`` → (its rates, its tunes); raises ValueError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tunes = data["tunes"]
        if not isinstance(tunes, list) or not all(isinstance(t, dict) and "abc" in t for t in tunes):
            raise TypeError("'tunes' is not a list of objects with an 'abc' text")
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a tunes.json written by callbacks=music ({err})") from None
    return {k: v for k, v in data.items() if k != "tunes"}, tunes
