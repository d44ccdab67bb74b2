"""Fit and predict heads on a fold, reusing one distance matrix across hyperparameters.

For svm and knn, the pairwise squared distances (and dot products) of a fold's rows are
computed once in float64; every gamma, C, k and every inner-CV subset then reads a block of
them, instead of libsvm or the neighbour search recomputing them per fit. Heads carry these
functions as their ``precomputed`` capability (see :mod:`.heads`); other heads, and folds too
large for an n x n matrix, take the plain scikit-learn path.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FoldMatrices", "svm_precomputed", "knn_precomputed", "MAX_ROWS"]

from ..data.diskrows import MAX_ROWS
RBF_CACHE_ROWS, RBF_CACHE_SIZE = 4000, 4
"""Folds up to this many rows keep the rbf kernel of their last 4 gammas (at most 4 x 128 MB)."""


class FoldMatrices:
    """A fold's rows (training first, then test) and lazily computed pairwise matrices.

    The rows are kept as given (float32, training and test apart, no stacked copy); the float64
    copy that the pairwise matrices are computed from is made only when one is asked for, which
    happens only for folds of at most :data:`MAX_ROWS` rows.

    Parameters
    ----------
    Xtr, Xte : ndarray of shape (n_train, d), (n_test, d)
    stands_for : int, optional
        The fold size whose choices these rows make (which matrices are kept): a calibration
        sample of a larger run's fold takes the paths that fold takes. 0: its own size.
    """

    def __init__(self, Xtr: np.ndarray, Xte: np.ndarray, stands_for: int = 0):
        import threading

        self.size = max(len(Xtr) + len(Xte), stands_for)
        """Rows the size-dependent choices are made for."""
        self.Xtr, self.Xte = Xtr.astype(np.float32, copy=False), Xte.astype(np.float32, copy=False)
        self.n_train = len(Xtr)
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.RLock()  # inner-CV candidates may fit on several threads

    def __len__(self) -> int:
        return self.n_train + len(self.Xte)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Float32 rows at positions ``idx`` (training rows first, then test rows); all the
        training rows in order are the training matrix itself, not a copy."""
        idx = np.asarray(idx)
        if len(idx) == self.n_train and (not len(idx) or (idx[0] == 0 and (np.diff(idx) == 1).all())):
            return self.Xtr
        if not len(idx) or idx.max() < self.n_train:
            return self.Xtr[idx]
        if idx.min() >= self.n_train:
            return self.Xte[idx - self.n_train]
        return np.vstack([self.Xtr, self.Xte])[idx]

    def rows64(self, idx: np.ndarray) -> np.ndarray:
        """The rows at ``idx`` in float64."""
        return self.rows(idx).astype(np.float64)

    @property
    def enabled(self) -> bool:
        return self.size <= MAX_ROWS

    def gram(self) -> np.ndarray:
        with self._lock:
            if "gram" not in self._cache:
                X = np.vstack([self.Xtr, self.Xte]).astype(np.float64)
                self._cache["gram"] = X @ X.T
            return self._cache["gram"]

    def sqdist(self) -> np.ndarray:
        with self._lock:
            return self._sqdist()

    def _sqdist(self) -> np.ndarray:
        if "sqdist" not in self._cache:
            g = self.gram()
            sq = np.diag(g)
            d = sq[:, None] + sq[None, :] - 2.0 * g
            np.maximum(d, 0.0, out=d)
            np.fill_diagonal(d, 0.0)
            self._cache["sqdist"] = d
        return self._cache["sqdist"]

    def rbf(self, gamma: float) -> np.ndarray | None:
        """``exp(-gamma * sqdist)`` over all rows, kept for the few most recent gammas so that every C
        and inner-CV split of a fold reads it; None for folds too large to keep such copies."""
        if self.size > RBF_CACHE_ROWS:
            return None
        with self._lock:
            cache = self._cache.setdefault("rbf", {})
            if gamma not in cache:
                if len(cache) >= RBF_CACHE_SIZE:
                    del cache[next(iter(cache))]
                cache[gamma] = np.exp(-gamma * self.sqdist())
            return cache[gamma]

    def cosdist(self) -> np.ndarray:
        with self._lock:
            return self._cosdist()

    def _cosdist(self) -> np.ndarray:
        if "cosdist" not in self._cache:
            g = self.gram()
            norm = np.sqrt(np.maximum(np.diag(g), 1e-300))
            d = 1.0 - g / norm[:, None] / norm[None, :]
            np.maximum(d, 0.0, out=d)
            self._cache["cosdist"] = d
        return self._cache["cosdist"]


def _svm_kernel(m: FoldMatrices, p: dict, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if p["kernel"] == "linear":
        return m.gram()[np.ix_(rows, cols)]
    full = m.rbf(p["_gamma"])
    if full is not None:  # the same numbers: exp is taken element by element either way
        return full[np.ix_(rows, cols)]
    return np.exp(-p["_gamma"] * m.sqdist()[np.ix_(rows, cols)])


def svm_precomputed(p: dict, m: FoldMatrices, tr: np.ndarray, te: np.ndarray, y_fit: np.ndarray, seed: int,
                    fit_kwargs: dict, est_params: dict, *, cores: int = 1):
    """svm on a precomputed kernel read from the fold's matrices; None where that does not apply.

    ``p`` holds every parameter of the head (defaults merged). Returns ``(estimator, pred,
    decision values)`` equal to scikit-learn's own SVC on the rows (tested); with ``cores`` > 1
    its one-vs-one pairs train on that many threads (the same model).
    """
    from sklearn.svm import SVC

    from ..engines.pairwise import PairwiseSVC, resolved_gamma
    from .votes import libsvm_vote

    if not m.enabled or p["kernel"] not in ("rbf", "linear"):
        return None
    p = {**p, "_gamma": resolved_gamma(p["gamma"], m.rows64(tr))}
    est = SVC(kernel="precomputed", C=float(p["C"]), random_state=seed, **est_params)
    if cores > 1:
        est = PairwiseSVC(est, n_jobs=cores)
    est.fit(_svm_kernel(m, p, tr, tr), y_fit, **fit_kwargs)
    dec = est.decision_function(_svm_kernel(m, p, te, tr))  # predictions read off it: one libsvm pass, not two
    return est, libsvm_vote(est.classes_, dec), dec


def knn_precomputed(p: dict, m: FoldMatrices, tr: np.ndarray, te: np.ndarray, y_fit: np.ndarray, seed: int,
                    fit_kwargs: dict, est_params: dict, *, cores: int = 1):
    """knn on precomputed euclidean or cosine distances; None where that does not apply."""
    from sklearn.neighbors import KNeighborsClassifier

    from ..engines.wrappers import RowBlocks
    from .votes import first_most_probable

    if not m.enabled or p["metric"] not in ("euclidean", "cosine"):
        return None
    d = np.sqrt(m.sqdist()) if p["metric"] == "euclidean" else m.cosdist()
    est = KNeighborsClassifier(n_neighbors=int(p["k"]), weights=p["weights"], metric="precomputed")
    if cores > 1:
        est = RowBlocks(est, n_jobs=cores)
    est.fit(d[np.ix_(tr, tr)], y_fit)
    d_te = d[np.ix_(te, tr)]
    proba = est.predict_proba(d_te)  # predictions read off it: one neighbour search, not two
    return est, first_most_probable(est.classes_, proba), proba
