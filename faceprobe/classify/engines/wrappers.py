"""Estimators behind scikit-learn's interface with something done on the way in or out: rows cast
for oneDAL (:class:`Cast`), class codes for cuML (:class:`Coded`), predictions over blocks of rows
on several threads (:class:`RowBlocks`). Saved models name these classes by this module."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .threads import thread_map

__all__ = ["Cast", "Coded", "RowBlocks"]


class _Wrapper(ClassifierMixin, BaseEstimator):
    """An estimator behind scikit-learn's interface with something done on the way in or out
    (``_call``): parameters other than the wrapper's own (``_own``) go to the estimator, and it
    has ``decision_function`` or ``predict_proba`` exactly where the estimator has them."""

    _own = ("estimator",)

    def set_params(self, **params):
        super().set_params(**{k: v for k, v in params.items() if k in self._own})
        inner = {k: v for k, v in params.items() if k not in self._own}
        if inner:
            self.estimator.set_params(**inner)
        return self

    def _call(self, method: str, X):
        return getattr(self.estimator, method)(X)

    def predict(self, X):
        return self._call("predict", X)

    def __getattr__(self, name):
        if name in ("decision_function", "predict_proba") and "estimator" in self.__dict__ and hasattr(self.estimator, name):
            return lambda X: self._call(name, X)
        raise AttributeError(name)


class Cast(_Wrapper):
    """An estimator that gets its rows as ``dtype`` (oneDAL computes in the precision it is given)."""

    _own = ("estimator", "dtype")

    def __init__(self, estimator=None, dtype=np.float64):
        self.estimator = estimator
        self.dtype = dtype

    def fit(self, X, y, **kwargs):
        self.estimator.fit(np.asarray(X, dtype=self.dtype), y, **kwargs)
        self.classes_ = self.estimator.classes_
        return self

    def _call(self, method: str, X):
        return getattr(self.estimator, method)(np.asarray(X, dtype=self.dtype))


class Coded(_Wrapper):
    """A GPU estimator that takes class codes (cuML) behind scikit-learn's interface: text labels
    are coded 0..k-1 for it, and its predictions and scores come back as host numpy arrays."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def set_params(self, **params):
        if isinstance(params.get("class_weight"), dict):
            raise ValueError("class weights by label are not passed to a coded estimator; use 'balanced'")
        return super().set_params(**params)

    def fit(self, X, y, sample_weight=None):
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        kwargs = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight, dtype=np.float32)}
        self.estimator.fit(np.ascontiguousarray(X, dtype=np.float32), codes.astype(np.int32), **kwargs)
        return self

    def _call(self, method: str, X):
        out = getattr(self.estimator, method)(np.ascontiguousarray(X, dtype=np.float32))
        for attr in ("to_numpy", "get"):  # cudf / cupy
            if hasattr(out, attr):
                out = getattr(out, attr)()
        return np.asarray(out)

    def predict(self, X):
        return self.classes_[self._call("predict", X).astype(np.int64)]


class RowBlocks(_Wrapper):
    """A fitted-per-row predictor (neighbours) whose predictions run over fixed blocks of rows
    on ``n_jobs`` threads: each row's answer is computed alone, so results equal the estimator's."""

    BLOCK = 256
    _own = ("estimator", "n_jobs")

    def __init__(self, estimator=None, n_jobs: int = 1):
        self.estimator = estimator
        self.n_jobs = n_jobs

    def fit(self, X, y, **kwargs):
        self.estimator.fit(X, y, **kwargs)
        self.classes_ = self.estimator.classes_
        return self

    def _call(self, method: str, X):
        fn = getattr(self.estimator, method)
        parts = thread_map(lambda s: fn(X[s:s + self.BLOCK]), range(0, len(X), self.BLOCK), self.n_jobs)
        return np.concatenate(parts) if parts else fn(X)
