"""Adds the config folders of seqlab plugins to Hydra's search path (discovered by Hydra's plugin loader)."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SeqlabPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from seqlab.plugins import plugin_conf_dirs

        for folder in plugin_conf_dirs():
            search_path.append(provider="seqlab-plugin", path=f"file://{folder}")
