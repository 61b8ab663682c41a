"""seqlab.report: the HTML comparison of a sweep's runs (grouped over seeds: mean ± 95 % t-interval), checked as text,
as JSON and rendered by headless Chromium; and a real ``-m seed=0,1`` multirun reported end to end."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.runs import CHROMIUM, CHROMIUM_FLAGS, TINY, needs_chromium, rendered_dom

from seqlab.report import ReportError, load_sweep, render_report, write_report
from seqlab.stats import interval

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_png(path: Path, title: str) -> None:
    """A gradient-flow-like plot, the way a callback would save it (matplotlib, Agg)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([1.0, 0.5, 0.1])
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def composed_config(run: Path, overrides: list[str]) -> dict:
    """What Hydra composes for ``overrides`` on a small base config: the seed, the run's own paths, and the
    overridden keys set in place (``optimizer.lr=0.01`` → ``{"optimizer": {"lr": 0.01}}``)."""
    config: dict = {
        "seed": 1234,
        "optimizer": {"name": "adam", "lr": 0.003},
        "paths": {"output_dir": str(run)},
        "ckpt_path": None,
    }
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = yaml.safe_load(value)
    return config


def write_run(
    sweep: Path, name: str, overrides: list[str], metrics: dict | None, error: str = "", config: dict | None = None
) -> Path:
    """A job folder laid out as seqlab writes it: .hydra/ (overrides, composed config), metrics.json or error.txt,
    csv/, gradient_flow/."""
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config or composed_config(run, overrides)))
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


@pytest.mark.e2e
def test_report_command_writes_one_html_file_into_the_sweep(sweep, run_seqlab):
    result = run_seqlab(str(sweep), module="seqlab.report")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"seqlab: report written to {sweep / 'report.html'}"
    # one group per cell, each a single seed: the value with n=1, no interval
    assert "    val/loss      2.2  (n=1)" in lines
    assert "  cell=rnn_tanh: 0 of 1 runs finished (seeds 1234)" in lines
    assert "±" not in result.stdout
    assert (sweep / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert not (sweep / "report.json").exists()  # only with --json


@pytest.mark.e2e
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


#: val/accuracy of the seeds sweep: (cell, seed) → value
SEED_VALUES = {("gru", 0): 0.80, ("gru", 1): 0.86, ("gru", 2): 0.83, ("lstm", 0): 0.70, ("lstm", 1): 0.74}


@pytest.fixture
def seeds_sweep(tmp_path) -> Path:
    """``-m cell=gru,lstm seed=0,1,2`` with one lstm job failed, plus a gru job with another learning rate and a
    resumed gru job (its own ckpt_path, still seed 0 of the same experiment: not a new group)."""
    sweep = tmp_path / "outputs" / "tweet_sentiment" / "multirun" / "2026-01-02" / "03-04-05"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra:\n  overrides:\n    task:\n    - cell=gru,lstm\n    - seed=0,1,2\n")
    job = 0
    for cell in ("gru", "lstm"):
        for seed in (0, 1, 2):
            name, overrides = f"{job}_cell={cell},seed={seed}", [f"cell={cell}", f"seed={seed}"]
            if (cell, seed) in SEED_VALUES:
                value = SEED_VALUES[cell, seed]
                write_run(sweep, name, overrides, {"val/accuracy": value, "val/loss": 1 - value})
            else:
                write_run(sweep, name, overrides, None, error="diverged")
            job += 1
    write_run(sweep, "6_cell=gru,optimizer.lr=0.01", ["cell=gru", "optimizer.lr=0.01", "seed=0"], {"val/accuracy": 0.5})
    resumed = composed_config(sweep / "7_resumed", ["cell=gru", "seed=0"]) | {"ckpt_path": "/elsewhere/last.ckpt"}
    write_run(sweep, "7_resumed", ["cell=gru", "seed=0"], {"val/accuracy": 0.80}, config=resumed)
    return sweep


def test_runs_that_differ_only_in_seed_and_paths_form_one_group(seeds_sweep):
    groups = load_sweep(seeds_sweep).groups
    # gru: seeds 0, 1, 2 and the resumed seed 0 (other paths, other ckpt_path); lstm: three seeds, one failed;
    # gru with another learning rate: another experiment
    assert [[r.name.split("_")[0] for r in g.runs] for g in groups] == [["0", "1", "2", "7"], ["3", "4", "5"], ["6"]]
    gru, lstm, other_lr = groups
    assert [r.seed for r in gru.runs] == [0, 1, 2, 0]
    assert len(lstm.finished) == 2  # the failed seed is listed but not averaged
    stat = lstm.interval("val/accuracy")
    assert (stat.n, stat.mean, stat.half_width) == (
        2,
        pytest.approx(0.72),
        pytest.approx(interval([0.70, 0.74]).half_width),
    )
    assert other_lr.interval("val/accuracy").half_width is None
    assert other_lr.interval("val/loss") is None  # it never logged one


def test_groups_that_share_swept_values_are_labelled_by_what_differs(seeds_sweep):
    sweep = load_sweep(seeds_sweep)
    labels = [g.label for g in sweep.groups]
    assert len(set(labels)) == 3, labels  # the other learning rate is told apart by the config key that differs
    assert labels[2] == "cell=gru,optimizer.lr=0.01" and labels[0] == "cell=gru,optimizer.lr=0.003"


def test_report_shows_mean_plus_minus_t_interval_with_n_and_per_seed_values(seeds_sweep):
    html = render_report(seeds_sweep)
    table = html.split('<table class="groups">')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 3
    gru_values = [0.80, 0.86, 0.83, 0.80]
    gru = interval(gru_values)
    expected = f"{gru.mean:.4g} ± {gru.half_width:.4g} <small>n=4</small>"
    assert expected in rows[0]
    per_seed = "\n".join(
        f"seed {seed}: {value} ({run})"
        for seed, value, run in [
            (0, 0.8, "0_cell=gru,seed=0"),
            (1, 0.86, "1_cell=gru,seed=1"),
            (2, 0.83, "2_cell=gru,seed=2"),
            (0, 0.8, "7_resumed"),
        ]
    )
    # the best mean accuracy is bold; hovering shows each seed's value
    assert f'<td class="num best" title="{per_seed}">{expected}</td>' in rows[0]
    assert '<td class="num">4</td>' in rows[0]  # 4 runs, all finished
    assert "0.72 ± " in rows[1] and "<small>n=2</small>" in rows[1] and 'title="2 of 3 finished"' in rows[1]
    assert "<td>0, 1, 2</td>" in rows[1]
    assert '<td class="num" title="seed 0: 0.5 (6_cell=gru,optimizer.lr=0.01)">0.5 <small>n=1</small></td>' in rows[2]
    assert "±" not in rows[2]
    runs_table = html.split('<table class="runs">')[1].split("</table>")[0]
    assert "<th>seed</th>" in runs_table  # the per-seed values stay in the table of runs


@pytest.mark.e2e
def test_report_json_writes_the_same_numbers_with_documented_keys(seeds_sweep, run_seqlab):
    result = run_seqlab("--json", str(seeds_sweep), module="seqlab.report")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"seqlab: numbers written to {seeds_sweep / 'report.json'}"
    gru = interval([0.80, 0.86, 0.83, 0.80])
    assert f"    val/accuracy  {gru.mean:.4g} ± {gru.half_width:.4g}  (n=4)" in result.stdout.splitlines()
    data = json.loads((seeds_sweep / "report.json").read_text())
    assert set(data) == {"sweep_dir", "confidence", "interval", "swept", "groups", "runs"}
    assert (data["confidence"], data["interval"], data["swept"]) == (0.95, "student-t", ["cell", "seed"])
    first = data["groups"][0]
    assert set(first) == {"label", "params", "runs", "seeds", "finished", "metrics"}
    assert (first["params"], first["seeds"], first["finished"]) == (
        {"cell": "gru", "optimizer.lr": "0.003"},
        [0, 1, 2, 0],
        4,
    )
    accuracy = first["metrics"]["val/accuracy"]
    assert set(accuracy) == {"mean", "n", "std", "half_width", "low", "high", "values"}
    assert accuracy["n"] == 4
    assert accuracy["mean"] == pytest.approx(gru.mean) and accuracy["half_width"] == pytest.approx(gru.half_width)
    assert accuracy["low"] == pytest.approx(gru.mean - gru.half_width)
    assert accuracy["values"][1] == {"seed": 1, "run": "1_cell=gru,seed=1", "value": 0.86}
    single = data["groups"][2]["metrics"]["val/accuracy"]
    assert (single["n"], single["std"], single["half_width"], single["low"], single["high"]) == (
        1,
        None,
        None,
        None,
        None,
    )
    lstm_runs = [r for r in data["runs"] if r["group"] == 1]
    assert [r["status"] for r in lstm_runs] == ["ok", "ok", "failed"] and lstm_runs[2]["error"] == "diverged"
    assert set(data["runs"][0]) == {
        "name",
        "path",
        "seed",
        "group",
        "status",
        "error",
        "overrides",
        "metrics",
        "wall_seconds",
    }


@pytest.mark.e2e
def test_seed_multirun_keeps_every_run_differing_only_in_seed_and_reports_an_interval(run_seqlab, tmp_path):
    # two runs of a few seconds each, but minutes on a loaded shared machine: a generous timeout
    result = run_seqlab("-m", "seed=0,1", "test=false", *TINY, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "char_rnn" / "multirun").glob("*/*")
    jobs = sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())
    assert [p.name.split("_")[0] for p in jobs] == ["0", "1"] and all("seed=" in p.name for p in jobs)
    configs = [yaml.safe_load((job / ".hydra" / "config.yaml").read_text()) for job in jobs]
    assert [c.pop("seed") for c in configs] == [0, 1]
    assert configs[0] == configs[1]  # composed configs differ in nothing else (data.seed follows ${seed})
    losses = [json.loads((job / "metrics.json").read_text())["val/loss"] for job in jobs]
    assert losses[0] != losses[1]  # the seed reached the model and the data

    report = run_seqlab("--json", str(sweep), module="seqlab.report")
    assert report.returncode == 0, report.stderr
    assert any(line.startswith("    val/loss ") and " ± " in line for line in report.stdout.splitlines())
    (group,) = json.loads((sweep / "report.json").read_text())["groups"]
    assert group["seeds"] == [0, 1] and group["metrics"]["val/loss"]["n"] == 2
    assert group["metrics"]["val/loss"]["mean"] == pytest.approx(sum(losses) / 2)




@pytest.mark.e2e
@needs_chromium
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
    dom = rendered_dom(probed, tmp_path, budget_ms=5000)
    body = re.search(r"<body([^>]*)>", dom)[1]
    attributes = dict(re.findall(r'data-(\w+)="(\d+)"', body))
    assert attributes == {"images": "6", "decoded": "6", "tables": "3"}  # groups, runs, gradient flow

    screenshot = tmp_path / "report.png"
    shot = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            "--virtual-time-budget=5000",
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


def test_curves_show_losses_and_the_tasks_metrics_before_diagnostics(tmp_path):
    from seqlab.report import plot_order

    names = {"grad_flow/inputs/vanishing_index", "sigma_max/layer0/W_hi", "train/loss", "val/bpc", "val/loss",
             "lr-Adam", "epoch", "val/accuracy", "train/tokens_per_s", "test/loss"}
    assert plot_order(names) == [
        ("Losses and metrics", ["train/loss", "val/loss", "test/loss", "val/accuracy", "val/bpc"]),
        ("Diagnostics", ["epoch", "grad_flow/inputs/vanishing_index", "lr-Adam", "sigma_max/layer0/W_hi",
                         "train/tokens_per_s"]),
    ]
    # a translation run: the curves in that order in the page, and a note beside BLEU
    run = tmp_path / "run"
    (run / "csv").mkdir(parents=True)
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text("seed: 0\ndata: {name: parallel}\n")
    (run / "csv" / "metrics.csv").write_text(
        "step,grad_norm/total,train/loss,val/bleu,val/exact_match,val/loss\n"
        "1,0.5,2.0,,,\n2,0.4,1.5,0.0,0.74,1.4\n3,0.3,1.2,0.0,0.80,1.1\n"
    )
    (run / "metrics.json").write_text(json.dumps({"val/loss": 1.1, "val/bleu": 0.0, "val/exact_match": 0.8}))
    html = render_report(run)
    assert re.findall(r'<img alt="([^"]+)"', html) == ["train/loss", "val/loss", "val/bleu", "val/exact_match",
                                                        "grad_norm/total"]
    assert html.index("<h3>Losses and metrics</h3>") < html.index("<h3>Diagnostics</h3>")
    assert "BLEU counts word n-grams up to 4" in html
