"""Plugins: cells, heads and datamodules from other packages (or a local ``plugins/`` folder), selectable by name.

Where seqlab finds plugins, before Hydra composes the config:

- **installed packages** that declare an entry point in the group ``seqlab.plugins``::

      [project.entry-points."seqlab.plugins"]
      mgu = "seqlab_mgu"            # plugin name = "module" (imported) or "module:function" (imported, then called)

  The package's config folder ``<package>/conf/<group>/<option>.yaml`` (``conf/cell/mgu.yaml``) joins Hydra's
  search path, so ``python -m seqlab cell=mgu`` works without touching seqlab.
- **a local folder** ``./plugins/`` in the working directory, no packaging needed: each ``plugins/<name>.py``
  module and each ``plugins/<name>/__init__.py`` package is a plugin named ``<name>``. Config goes in
  ``plugins/conf/<group>/<option>.yaml`` (a package may keep its own in ``plugins/<name>/conf/``).

A plugin registers its classes the way seqlab's built-ins do (``CELLS.register("mgu", MGUCell)``); the registry
records the plugin as their owner. Failure is contained: a plugin that fails to import, registers a name that is
taken, or ships a config file that shadows another one (``conf/cell/lstm.yaml``) is reported once, by name, and
skipped with everything it registered; the rest of seqlab works. ``seqlab plugins`` lists what was found.
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
