"""seqlab — a plugin-based experiment pipeline for recurrent sequence models (Lightning + Hydra)."""

__version__ = "0.1.0"
