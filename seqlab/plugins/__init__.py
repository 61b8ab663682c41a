"""Plugins: cells, heads and datamodules from other packages (or a local ``plugins/`` folder), selectable by name.

Found before Hydra composes the config: **installed packages** with an entry point in the group ``seqlab.plugins``
(``mgu = "seqlab_mgu"``; ``"module:function"`` is imported, then called) and config in
``<package>/conf/<group>/<option>.yaml``; **a local folder** ``./plugins/`` (each ``<name>.py`` or
``<name>/__init__.py`` is plugin ``<name>``; config in ``plugins/conf/`` or ``plugins/<name>/conf/``). A plugin
registers its classes as the built-ins do (``CELLS.register("mgu", MGUCell)``). One that fails to import, registers a
taken name or shadows a config file is reported once and skipped with all it registered; the rest of seqlab works.
``seqlab plugins`` lists what was found. See docs/plugins.md.
"""

from seqlab.plugins.checkpoints import missing_plugin_advice, plugin_requirements, require_plugins
from seqlab.plugins.discovery import (
    Plugin,
    discover,
    explain_missing_option,
    load_plugins,
    load_plugins_for,
    plugin_conf_dirs,
    search_dirs,
)
from seqlab.plugins.listing import describe_plugins, main

__all__ = [
    "Plugin",
    "describe_plugins",
    "discover",
    "explain_missing_option",
    "load_plugins",
    "load_plugins_for",
    "main",
    "missing_plugin_advice",
    "plugin_conf_dirs",
    "plugin_requirements",
    "require_plugins",
    "search_dirs",
]
