"""A run, from the command line to its folder: composing and checking the config (:mod:`~seqlab.run.compose`,
:mod:`~seqlab.run.validation`, :mod:`~seqlab.run.preflight`) and the Hydra job with its exit-code policy
(:mod:`~seqlab.run.job`)."""
