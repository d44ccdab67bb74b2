"""Continuous targets (``target``): regressor heads (``heads.py``), target columns and bins
(``targets.py``), metrics and figures (``metrics.py``, ``figures.py``), and the task
(``task.py``: how a fold is fitted and scored); splits, the fold run, grids, significance and
records are classify's own."""
