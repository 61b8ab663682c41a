"""The tests' shared helpers, one package (``pythonpath = ["tests"]`` puts it on the path): ``runs`` (the CLI in a
subprocess, TINY/SHORT settings, run folders), ``warm_python`` (forking runs from a warm interpreter), ``terminal``
(a run on a pseudo-terminal), ``cells`` (cell builders and paths), ``data`` (prepared datamodules) and ``hub``
(copies laid out exactly like the Hugging Face hub's datasets)."""
