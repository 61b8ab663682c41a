"""``seqlab plugins``: what was found, what each plugin adds, and which failed."""

from __future__ import annotations

import os
import sys

from seqlab.plugins.discovery import (
    ENTRY_POINT_GROUP,
    KINDS,
    LOCAL_FOLDER,
    _shown,
    config_options,
    discover,
    load_plugins,
)


def describe_plugins() -> str:
    """What ``seqlab plugins`` prints: each plugin, its version, and the options it adds."""
    plugins = load_plugins(report=False)
    found = discover()
    local_options = config_options(found.local_conf)
    if not plugins and not local_options:
        return (
            f"no seqlab plugins found (installed packages with a '{ENTRY_POINT_GROUP}' entry point, "
            f"or modules in ./{LOCAL_FOLDER}/)"
        )
    lines = []
    for plugin in plugins.values():
        if plugin.error:
            lines.append(f"{plugin.name}  [{plugin.origin}]  FAILED: {plugin.error}")
            continue
        lines.append(f"{plugin.name}  [{plugin.origin}]")
        for kind in KINDS:
            if plugin.added.get(kind):
                lines.append(f"  {kind}s: {', '.join(plugin.added[kind])}")
        if options := config_options(plugin.conf_dir):
            lines.append(f"  config options: {', '.join(options)}")
    if found.local_conf_error:
        lines.append(f"{_shown(found.local_conf)}  SKIPPED: {found.local_conf_error}")
    elif local_options:
        lines.append(f"{_shown(found.local_conf)}  config options: {', '.join(local_options)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``seqlab plugins``: the listing; exit 1 if a plugin failed (for CI), quiet on a closed pipe (``| head``)."""
    listing = describe_plugins()
    try:
        print(listing, flush=True)
    except BrokenPipeError:
        # the reader is gone: point stdout at devnull so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    found = discover()
    if any(plugin.error for plugin in found.plugins.values()) or found.local_conf_error:
        sys.exit(1)
