"""Figures of continuous predictions (pain intensity, valence, arousal) as those fields report them.

MAE and RMSE (lower is better); Pearson's r, Spearman's rho, the intraclass correlation ICC(3,1)
and Lin's concordance correlation coefficient CCC (higher is better). Pain-intensity work (UNBC-
McMaster, PSPI) reports MAE, RMSE, r and ICC; valence and arousal work (AffectNet, Aff-Wild2)
reports CCC, which, unlike r, falls when predictions are shifted or scaled away from the truth.

This module computes them; classify's ``target`` option (:mod:`faceprobe.classify.regression`) reports them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["REGRESSION_METRICS", "regression_figures", "icc_3_1", "ccc"]

REGRESSION_METRICS = {"mae": "lower", "rmse": "lower", "pearson_r": "higher", "spearman_rho": "higher", "icc_3_1": "higher",
                      "ccc": "higher"}
"""Each figure and which direction is better (what a grid's "best" and its tests must follow)."""


def icc_3_1(ratings: np.ndarray) -> float:
    """ICC(3,1) of Shrout and Fleiss (1979): two-way mixed effects, consistency, single rater.

    Parameters
    ----------
    ratings : ndarray of shape (n_targets, k_raters)
        For predictions, two columns: the true values and the predicted ones.

    Returns
    -------
    float
        ``(MS_rows - MS_error) / (MS_rows + (k - 1) MS_error)``; NaN when undefined (fewer than
        two targets, or a rater whose values are all alike: a test fold of one true value).
    """
    x = np.asarray(ratings, dtype=np.float64)
    n, k = x.shape
    if n < 2 or k < 2 or (np.ptp(x, axis=0) == 0).any():  # a constant rater: consistency is not defined
        return float("nan")
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows, ms_error = ss_rows / (n - 1), ss_error / ((n - 1) * (k - 1))
    denom = ms_rows + (k - 1) * ms_error
    return float((ms_rows - ms_error) / denom) if denom > 0 else float("nan")


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (population moments):
    ``2 cov / (var_true + var_pred + (mean_true - mean_pred)^2)``; NaN when undefined (fewer
    than two values, or a side whose values are all alike: the coefficient is then 0 whatever the
    other side holds)."""
    a, b = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:  # one side constant: 0 whatever the predictions, so undefined
        return float("nan")
    cov = ((a - a.mean()) * (b - b.mean())).mean()
    denom = a.var() + b.var() + (a.mean() - b.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def regression_figures(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Every figure of :data:`REGRESSION_METRICS` for one set of predictions (a fold, or pooled).

    Correlations are NaN (not an error) when either side is constant, as they are undefined.
    """
    from scipy import stats

    a, b = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {a.shape} and {b.shape}")
    err = b - a
    varied = len(a) >= 2 and a.std() > 0 and b.std() > 0
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "pearson_r": float(stats.pearsonr(a, b)[0]) if varied else float("nan"),
        "spearman_rho": float(stats.spearmanr(a, b)[0]) if varied else float("nan"),
        "icc_3_1": icc_3_1(np.column_stack([a, b])),
        "ccc": ccc(a, b),
    }
