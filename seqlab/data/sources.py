"""Sources: files, folders, globs and UTF-8 text, the Hugging Face hub, and a source's identity in the cache key."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seqlab.errors import DataError


def source_signature(source: str) -> dict[str, Any]:
    """Identify a source's content cheaply: local files by their paths, sizes and modification times; anything
    else (``builtin:``, a hub id, a plugin's own name such as ``generated``) by its text."""
    if source.startswith("hf:") and Path(parse_hf(source)[0]).expanduser().is_dir():  # a local copy of a hub dataset
        return {**source_signature(str(Path(parse_hf(source)[0]).expanduser())), "source": source}
    try:
        files = [] if is_remote_or_builtin(source) else resolve_files(source)
    except DataError:
        files = []
    return {"files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]} if files else {"source": source}


def require_columns(where: str, columns: list[str], wanted: Iterable[str], advice: str = "") -> None:
    """Refuse a table without one of the ``wanted`` columns, in one line naming ``where`` and the columns it has."""
    for column in wanted:
        if column not in columns:
            raise DataError(f"{where}: no column '{column}' (columns: {', '.join(columns)}){advice}")


def is_remote_or_builtin(source: str) -> bool:
    """``hf:<name>`` and ``builtin:<name>`` sources (unless a local path of that name exists)."""
    return ":" in source and source.split(":", 1)[0] in ("hf", "builtin") and not Path(source).exists()


def resolve_files(source: str, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """A file, a folder (its files, recursively) or a glob → the list of files. Raises a clear DataError.

    Each real file once; symlinks are followed, but never into a folder already visited (a loop)."""
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = unique_files(
            p for p in walk_files(path) if not p.name.startswith(".") and (not suffixes or p.suffix in suffixes)
        )
        if not files:
            raise DataError(f"data.source: folder {path} holds no {'/'.join(suffixes) or ''} files")
        return files
    matches = unique_files(glob_files(str(path)))
    if not matches:
        raise DataError(
            f"data.source: {source} does not exist (expected a file, folder, glob, builtin:<name> or hf:<name>)"
        )
    return matches


def walk_files(root: Path) -> Iterator[Path]:
    """Every file under ``root``, following symlinked folders but entering each real folder once, so a symlink
    loop (or two) ends instead of recursing until the path is too long."""
    seen: set[tuple[int, int]] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        here = os.stat(folder)
        seen.add((here.st_dev, here.st_ino))
        kept = []
        # real folders before links to them, so files are listed under their own path where possible
        for name in sorted(dirnames, key=lambda d: (os.path.islink(os.path.join(folder, d)), d)):
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:  # a dangling link or a link loop: nothing to read there
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            file = Path(folder, name)
            if file.is_file():
                yield file


def glob_files(pattern: str) -> Iterator[Path]:
    """Files matching a glob. ``**`` is matched over :func:`walk_files`, which ends on symlink loops (unlike
    ``glob.glob(recursive=True)``); as in ``glob``, ``*`` and ``**`` do not match names starting with a dot."""
    import glob

    if "**" not in pattern:
        yield from (Path(p) for p in glob.glob(pattern) if Path(p).is_file())
        return
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:fixed]) if fixed else Path(".")
    if not root.is_dir():
        return
    for file in walk_files(root):
        relative = file.relative_to(root).parts
        if _glob_match(relative, parts[fixed:]):
            yield Path(*parts[:fixed], *relative) if fixed else Path(*relative)


def _glob_match(names: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether path components ``names`` match glob components ``pattern`` (``**``: zero or more components)."""
    import fnmatch

    if not pattern:
        return not names
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        hidden = next((i for i, name in enumerate(names) if name.startswith(".")), len(names))  # ``**`` stops there
        return any(_glob_match(names[i:], rest) for i in range(hidden + 1))
    if not names or (names[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], head) and _glob_match(names[1:], rest)


def unique_files(paths: Iterable[Path]) -> list[Path]:
    """``paths`` sorted, each real file once (the first path that reaches it)."""
    first: dict[str, Path] = {}
    for path in sorted(paths):
        first.setdefault(os.path.realpath(path), path)
    return list(first.values())


def read_text(path: Path) -> str:
    """Read a non-empty UTF-8 text file; an empty file or non-UTF-8 bytes are reported with the file and line."""
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); "
            "convert the file to UTF-8"
        ) from None


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file without their newline, read one at a time. Newlines are ``\n``, ``\r\n`` and
    ``\r`` only (``str.splitlines`` also cuts at form feeds, U+2028 and the like, which a line of a corpus may hold)."""
    content = False
    try:
        with open(path, encoding="utf-8-sig", newline=None) as file:
            for line in file:
                content = content or bool(line.strip())
                yield line[:-1] if line.endswith("\n") else line
    except UnicodeDecodeError:
        read_text(path)  # raises the one-line error naming the line
        raise
    if not content:
        read_text(path)  # raises "the file is empty"


#: seconds the hub may take to accept a connection before a hub source is reported as unreachable (instead of
#: huggingface_hub's five retries with back-off, ~25 s)
HUB_PROBE_TIMEOUT = 3.0


def parse_hf(source: str) -> tuple[str, str | None]:
    """``hf:<name>[:<config>]`` → ``(name, config)``; the name may be a hub id or a local copy's folder."""
    parts = source.split(":")
    if len(parts) < 2 or not parts[1]:
        raise DataError(f"data.source={source}: expected hf:<name>[:<config>]")
    return parts[1], (parts[2] if len(parts) > 2 and parts[2] else None)


def hub_unreachable(name: str = "") -> str | None:
    """Why the Hugging Face hub cannot serve a dataset now (None when it can, or with ``HF_HUB_OFFLINE``): one HEAD
    request for the dataset's record within :data:`HUB_PROBE_TIMEOUT` seconds, name lookup included (in a thread:
    ``getaddrinfo`` has no timeout). A refused or timed-out connection or a server error (a proxy's 502) is a
    reason; an answer of the hub itself (200, or 401/403/404, which ``datasets`` then reports) is not."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    endpoint = constants.ENDPOINT.rstrip("/")
    url = f"{endpoint}/api/datasets/{name}" if name else endpoint

    def request() -> None:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=HUB_PROBE_TIMEOUT).close()

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(request).result(timeout=HUB_PROBE_TIMEOUT + 0.5)
    except FutureTimeout:
        return f"{endpoint} did not answer within {HUB_PROBE_TIMEOUT:g} s"
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code == 407:
            return f"{endpoint} answered HTTP {err.code} {err.reason}"
    except urllib.error.URLError as err:
        return f"{endpoint}: {getattr(err.reason, 'strerror', None) or err.reason}"
    except OSError as err:
        return f"{endpoint}: {err.strerror or err}"
    finally:
        pool.shutdown(wait=False)
    return None


def load_hf(source: str) -> Any:
    """``hf:<name>[:<config>]`` → the ``DatasetDict`` from the Hugging Face hub, its local cache, or a local copy.

    ``name`` is a hub id (``Salesforce/wikitext``) or a clone of the dataset repository (or its config's folder).
    An unreachable hub fails within seconds, not after huggingface_hub's retries, saying how to use a local copy.
    """
    import datasets
    from huggingface_hub import constants

    name, config = parse_hf(source)
    local = Path(name).expanduser().is_dir()
    copy = f"hf:/path/to/{Path(name).name}" + (f":{config}" if config else "")
    fetch = f"download the dataset where there is network (git clone https://huggingface.co/datasets/{name}) and set "
    fetch += f"data.source={copy}"
    or_offline = f"{fetch}, or set HF_HUB_OFFLINE=1 to use the datasets cache"
    if local:  # a copy of the hub repository keeps each config's files in a folder named after it
        folder = Path(name).expanduser()
        name, config = (str(folder / config), None) if config and (folder / config).is_dir() else (str(folder), config)
    elif reason := hub_unreachable(name):
        raise DataError(f"data.source={source}: cannot reach the Hugging Face hub ({reason}); {or_offline}")
    try:
        return datasets.load_dataset(name, config)
    except Exception as err:  # the hub, the network or the cache: report in one line
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "LocalEntryNotFoundError" in reason and not local and not constants.HF_HUB_OFFLINE:
            raise DataError(  # the hub failed mid-way (after the probe): huggingface_hub's message names no cause
                f"data.source={source}: the Hugging Face hub ({constants.ENDPOINT}) did not serve it and it is not in "
                f"the datasets cache; {or_offline}"
            ) from None
        if constants.HF_HUB_OFFLINE and not local:
            raise DataError(
                f"data.source={source}: not in the datasets cache and HF_HUB_OFFLINE is set ({reason}); {fetch}"
            ) from None
        raise DataError(f"data.source={source}: cannot load with datasets.load_dataset ({reason})") from None
