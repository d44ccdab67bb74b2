"""The heads' builds on accelerated engines (oneDAL, cuML) and on several cores of scikit-learn.

Nothing here imports scikit-learn: the head registry reads these tables when it is imported
(the API's signatures list the heads), and the wrappers the builds return live in
:mod:`.wrappers`, imported when a build runs.

What each engine takes is stated here once, next to its build, and read by the head registry
(:mod:`..heads`): ``accepts`` names the parameter values that stay on scikit-learn because the
engine does not implement them or because they were not shown faithful to it
(tests/test_engines.py checks every accepted combination on synthetic and real faces).
"""

from __future__ import annotations

import numpy as np

from .registry import EngineBuild

__all__ = ["ONEDAL", "CUML", "spread_svm", "spread_predict"]

_WRAPPERS = ("Cast", "Coded", "RowBlocks")


def __getattr__(name: str):
    """The wrappers by their old place, for models saved before they moved to :mod:`.wrappers`
    (skops finds a class by module and name)."""
    if name in _WRAPPERS:
        from . import wrappers

        return getattr(wrappers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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

    from .wrappers import Cast

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


def _cuml_svm(p: dict, seed: int, cores: int):
    from cuml.svm import SVC

    from .wrappers import Coded

    return Coded(SVC(kernel=p["kernel"], C=float(p["C"]), gamma=p["gamma"], multiclass_strategy="ovo", output_type="numpy"))


def _cuml_knn(p: dict, seed: int, cores: int):
    from cuml.neighbors import KNeighborsClassifier

    from .wrappers import Coded

    return Coded(KNeighborsClassifier(n_neighbors=int(p["k"]), metric=p["metric"], output_type="numpy"))


def _cuml_logreg(p: dict, seed: int, cores: int):
    from cuml.linear_model import LogisticRegression

    from .wrappers import Coded

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


def spread_predict(est, cores: int):
    """A neighbours classifier whose predictions run on ``cores`` threads over blocks of rows."""
    from .wrappers import RowBlocks

    return RowBlocks(est, n_jobs=cores)
