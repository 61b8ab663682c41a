"""Compare the runs of a sweep in one self-contained HTML file.

``python -m seqlab.report <sweep dir> [-o FILE] [--json]`` (docs/scale.md, "Comparing runs"). Modules, in the order
the command uses them: ``read`` (the run folders), ``groups`` (over seeds), ``page`` (the HTML), ``command``.

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
