"""`python -m seqlab [overrides]` trains; `python -m seqlab plugins` lists plugins."""

from seqlab.cli import main

if __name__ == "__main__":
    main()
