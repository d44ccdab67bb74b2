"""Fitting heads on folds: the fold layer (``folds.py``: training rows, balancing, views, the fitted
scaler and PCA, inner-CV choice, the fit itself) and the measured choice of each head's engine
(``calibrate.py``), which times folds made by that layer."""
