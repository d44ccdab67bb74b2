"""A dataset from arrays (or a :class:`faceprobe.Features`), for evaluating features that are not
in a cache: the same folds, heads, protocols and figures as cached features get."""

from __future__ import annotations

import numpy as np

from ...errors import OptionError
from .dataset import Dataset
from .diskrows import choose_memory

__all__ = ["dataset_from_arrays"]


def dataset_from_arrays(X, y, groups=None, *, paths=None, columns: dict | None = None, key: str = "arrays",
                        spec: dict | None = None, regression: bool = False) -> Dataset:
    """Rows to evaluate from a matrix and its labels.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels (any type; compared as text).
    groups : array-like of shape (n_samples,), optional
        Subject of each row: splits keep each subject on one side when given.
    paths : array-like of shape (n_samples,), optional
        A name per row (for predictions); row numbers by default.
    columns : dict of str -> array-like, optional
        Other per-row columns (``sequence`` for grouping or clip figures).
    key : str, default="arrays"
        The name the results give these features.
    spec : dict, optional
        What produced the numbers (provenance).
    regression : bool, default=False
        The targets are in ``columns`` (``y`` may be one value for all rows).

    Raises
    ------
    OptionError
        For mismatched lengths, non-finite values or fewer than two classes.
    """
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    if X.ndim != 2:
        raise OptionError("X", f"shape {X.shape}", "must be 2-D (n_samples, n_features)")
    n = len(X)
    y = np.asarray(y).astype(str)
    cols = {c: np.asarray(v).astype(str) for c, v in (columns or {}).items()}
    groups = np.full(n, "", dtype=object).astype(str) if groups is None else np.asarray(groups).astype(str)
    for name, values in (("y", y), ("groups", groups), *cols.items()):
        if len(values) != n:
            raise OptionError(name, f"{len(values)} values", f"X has {n} rows; give one value per row")
    if not np.isfinite(X).all():
        raise OptionError("X", f"{int((~np.isfinite(X).all(axis=1)).sum())} rows", "hold NaN or infinite values; drop or impute them")
    if len(set(y)) < 2 and not regression:
        raise OptionError("y", ",".join(sorted(set(y))), "need at least two classes to classify")
    paths = np.asarray([str(i) for i in range(n)] if paths is None else paths).astype(str)
    cols.setdefault("subject", groups)
    return Dataset(key=key, X=X, y=y, groups=groups, sha256=paths, paths=paths, spec=spec or {"source": "arrays"},
                   memory=choose_memory(n, X.shape[1]), columns=cols)
