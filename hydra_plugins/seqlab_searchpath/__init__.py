"""Adds the config folders of seqlab plugins to Hydra's search path, and seqlab's component options (defined once,
in :mod:`seqlab.schema`) to Hydra's ConfigStore (Hydra finds this through ``hydra_plugins``).

It acts only when the primary config folder is seqlab's own, so other Hydra apps in the same environment are left
alone. Plugin folders come after seqlab's; :mod:`seqlab.plugins` has already refused any that would shadow an option.
"""

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from seqlab.paths import conf_dir


class SeqlabPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        seqlab_conf = str(conf_dir())
        if not any(
            element.provider == "main" and element.path.removeprefix("file://").rstrip("/") == seqlab_conf
            for element in search_path.get_path()
            if element.path
        ):
            return
        from seqlab import schema
        from seqlab.plugins import plugin_conf_dirs

        schema.store()
        for folder in plugin_conf_dirs():
            search_path.append(provider="seqlab-plugin", path=f"file://{Path(folder).resolve()}")
