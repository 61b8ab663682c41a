"""seqlab.report: the HTML comparison of a sweep's runs, checked as text and rendered by headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from seqlab.report import ReportError, render_report, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_png(path: Path, title: str) -> None:
    """A gradient-flow-like plot, the way a callback would save it (matplotlib, Agg)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([1.0, 0.5, 0.1])
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def write_run(sweep: Path, name: str, overrides: list[str], metrics: dict | None, error: str = "") -> Path:
    """A job folder laid out as seqlab writes it: .hydra/, metrics.json or error.txt, csv/, gradient_flow/."""
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run / ".hydra" / "config.yaml").write_text("seed: 1\n")
    if error:
        (run / "error.txt").write_text(error + "\n\nTraceback ...\n")
        return run
    (run / "csv").mkdir()
    (run / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss,test/loss\n0,9,3.0,,\n0,19,2.5,,\n0,19,,2.7,\n0,39,2.1,,\n0,39,,2.4,\n1,40,,,2.5\n"
    )
    (run / "metrics.json").write_text(json.dumps(metrics))
    write_png(run / "gradient_flow" / "norms_step_40.png", f"{name} step 40")
    write_png(run / "gradient_flow" / "heatmap.png", f"{name} heatmap")
    return run


@pytest.fixture
def sweep(tmp_path) -> Path:
    sweep = tmp_path / "outputs" / "char_rnn" / "multirun" / "2026-01-02" / "03-04-05"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - cell=lstm,gru,rnn_tanh\n    - trainer.max_steps=40\n"
    )
    write_run(sweep, "0_cell=lstm", ["cell=lstm", "trainer.max_steps=40"], {"val/loss": 2.4, "val/accuracy": 0.3})
    write_run(sweep, "1_cell=gru", ["cell=gru", "trainer.max_steps=40"], {"val/loss": 2.2, "val/accuracy": 0.25})
    write_run(sweep, "2_cell=rnn_tanh", ["cell=rnn_tanh", "trainer.max_steps=40"], None, error="CUDA out of memory")
    return sweep


def images(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_tables_the_runs_with_swept_values_status_and_best_metrics(sweep):
    html = render_report(sweep)
    runs_table = html.split('<table class="runs">')[1].split("</table>")[0]
    assert runs_table.count("<tr>") == 4
    assert "<th>cell</th>" in runs_table and "trainer.max_steps" not in runs_table  # only the swept key
    assert '<td class="num best">2.2</td>' in runs_table  # lowest val/loss
    assert '<td class="num best">0.3</td>' in runs_table  # highest val/accuracy
    assert "failed: CUDA out of memory" in runs_table
    assert "python -m seqlab -m cell=lstm,gru,rnn_tanh trainer.max_steps=40" in html


def test_report_embeds_curves_and_gradient_flow_side_by_side_as_pngs(sweep):
    html = render_report(sweep)
    pngs = images(html)
    # curves: train/loss and val/loss (test metrics are single points, left out); gradient flow: 2 runs × 2 files
    assert len(pngs) == 2 + 4
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs)
    flow = html.split('<table class="gradient-flow">')[1].split("</table>")[0]
    assert flow.count("<tr>") == 3  # header + heatmap.png + norms_step_40.png
    assert "<th>cell=lstm</th><th>cell=gru</th>" in flow  # one column per run that wrote plots


def test_report_command_writes_one_html_file_into_the_sweep(sweep, run_seqlab):
    result = run_seqlab(str(sweep), module="seqlab.report")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"seqlab: report written to {sweep / 'report.html'}"
    assert (sweep / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_report_errors_are_one_line(tmp_path, run_seqlab):
    missing = run_seqlab(str(tmp_path / "nope"), module="seqlab.report")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"seqlab: error: report: {tmp_path / 'nope'}: no such folder" + (
        " (give a sweep folder, e.g. outputs/<experiment>/multirun/...)"
    )
    with pytest.raises(ReportError, match="no run folders"):
        render_report(tmp_path)
    broken = write_run(tmp_path / "sweep", "0_cell=gru", ["cell=gru"], {"val/loss": 1.0})
    (broken / "metrics.json").write_text("[1, 2]")
    with pytest.raises(ReportError, match=r"metrics.json: not a JSON object of numbers"):
        render_report(tmp_path / "sweep")


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
]


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="chromium is not installed (Debian: apt-get install -y chromium); the HTML report is not rendered",
)
def test_report_renders_in_headless_chromium_with_every_image_decoded(sweep, tmp_path):
    report = write_report(sweep)
    # a copy of the report with a probe that records, once the page has loaded, what the browser made of it
    probe = (
        "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
        " document.body.dataset.images = imgs.length;"
        " document.body.dataset.decoded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
        " document.body.dataset.tables = document.querySelectorAll('table').length; });</script>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", probe + "</body>"))
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)[1]
    attributes = dict(re.findall(r'data-(\w+)="(\d+)"', body))
    assert attributes == {"images": "6", "decoded": "6", "tables": "2"}

    screenshot = tmp_path / "report.png"
    shot = subprocess.run(
        [
            "chromium",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1600",
            f"--screenshot={screenshot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
