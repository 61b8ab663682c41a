"""Where seqlab's own files are. A leaf module: it imports nothing from seqlab, so anything may import it."""

from __future__ import annotations

from pathlib import Path


def conf_dir() -> Path:
    """The config root: ``seqlab/conf`` inside an installed wheel, ``conf/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if packaged.is_dir() else here.parent / "conf"
