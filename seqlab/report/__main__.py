"""``python -m seqlab.report``."""

from seqlab.report.command import main

main()
