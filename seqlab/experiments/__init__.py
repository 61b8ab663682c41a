"""What the recipe cards in ``conf/experiment/`` add to a run (docs/experiments.md): baselines, attention maps,
gradient histories, rules of published recipes, and Hydra callbacks that summarise a sweep when it ends."""
