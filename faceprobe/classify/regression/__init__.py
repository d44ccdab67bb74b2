"""Continuous targets (``target``): regressor heads (``heads.py``), target columns and bins
(``targets.py``), the fold runner and figures (``evaluate.py``, ``figures.py``) and the run
(``run.py``); splits, grids, significance and records are classify's own."""
