"""Where seqlab's own files are. A leaf module: it imports nothing from seqlab, so anything may import it."""

from __future__ import annotations

from pathlib import Path


def conf_dir() -> Path:
    """The config root: ``seqlab/conf`` inside an installed wheel, ``conf/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if packaged.is_dir() else here.parent / "conf"


def write_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that a reader — or a crash, a kill, a full disk — never sees a partial
    file: a temp file beside it is written, fsynced and renamed over it. On failure the temp file is removed and the
    old file (if any) is left as it was."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path | str, value: object, **options: object) -> None:
    """:func:`write_atomic` of ``json.dumps(value, **options)`` and a final newline."""
    import json

    write_atomic(path, json.dumps(value, **options) + "\n")
