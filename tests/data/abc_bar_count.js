// An independent bar count for the strict check's test: abcjs (the vendored parser that draws the tunes page) reads
// each tune in window.TUNES and the durations of its bars are summed here, with the strict check's rules: a short
// first or last bar, and a short bar next to a section line (anything but a plain "|") or a first/second ending, is
// not a complete bar. Writes [{parses, bars, matching}] as JSON into #out.
function meterLength(element) {
  if (!element.value || !element.value.length) return null;
  return element.value.reduce((sum, v) => sum + Number(v.num) / Number(v.den), 0);
}

function countBars(text) {
  const result = {parses: false, bars: 0, matching: 0};
  const tune = ABCJS.parseOnly(text.startsWith("X:") ? text : "X:1\n" + text)[0];
  let barLength = tune.getBarLength();
  const voices = {};
  for (const line of tune.lines) {
    // a meter change at the start of a line is the staff's, not an element of its voices
    (line.staff || []).forEach((staff, s) =>
      staff.voices.forEach((voice, v) => (voices[s + ":" + v] = voices[s + ":" + v] || []).push(
        ...(staff.meter ? [{el_type: "meter", ...staff.meter}] : []), ...voice)));
  }
  result.parses = Object.keys(voices).length > 0;
  for (const elements of Object.values(voices)) {
    const measures = [];
    let bar = {length: 0, notes: 0, left: "start", meter: barLength, ending: false};
    let tupletLeft = 0, tupletScale = 1;
    for (const e of elements) {
      if (e.el_type === "meter") {
        barLength = meterLength(e) || barLength;
        bar.meter = barLength;
      } else if (e.el_type === "note" && !(e.rest && e.rest.type === "spacer")) {  // a spacer "y" takes no time
        if (e.startTriplet) { tupletLeft = e.tripletR || e.startTriplet; tupletScale = e.tripletMultiplier; }
        let length = e.duration || 0;
        if (tupletLeft > 0) { length *= tupletScale; tupletLeft--; }
        bar.length += length;
        bar.notes++;
      } else if (e.el_type === "bar") {
        bar.right = e.type;
        bar.endingNext = !!e.startEnding;
        measures.push(bar);
        bar = {length: 0, notes: 0, left: e.type, meter: barLength, ending: !!e.startEnding};
      }
    }
    if (bar.notes) measures.push({...bar, right: "end"});
    const section = (type) => type && type !== "bar_thin";
    measures.forEach((m, i) => {
      if (!m.notes) return;
      if (m.length < m.meter - 1e-9) {
        const edge = i === 0 || i === measures.length - 1;
        if (edge || section(m.left) || section(m.right) || m.ending || m.endingNext) return;
      }
      result.bars++;
      if (Math.abs(m.length - m.meter) < 1e-9) result.matching++;
    });
  }
  return result;
}

document.getElementById("out").textContent = JSON.stringify(window.TUNES.map((text) => {
  try { return countBars(text); } catch (err) { return {parses: false, bars: 0, matching: 0}; }
}));
