"""What recipe cards add to a run (docs/experiments.md): baselines, training rules, diagnostics, sweep summaries."""
