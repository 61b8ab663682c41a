"""``python -m seqlab.predict``."""

from seqlab.predict.command import main

main()
