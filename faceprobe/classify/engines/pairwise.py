"""A multi-class SVC whose one-vs-one pairs train on several threads: scikit-learn's model, every core busy.

libsvm, under scikit-learn's ``SVC``, trains one binary machine per pair of classes, one pair
after another on one core. :class:`PairwiseSVC` trains the same binary problems (the two
classes' rows in their order, the same C, class weights and gamma resolved on all rows) on
``n_jobs`` threads (libsvm releases the GIL), then predicts as libsvm does: each pair votes,
the first class with most votes wins, and ``decision_function`` is scikit-learn's one-vs-rest
transform of the pairwise values. The kernel between test rows and the support vectors is
computed once for all pairs, in float64 blocks of test rows (libsvm recomputes it per row and
pair). Blocks are fixed in size, so results do not depend on ``n_jobs``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from .threads import thread_map

__all__ = ["PairwiseSVC", "BLOCK_ROWS", "resolved_gamma"]

BLOCK_ROWS = 512
"""Test rows per kernel block (about 512 x support vectors x 8 bytes each)."""


def resolved_gamma(gamma, X: np.ndarray) -> float:
    """``gamma`` as ``SVC.fit`` resolves it on the training rows: scale = 1 / (d var X), auto = 1 / d."""
    if gamma == "scale":
        var = X.var()
        return 1.0 / (X.shape[1] * var) if var != 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    return float(gamma)


def _class_weights(svc, classes: np.ndarray, y: np.ndarray) -> dict | None:
    if svc.class_weight is None:
        return None
    from sklearn.utils.class_weight import compute_class_weight

    w = compute_class_weight(svc.class_weight, classes=classes, y=y)
    return dict(zip(classes, w))


class PairwiseSVC(ClassifierMixin, BaseEstimator):
    """``SVC`` with its one-vs-one pairs fitted on ``n_jobs`` threads (same model, see the module).

    Parameters
    ----------
    svc : sklearn.svm.SVC
        The unfitted machine whose parameters every pair uses.
    n_jobs : int, default=1
        Threads for the pairs and for the blocks of test rows.
    """

    def __init__(self, svc=None, n_jobs: int = 1):
        self.svc = svc
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        """Fit every pair of classes (a two-class problem is one plain ``SVC``)."""
        precomputed = self.svc.kernel == "precomputed"
        X = np.asarray(X, dtype=np.float64, order="C")
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 3:
            self.single_ = clone(self.svc).fit(X, y, sample_weight=sample_weight)
            return self
        self.single_ = None
        gamma = None if precomputed else resolved_gamma(self.svc.gamma, X)
        weights = _class_weights(self.svc, self.classes_, y)
        pairs = [(i, j) for i in range(len(self.classes_)) for j in range(i + 1, len(self.classes_))]

        def one(pair):
            ci, cj = self.classes_[pair[0]], self.classes_[pair[1]]
            rows = np.flatnonzero((y == ci) | (y == cj))
            est = clone(self.svc).set_params(class_weight=None if weights is None else {ci: weights[ci], cj: weights[cj]})
            if gamma is not None:
                est.set_params(gamma=gamma)
            sub = X[np.ix_(rows, rows)] if precomputed else X[rows]
            est.fit(sub, y[rows], sample_weight=None if sample_weight is None else np.asarray(sample_weight)[rows])
            # libsvm's sign: positive values vote for the pair's first class (scikit-learn's binary
            # decision_function, K c + b, is positive for its second): value = K (-c) - b
            return rows[est.support_], -est.dual_coef_[0], float(est.intercept_[0])

        fitted = thread_map(one, pairs, self.n_jobs)
        support = np.unique(np.concatenate([s for s, _, _ in fitted]))
        self.pairs_ = pairs
        self.support_ = support  # rows of the training matrix that are a support vector of some pair
        self.pair_support_ = [np.searchsorted(support, s) for s, _, _ in fitted]
        self.pair_coef_ = [c for _, c, _ in fitted]
        self.pair_intercept_ = np.array([b for _, _, b in fitted])
        self.support_vectors_ = None if precomputed else X[support]
        self.gamma_ = gamma
        return self

    def _kernel(self, Xb: np.ndarray) -> np.ndarray:
        """Kernel between a block of rows and the support vectors (float64)."""
        if self.svc.kernel == "precomputed":
            return Xb[:, self.support_]
        sv = self.support_vectors_
        dot = Xb @ sv.T
        kernel, g = self.svc.kernel, self.gamma_
        if kernel == "linear":
            return dot
        if kernel == "rbf":
            sq = np.einsum("ij,ij->i", Xb, Xb)[:, None] + np.einsum("ij,ij->i", sv, sv)[None, :] - 2.0 * dot
            return np.exp(-g * sq)
        if kernel == "poly":
            return (g * dot + self.svc.coef0) ** self.svc.degree
        if kernel == "sigmoid":
            return np.tanh(g * dot + self.svc.coef0)
        raise ValueError(f"kernel {kernel!r} is not one of linear, poly, rbf, sigmoid, precomputed")

    def pairwise_decision(self, X) -> np.ndarray:
        """libsvm's one-vs-one values, shape (n, pairs): positive votes for the pair's first class."""
        X = np.asarray(X, dtype=np.float64, order="C")

        def block(start):
            k = self._kernel(X[start:start + BLOCK_ROWS])
            return np.stack([k[:, s] @ c for s, c in zip(self.pair_support_, self.pair_coef_)], axis=1) - self.pair_intercept_

        return np.concatenate(thread_map(block, range(0, len(X), BLOCK_ROWS), self.n_jobs) or [np.zeros((0, len(self.pairs_)))])

    def decision_function(self, X) -> np.ndarray:
        """As ``SVC.decision_function`` (one-vs-rest shape)."""
        if self.single_ is not None:
            return self.single_.decision_function(X)
        from sklearn.utils.multiclass import _ovr_decision_function

        dec = self.pairwise_decision(X)
        return _ovr_decision_function(dec < 0, -dec, len(self.classes_))

    def predict(self, X) -> np.ndarray:
        """As libsvm predicts: each pair votes, the first class with most votes wins."""
        if self.single_ is not None:
            return self.single_.predict(X)
        dec = self.pairwise_decision(X)
        votes = np.zeros((len(dec), len(self.classes_)), dtype=np.int64)
        for p, (i, j) in enumerate(self.pairs_):
            first = dec[:, p] > 0
            votes[first, i] += 1
            votes[~first, j] += 1
        return self.classes_[np.argmax(votes, axis=1)]
