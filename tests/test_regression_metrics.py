"""Figures of continuous predictions (issue 26, its metrics): checked on published and hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from faceprobe.classify.regression.metrics import REGRESSION_METRICS, ccc, icc_3_1, regression_figures

# Shrout and Fleiss (1979), Table 2: 6 targets rated by 4 judges; they report ICC(3,1) = 0.71
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_icc_3_1_reproduces_shrout_and_fleiss():
    assert icc_3_1(SHROUT_FLEISS) == pytest.approx(0.715, abs=0.001)


def test_ccc_falls_for_a_shift_that_pearson_does_not_see():
    y = np.array([1.0, 2.0, 3.0])
    assert ccc(y, y) == pytest.approx(1.0)
    assert ccc(y, y + 1) == pytest.approx(4 / 7)  # 2 * (2/3) / (2/3 + 2/3 + 1), worked by hand
    figures = regression_figures(y, y + 1)
    assert figures["pearson_r"] == pytest.approx(1.0) and figures["mae"] == 1.0 and figures["rmse"] == 1.0


def test_figures_equal_scipy_and_sklearn_on_noisy_predictions():
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    rng = np.random.default_rng(0)
    y = rng.uniform(0, 16, 200)
    p = 0.7 * y + rng.normal(0, 2, 200) + 1
    f = regression_figures(y, p)
    assert f["mae"] == pytest.approx(mean_absolute_error(y, p)) and f["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert f["pearson_r"] == pytest.approx(stats.pearsonr(y, p)[0]) and f["spearman_rho"] == pytest.approx(stats.spearmanr(y, p)[0])
    assert -1 <= f["ccc"] < f["pearson_r"]  # scaled and shifted: less concordant than correlated
    assert set(f) == set(REGRESSION_METRICS)


def test_constant_predictions_give_undefined_correlations_not_errors():
    f = regression_figures(np.array([1.0, 2.0, 3.0]), np.full(3, 2.0))
    assert math.isnan(f["pearson_r"]) and math.isnan(f["spearman_rho"]) and f["mae"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        regression_figures(np.zeros(3), np.zeros(4))
