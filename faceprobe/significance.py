"""Is a difference real? Paired tests of grid cells against the best one, Holm-adjusted.

* Corrected resampled t-test (Nadeau and Bengio, 2003) over the paired folds and repeats of
  a cross-validation: the variance of the fold differences is inflated by ``n_test / n_train``
  because training sets overlap, which the plain paired t-test ignores (it finds far too many
  "significant" differences).
* McNemar's exact test on the pooled predictions of a single holdout (one split): the folds
  give nothing to average over, so the test compares the images one cell gets right and the
  other wrong.
* For continuous targets on a single split, Wilcoxon's signed-rank test on the paired absolute
  errors of the two cells' predictions of the same test images.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["corrected_t_test", "mcnemar_test", "wilcoxon_errors", "holm"]


def corrected_t_test(a: np.ndarray, b: np.ndarray, test_train_ratio: float) -> float:
    """Two-sided p-value that paired fold scores ``a`` and ``b`` have the same mean.

    Parameters
    ----------
    a, b : ndarray of shape (n_folds,)
        Scores of two cells on the same folds (all repeats).
    test_train_ratio : float
        Mean ``n_test / n_train`` of the folds (1 / (k - 1) for k-fold CV).

    Returns
    -------
    float
        1.0 when the differences are all zero; 0.0 when they are all equal and not zero.
    """
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    if n < 2:
        return float("nan")
    mean, var = d.mean(), d.var(ddof=1)
    if var == 0:
        return 1.0 if mean == 0 else 0.0
    t = mean / math.sqrt((1.0 / n + test_train_ratio) * var)
    return float(2 * stats.t.sf(abs(t), df=n - 1))


def mcnemar_test(a_correct: np.ndarray, b_correct: np.ndarray) -> float:
    """Exact two-sided McNemar p-value from per-image correctness of two cells on the same test set."""
    from scipy import stats

    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    only_a = int(np.sum(a_correct & ~b_correct))
    only_b = int(np.sum(~a_correct & b_correct))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)


def wilcoxon_errors(a_abs_error: np.ndarray, b_abs_error: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value that two cells' absolute errors on the same test images
    do not differ (1.0 when they are all equal)."""
    from scipy import stats

    d = np.asarray(a_abs_error, float) - np.asarray(b_abs_error, float)
    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error), in the input order; NaN stays NaN."""
    p = np.asarray(pvalues, float)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
