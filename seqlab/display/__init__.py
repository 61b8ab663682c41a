"""What a person sees of a run: the quiet console and its log (:mod:`~seqlab.display.console`), the run's lines and
progress bar (:mod:`~seqlab.display.progress`), and token ids as readable text (:mod:`~seqlab.display.readable`)."""
