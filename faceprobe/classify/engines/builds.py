"""The heads' builds on accelerated engines (oneDAL, cuML) and on several cores of scikit-learn.

What each engine takes is stated here once, next to its build, and read by the head registry
(:mod:`..heads`): ``accepts`` names the parameter values that stay on scikit-learn because the
engine does not implement them or because they were not shown faithful to it
(tests/test_engines.py checks every accepted combination on synthetic and real faces).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .threads import thread_map
from .registry import EngineBuild

__all__ = ["ONEDAL", "CUML", "spread_svm", "spread_predict", "Cast", "Coded", "RowBlocks"]

_SVM_KERNELS = ("linear", "rbf")
_KNN_METRICS = ("cosine", "euclidean", "manhattan")


def _only(name: str, allowed: tuple, engine: str):
    def accepts(p: dict) -> str | None:
        return None if p[name] in allowed else f"{name}={p[name]} is not among the values tested faithful on {engine} ({', '.join(allowed)})"
    return accepts


ONEDAL_SVM_TOL = 1e-5
"""oneDAL's SVC stops by its own rule: at scikit-learn's tol=1e-3, and on float32 rows (kernels in
single precision), it stopped short of libsvm's solution on face vectors (5,000 training rows of
benchmarks/scale.py: 87 % of test predictions alike; float64 95.5 %; float64 at 1e-5: 100 %, and
libsvm itself is unchanged between 1e-3 and 1e-5). So oneDAL's svm runs on float64 rows at 1e-5."""


def _onedal_svm(p: dict, seed: int, cores: int):
    from sklearnex.svm import SVC

    return Cast(SVC(kernel=p["kernel"], C=float(p["C"]), gamma=p["gamma"], tol=ONEDAL_SVM_TOL, random_state=seed, n_jobs=cores),
                np.float64)


def _onedal_knn(p: dict, seed: int, cores: int):
    from sklearnex.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=int(p["k"]), weights=p["weights"], metric=p["metric"], algorithm="brute", n_jobs=cores)


def _onedal_logreg(p: dict, seed: int, cores: int):
    from sklearnex.linear_model import LogisticRegression

    return LogisticRegression(C=float(p["C"]), max_iter=int(p["max_iter"]), tol=float(p["tol"]), random_state=seed, n_jobs=cores)


ONEDAL = {
    "svm": EngineBuild(_onedal_svm, _only("kernel", _SVM_KERNELS, "onedal")),
    "knn": EngineBuild(_onedal_knn, _only("metric", _KNN_METRICS, "onedal")),
    "logreg": EngineBuild(_onedal_logreg),
}
"""oneDAL (scikit-learn-intelex) builds, by head."""


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


def _cuml_svm(p: dict, seed: int, cores: int):
    from cuml.svm import SVC

    return Coded(SVC(kernel=p["kernel"], C=float(p["C"]), gamma=p["gamma"], multiclass_strategy="ovo", output_type="numpy"))


def _cuml_knn(p: dict, seed: int, cores: int):
    from cuml.neighbors import KNeighborsClassifier

    return Coded(KNeighborsClassifier(n_neighbors=int(p["k"]), metric=p["metric"], output_type="numpy"))


def _cuml_logreg(p: dict, seed: int, cores: int):
    from cuml.linear_model import LogisticRegression

    return Coded(LogisticRegression(C=float(p["C"]), max_iter=int(p["max_iter"]), tol=float(p["tol"]), output_type="numpy"))


def _cuml_knn_accepts(p: dict) -> str | None:
    if p["weights"] != "uniform":
        return f"weights={p['weights']}: cuML's neighbours vote uniformly"
    return _only("metric", ("euclidean",), "cuml")(p)


CUML = {
    "svm": EngineBuild(_cuml_svm, _only("kernel", _SVM_KERNELS, "cuml")),
    "knn": EngineBuild(_cuml_knn, _cuml_knn_accepts),
    "logreg": EngineBuild(_cuml_logreg),
}
"""cuML builds, by head (labels coded by :class:`Coded`)."""


def spread_svm(est, cores: int):
    """scikit-learn's SVC with its one-vs-one pairs on ``cores`` threads (the same model)."""
    from .pairwise import PairwiseSVC

    return PairwiseSVC(est, n_jobs=cores)


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


def spread_predict(est, cores: int):
    """A neighbours classifier whose predictions run on ``cores`` threads over blocks of rows."""
    return RowBlocks(est, n_jobs=cores)
