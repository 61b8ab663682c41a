"""What the recipe cards in ``conf/experiment/`` add to a run (docs/experiments.md): baselines (bag of words,
n-gram, naive forecasts), attention maps, gradient histories, training rules of published recipes, and the Hydra
callbacks that summarise a sweep when it ends (``summary``: the adding problem; ``comparison``: the encoders)."""
