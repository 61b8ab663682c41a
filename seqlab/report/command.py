"""``python -m seqlab.report SWEEP_DIR [-o FILE] [--json]``, ``seqlab report``: write the page, print the groups."""

from __future__ import annotations

import argparse
import json
import sys

from seqlab.report.groups import load_sweep, summary_json, summary_text
from seqlab.report.page import write_report
from seqlab.report.read import ReportError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m seqlab.report",
        description="Write an HTML report comparing the runs of a sweep; runs that differ only in seed are grouped "
        "and shown as mean ± 95 %% t-interval.",
    )
    parser.add_argument("sweep_dir", help="a sweep folder (outputs/<experiment>/multirun/<date>/<time>) or any run")
    parser.add_argument("-o", "--output", help="where to write the HTML (default: <sweep_dir>/report.html)")
    parser.add_argument("--json", action="store_true", help="also write the groups' numbers to <sweep_dir>/report.json")
    args = parser.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_dir)
        path = write_report(sweep, args.output)
        json_path = None
        if args.json:
            json_path = sweep.path / "report.json"
            json_path.write_text(json.dumps(summary_json(sweep), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except (ReportError, OSError) as err:
        print(f"seqlab: error: report: {err}", file=sys.stderr)
        sys.exit(1)
    print(summary_text(sweep))
    print(f"seqlab: report written to {path}")
    if json_path is not None:
        print(f"seqlab: numbers written to {json_path}")

