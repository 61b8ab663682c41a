"""Helpers of the recipe cards in ``conf/experiment/``: baselines, attention maps, gradient histories, sweep summaries.

- :class:`~seqlab.experiments.callbacks.BagOfWordsBaseline` — a logistic regression on word counts, trained at the
  end of fit on the same data, reported as ``baseline/bow_val_accuracy`` (``tweet_sentiment``);
- :class:`~seqlab.experiments.callbacks.AttentionMapsCallback` — attention heat maps of a few validation examples
  (``date_translation``);
- :class:`~seqlab.experiments.callbacks.GradientHistoryCallback` — the gradient-flow callback's curves as JSON in
  the run folder (``vanishing_gradients``);
- :class:`~seqlab.experiments.summary.AddingSweepSummary` — a Hydra callback that, when the adding-problem sweep ends,
  writes the table (success over seeds, MSE with a t-interval) and plots of which cells learned at which length and
  how far back the last step's gradient reached (``vanishing_gradients``);
- :class:`~seqlab.experiments.comparison.EncoderComparisonSummary` — a Hydra callback that writes ``comparison.md``
  (one row per encoder, one column per data set) when the encoder comparison sweep ends (``why_recurrence``).
"""
