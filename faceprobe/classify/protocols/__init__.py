"""Evaluation protocols: k-fold, grouped k-fold, leave-one-subject-out and holdout splits
(``splits.py``), and fixed splits by a column (``fixed.py``)."""
