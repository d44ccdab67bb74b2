"""Per-subject normalisation (``--normalize subject``): each subject's vectors z-scored with that
subject's own mean and standard deviation, labels unused, as pain-recognition work does to
remove a person's baseline.

Caveat (docs/evaluation.md): the statistics of a test subject come from all of that subject's
rows, test rows included. No label and nothing of another subject is used, so subject-grouped
evaluation does not leak across people; but the protocol is transductive: a model used this
way needs several unlabelled images of each new person before it can predict.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import OptionError

__all__ = ["normalize_within", "NORMALIZE_EPS", "MIN_ROWS"]

NORMALIZE_EPS = 1e-6
"""Added to each standard deviation (a constant feature stays finite: 0)."""

MIN_ROWS = 2
"""A subject needs this many rows to have a standard deviation; subjects with fewer are left out."""


def _stats(X: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = X[idx].astype(np.float64)
    return rows.mean(0), rows.std(0) + NORMALIZE_EPS


def normalize_within(ds, column: str = "subject"):
    """The dataset with every row z-scored within its ``column`` value (views with the same
    statistics as their original rows); values with fewer than ``MIN_ROWS`` rows are left out,
    with a note.

    Raises
    ------
    OptionError
        When the column is unknown, a row has no value, or the features stay on disk.
    """
    from .diskrows import DiskMatrix

    if column not in ds.columns:
        raise OptionError("normalize", column, f"not none or a column; the cache has: {', '.join(ds.columns)}")
    values = np.asarray(ds.columns[column]).astype(str)
    if (values == "").any():
        raise OptionError("normalize", column, f"{int((values == '').sum())} images have no {column}; give every image one, or use none")
    if isinstance(ds.X, DiskMatrix) or any(isinstance(v, DiskMatrix) for v in ds.views.values()):
        raise OptionError("normalize", column, "needs the features in memory; raise `max_memory`")
    names, counts = np.unique(values, return_counts=True)
    small = set(names[counts < MIN_ROWS])
    notes: list[str] = []
    if len(small) == len(names):
        raise OptionError("normalize", column, f"every {column} value has fewer than {MIN_ROWS} images: no spread to normalise "
                                               "by; give several images per person, or use none")
    if small:
        keep = ~np.isin(values, list(small))
        ds = ds.subset(np.flatnonzero(keep))
        values = values[keep]
        notes.append(f"`normalize={column}`: left out {len(small)} {column} values with fewer than {MIN_ROWS} images "
                     "(no spread to normalise by)")
    X = np.empty_like(ds.X, dtype=np.float32)
    views = {v: np.empty_like(m, dtype=np.float32) for v, m in ds.views.items()}
    for name in np.unique(values):
        idx = np.flatnonzero(values == name)
        mean, std = _stats(ds.X, idx)
        X[idx] = (ds.X[idx] - mean) / std
        for v, m in ds.views.items():
            views[v][idx] = (m[idx] - mean) / std  # NaN rows (no view) stay NaN
    notes.append(f"`normalize={column}`: each of {len(np.unique(values))} {column} values z-scored with its own images "
                 "(labels unused; transductive, see docs/evaluation.md)")
    return replace(ds, X=X, views=views, notes=[*ds.notes, *notes])
