"""ABC notation: tunes split and parsed, the validity check of a tune (music21 parses it and every complete bar
fills its meter) and MIDI rendering; used by the abc_music data, the music samples callback and the report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FIELD = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
_TUNE_TYPE_ALIASES = {"slipjig": "slip jig", "fling": "highland fling", "double jig": "jig", "single jig": "jig"}


@dataclass
class Tune:
    """One parsed tune: its header fields (in order) and its body lines."""

    headers: list[tuple[str, str]]
    body: list[str]

    def field(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")

    def text(self, keep_headers: tuple[str, ...]) -> str:
        """The tune as ABC text with only the ``keep_headers`` fields (``K:`` last, as ABC requires)."""
        kept = [(k, v) for k, v in self.headers if k in keep_headers and k != "K"]
        if "K" in keep_headers:
            kept.append(("K", self.field("K")))
        return "\n".join([*(f"{k}:{v}" for k, v in kept), *self.body])


def normalise_tune_type(value: str) -> str:
    """``R:`` field → tune type: lower-case, single spaces, common variants merged (``Slipjig`` → ``slip jig``)."""
    value = " ".join(value.lower().replace("-", " ").split())
    return _TUNE_TYPE_ALIASES.get(value, value)


def split_tunes(text: str) -> list[tuple[int, list[str]]]:
    """ABC text → ``(line number of X:, lines)`` per tune; text before the first ``X:`` (file notes) is ignored."""
    tunes: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("X:"):
            tunes.append((number, [line]))
        elif tunes:
            tunes[-1][1].append(line)
    return tunes


def parse_tune(lines: list[str]) -> Tune:
    """Header fields up to ``K:``, then the body (comments and blank lines dropped). Raises ValueError if malformed."""
    headers: list[tuple[str, str]] = []
    rest = iter(lines)  # read up to the K: line; the lines left are the body
    for line in rest:
        if line.lstrip().startswith("%") or not line.strip():
            continue
        match = _FIELD.match(line)
        if not match:
            raise ValueError(f"header line '{line.strip()[:40]}' is not a field (F:value) and no K: field came before")
        headers.append((match[1], match[2]))
        if match[1] == "K":
            break
    else:
        raise ValueError("no K: (key) field, which ends an ABC header")
    body = [line.rstrip() for line in rest if line.strip() and not line.lstrip().startswith("%")]
    if not any(not _FIELD.match(line) for line in body):
        raise ValueError("no music after the header")
    return Tune(headers, body)


#: quoted chord symbols/annotations and ABC 2.1 ``!decorations!`` (shortcuts like ``H``: _DECORATION): no duration, and
#: music21 10 misreads some of them (``"<"`` and ``">"`` as broken rhythm, ``H`` before a note shortens the bar)
_ANNOTATION = re.compile(r'"[^"\n]*"|![^!\n]*!')
#: an inline field (``[K:Dmix]``, ``[M:2/4]``): kept whole by the substitutions below, which match it first
_INLINE_FIELD = r"(\[[A-Za-z]:[^\]\n]*\])"
_DECORATION = re.compile(_INLINE_FIELD + r"|[~.HLMOPSTuv]")
#: ``x``, ABC's invisible rest, takes its time like ``z``, but music21 10 drops it (``GAB x3`` becomes a half bar)
_INVISIBLE_REST = re.compile(_INLINE_FIELD + "|x")
#: an inline meter change ``[M:2/4]``: music21 10 ignores it but follows an ``M:`` line in the body
_INLINE_METER = re.compile(r"\[M:([^\]\n]*)\]")
_ONLY_BAR = re.compile(r"\s*[|:\[\]]*\s*")
#: grace notes ``{g}``, ``{/g}``: they take no time in ABC, but music21 10 counts a grace group inside a tuplet
#: (``(3{a}gfg``) as one of the tuplet's notes, so the third note keeps its full length and the bar is long
_GRACE = re.compile(r"\{[^}\n]*\}")
_METER = re.compile(r"^M:([^\n%]*)|\[M:([^\]\n]*)\]", re.MULTILINE)
_BAR_THEN_REPEAT = re.compile(r"\|(\s*\\?\s*):\|")
_REPEAT = re.compile(r":+\|+:*|\|+:+")
_ENDING = re.compile(r"(\|)\d|\[\d")
#: minimum number of complete bars of a strictly valid tune
MIN_BARS = 4


@dataclass(frozen=True)
class TuneCheck:
    """What music21 makes of one tune.

    ``parses``: music21 reads it and finds at least one note (the lenient check, ``samples/parse_rate``).
    ``bars``: complete bars checked — all but a short pickup, a short last bar and a short bar beside a section line.
    ``matching``: those whose duration equals the bar length of the meter in force (inline ``[M:…]`` changes count).
    ``valid``: the strict check — it parses, it has a meter, at least :data:`MIN_BARS` bars match and none does not.
    """

    parses: bool
    bars: int = 0
    matching: int = 0
    metered: bool = False

    @property
    def valid(self) -> bool:
        return self.parses and self.metered and self.matching >= MIN_BARS and self.matching == self.bars

    @property
    def bar_accuracy(self) -> float | None:
        """``matching / bars``; None when no complete bar was found."""
        return self.matching / self.bars if self.bars else None


def with_x(abc_text: str, number: int = 1) -> str:
    """The tune with an ``X:`` line (ABC, and abcjs, start a tune there) when it has none: ``X:<number>``."""
    text = abc_text.strip()
    return text if text.startswith("X:") else f"X:{number}\n{text}"


def _meter_lines(line: str) -> str:
    """A body line with each inline meter change ``[M:2/4]`` as an ``M:2/4`` line of its own; a bar line that is all
    that comes before the change moves after it (``|:[M:2/4]GA`` → ``M:2/4`` / ``|:GA``)."""
    parts = _INLINE_METER.split(line)  # text, meter, text, meter, text …
    out, carried = [], ""
    for i in range(0, len(parts), 2):
        text, carried = carried + parts[i], ""
        if i + 1 < len(parts) and _ONLY_BAR.fullmatch(text):
            text, carried = "", text.strip()
        if text.strip():
            out.append(text)
        if i + 1 < len(parts):
            out.append(f"M:{parts[i + 1].strip()}")
    return "\n".join(out)


def _bar_after_meter_lines(lines: list[str]) -> list[str]:
    """Body lines where the music after an ``M:`` line starts at a bar line when the music before it ended at one:
    music21 10 applies a meter change only there (``d2:|`` / ``M:9/8`` / ``B|AFA`` → ``|B|AFA``)."""
    out = list(lines)
    for i in range(2, len(out)):
        meter, before, after = out[i - 1], out[i - 2].rstrip(), out[i].lstrip()
        if meter.startswith("M:") and before.endswith(("|", ":")) and after and not _FIELD.match(after):
            if not after.startswith(("|", ":")):
                out[i] = "|" + after
    return out


def _strip_decorations(text: str) -> str:
    """Body lines rewritten for music21 10 (see the patterns above): annotations, decorations and grace notes
    dropped, ``x`` as ``z``, meter changes as :func:`_meter_lines` and :func:`_bar_after_meter_lines` write them,
    ``::`` as ``:||:`` (ABC 2.1's short form; music21 drops the note before it) and ``| :|`` as ``:|`` (music21
    makes an empty bar of it, so the short bar before the repeat no longer touches it)."""
    lines, in_body = [], False
    for line in text.splitlines():
        if not _FIELD.match(line):
            line = _GRACE.sub("", _DECORATION.sub(lambda m: m[1] or "", _ANNOTATION.sub("", line)))
            line = _INVISIBLE_REST.sub(lambda m: m[1] or "z", line)
            line = _meter_lines(line)
        lines.extend(line.split("\n"))
        if not in_body and line.startswith("K:"):
            in_body, header = True, len(lines)
    if in_body:
        lines[header:] = _bar_after_meter_lines(lines[header:])
    body = "\n".join(lines)
    return _BAR_THEN_REPEAT.sub(r"\1:|", body.replace("::", ":||:"))


def _written_bar_lengths(abc_text: str) -> set[float]:
    """Bar lengths in quarter notes of the meters the tune writes (``M:`` lines and inline ``[M:…]`` fields)."""
    from music21 import meter

    lengths = set()
    for match in _METER.finditer(abc_text):
        value = (match[1] or match[2] or "").strip()
        value = {"C": "4/4", "C|": "2/2"}.get(value, value)
        try:
            lengths.add(meter.TimeSignature(value).barDuration.quarterLength)
        except Exception:  # "none", free meter or a malformed value: no bar length to check against
            continue
    return lengths


def _section_line(barline: Any) -> bool:
    """A repeat, double or final bar line (music21 keeps no object for a plain ``|``)."""
    from music21 import bar

    return barline is not None and (isinstance(barline, bar.Repeat) or barline.type not in ("regular", "normal"))


def check_tune(abc_text: str) -> TuneCheck:
    """Parse ``abc_text`` with music21 (an ``X:`` line is added if missing) and check every bar against the meter.

    Each part (voice) is checked on its own; a bar of duration d under a meter of bar length D (both in quarter
    notes) matches when d = D exactly (music21 counts tuplets, ties, broken rhythm and grace notes).

    >>> check_tune("M:6/8\nL:1/8\nK:Em\nB|E2F G2A|B2A B^cd|e2d B2A|G2F E2:|").valid
    True
    >>> check_tune("M:6/8\nL:1/8\nK:Em\n|E2F G2A|B2A B^cd|e2d B2|G2F E2D|E3 E3|]").bar_accuracy
    0.75
    """
    from music21 import converter, spanner

    if not abc_text.strip():
        return TuneCheck(False)
    try:
        score = converter.parse(with_x(_strip_decorations(abc_text)), format="abc", forceSource=True)
    except Exception:  # music21 raises many kinds of errors on bad ABC; any of them means "not a tune"
        return TuneCheck(False)
    if not len(score.flatten().notes):
        return TuneCheck(False)
    written = _written_bar_lengths(abc_text)
    bars = matching = 0
    metered = True
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    for part in parts:
        measures = list(part.getElementsByClass("Measure"))
        # the last bar of every first/second ending (``[1 … :|``) may be short, completing the next pickup
        allowed_short = {id(b.getLast()) for b in part.spanners.getElementsByClass(spanner.RepeatBracket)}
        meter = None
        for i, measure in enumerate(measures):
            # music21 cuts an over-long bar at the bar length and gives the rest a meter the tune does not write
            # (``reBar``): that rest is checked against the meter in force, even where a short bar is excused
            signature = measure.timeSignature
            length = signature.barDuration.quarterLength if signature is not None else None
            cut_off = length is not None and length not in written
            if length is not None and not cut_off:
                meter = length
            if meter is None:
                continue
            got = measure.duration.quarterLength
            if got < meter and not cut_off:
                if i in (0, len(measures) - 1) or id(measure) in allowed_short:
                    continue
                before, after = measures[i - 1], measures[i + 1]
                barlines = (measure.leftBarline, measure.rightBarline, before.rightBarline, after.leftBarline)
                if any(_section_line(barline) for barline in barlines):
                    continue
            bars += 1
            matching += got == meter
        metered = metered and meter is not None
    return TuneCheck(True, bars, matching, metered)


def valid_tune(abc_text: str) -> bool:
    """The strict check (:func:`check_tune`): music21 parses the tune, it has at least 4 complete bars, and every
    complete bar fills its meter exactly.

    >>> valid_tune("M:6/8\nL:1/8\nK:Em\n|E2F G2A|B2A B^cd|e2d B2A|G2F E3|]")
    True
    >>> valid_tune("M:6/8\nL:1/8\nK:Em\n|E2F G2A|B2^A B^cd|")  # parses, but only two bars
    False
    """
    return check_tune(abc_text).valid


def parses_tune(abc_text: str) -> bool:
    """The lenient check: music21 parses ``abc_text`` as ABC and finds at least one note (``samples/parse_rate``).

    >>> parses_tune("M:6/8\nL:1/8\nK:Em\n|E2F G2A|B2^A B^cd|")
    True
    >>> parses_tune("K:Em\n((|]]")
    False
    """
    return check_tune(abc_text).parses


def _without_repeats(text: str) -> str:
    """The tune with repeat signs and ending numbers turned into plain bar lines, each section played once:
    music21's MIDI writer expands repeats, which takes minutes on a sampled tune with many unmatched ``:|``."""
    text = _REPEAT.sub("|", text.replace("::", "|"))
    return _ENDING.sub(lambda m: m[1] if m[1] else "", text)


def write_tune(abc_text: str, stem: Path) -> bool:
    """Write a tune as ``<stem>.abc`` and, rendered by music21, ``<stem>.mid``; returns whether the MIDI file was
    written (music21 parses some tunes it cannot render, e.g. a repeated time signature: those keep only .abc)."""
    from music21 import converter

    text = with_x(abc_text)
    stem.with_suffix(".abc").write_text(text + "\n", encoding="utf-8")
    try:
        score = converter.parse(_without_repeats(text), format="abc", forceSource=True)
        score.write("midi", fp=str(stem.with_suffix(".mid")))
    except Exception:  # music21's MIDI writer raises many kinds of errors on odd but parseable tunes
        stem.with_suffix(".mid").unlink(missing_ok=True)
        return False
    return True
