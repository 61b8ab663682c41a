"""seqlab — a plugin-based experiment pipeline for recurrent sequence models (Lightning + Hydra).

In a script or a notebook, ``seqlab.load_plugins()`` imports the installed plugins and ``./plugins/`` once, as the
command line does before it composes a config, so their cells, heads and datamodules are known by name::

    import seqlab
    from seqlab.cells import Recurrent

    seqlab.load_plugins()
    encoder = Recurrent("janet", input_size=8, hidden_size=16)
"""

from seqlab.plugins import load_plugins

__version__ = "0.1.0"
__all__ = ["load_plugins"]
