"""Compare the runs of a sweep in one self-contained HTML file.

``python -m seqlab.report <sweep dir> [-o report.html]`` reads every run folder under the sweep (a folder holding
``.hydra/``) and writes ``<sweep dir>/report.html`` (or ``-o``) with

- a table of groups: runs whose composed configs (``.hydra/config.yaml``) differ only in ``seed`` (and in the run's
  paths, ``paths.*`` and ``ckpt_path``) form one group, and each metric is shown as the mean over the group's
  finished runs ± the half-width of a 95 % Student-t interval (n − 1 degrees of freedom, :mod:`seqlab.stats`) with
  n; the per-seed values show on hover; n = 1 shows the value and ``n=1``, no interval;
- a table of runs: the swept parameters (from ``multirun.yaml``, else each run's overrides), the status (ok / failed
  with the first line of ``error.txt`` / incomplete), the final metrics from ``metrics.json`` (the best value of each
  column in bold) and the wall time (from the job's ``.hydra/config.yaml``, written when the job starts, to its
  ``metrics.json`` or ``error.txt``, written when it ends);
- the Optuna result (``optimization_results.yaml``) when the sweep was an Optuna search;
- one plot per logged metric (``csv/metrics.csv`` of each run, every run a line, against the training step);
- the gradient-flow plots side by side: one column per run, one row per PNG name found in the runs'
  ``gradient_flow/`` folders;
- each run's final samples (``samples/final.txt``), when it wrote any.

Images are PNGs rendered with matplotlib's Agg backend and embedded as base64, so the file opens anywhere offline.
The command also prints the groups' means and intervals, and with ``--json`` writes them to ``<sweep dir>/report.json``
(keys: :func:`~seqlab.report.groups.summary_json`).

Modules, in the order the command uses them: :mod:`~seqlab.report.read` (the run folders), :mod:`~seqlab.report.groups`
(grouped over seeds, intervals, JSON and text), :mod:`~seqlab.report.page` (the HTML), :mod:`~seqlab.report.command`.

>>> from pathlib import Path; import tempfile
>>> sweep = Path(tempfile.mkdtemp())
>>> run = sweep / "0_cell=gru"; (run / ".hydra").mkdir(parents=True)
>>> _ = (run / "metrics.json").write_text('{"val/loss": 1.5}')
>>> html = render_report(sweep)
>>> "<table" in html and "1.5" in html
True
"""

from seqlab.report.command import main
from seqlab.report.groups import Group, Sweep, load_sweep, summary_json, summary_text
from seqlab.report.page import plot_order, render_report, write_report
from seqlab.report.read import ReportError, Run, read_run

__all__ = ["Group", "ReportError", "Run", "Sweep", "load_sweep", "main", "plot_order", "read_run", "render_report",
           "summary_json", "summary_text", "write_report"]
