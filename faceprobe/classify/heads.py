"""Classifier heads: a registry of scikit-learn estimators with their tunable parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import FaceprobeError

__all__ = ["HEADS", "HeadSpec", "make_head", "parse_params", "head_names"]


@dataclass(frozen=True)
class HeadSpec:
    """A head: how to build it and which ``--param`` names it takes.

    Attributes
    ----------
    build : callable (params: dict, seed: int) -> estimator
    defaults : dict
        Parameter values used when ``--param`` does not set them.
    description : str
    """

    build: Callable[[dict, int], object]
    defaults: dict = field(default_factory=dict)
    description: str = ""


def _svm(p: dict, seed: int):
    from sklearn.svm import SVC

    return SVC(kernel=p["kernel"], C=float(p["C"]), gamma=p["gamma"], random_state=seed)


def _knn(p: dict, seed: int):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=int(p["k"]), weights=p["weights"], metric=p["metric"])


def _logreg(p: dict, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=float(p["C"]), max_iter=int(p["max_iter"]), tol=float(p["tol"]), random_state=seed)


def _mlp(p: dict, seed: int):
    from sklearn.neural_network import MLPClassifier

    sizes = tuple(int(s) for s in str(p["hidden"]).split("-"))
    return MLPClassifier(hidden_layer_sizes=sizes, alpha=float(p["alpha"]), max_iter=int(p["max_iter"]),
                         early_stopping=True, random_state=seed)


def _dnn(p: dict, seed: int):
    """The dense head of published pain-recognition work: 256 ReLU units, Adam, batch 32, 25 epochs."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # a fixed epoch budget is the protocol
    return MLPClassifier(hidden_layer_sizes=(int(p["hidden"]),), solver="adam", batch_size=int(p["batch"]),
                         max_iter=int(p["epochs"]), learning_rate_init=float(p["lr"]), alpha=float(p["alpha"]),
                         n_iter_no_change=int(p["epochs"]) + 1, tol=0.0, random_state=seed)


HEADS: dict[str, HeadSpec] = {
    "dnn": HeadSpec(_dnn, {"hidden": 256, "batch": 32, "epochs": 25, "lr": 0.001, "alpha": 0.0001}, "one 256-unit hidden layer, Adam, batch 32, 25 epochs"),
    "knn": HeadSpec(_knn, {"k": 5, "weights": "uniform", "metric": "euclidean"}, "k nearest neighbours (euclidean or cosine)"),
    "logreg": HeadSpec(_logreg, {"C": 1.0, "max_iter": 2000, "tol": 0.0001}, "multinomial logistic regression (lbfgs)"),
    "mlp": HeadSpec(_mlp, {"hidden": "256", "alpha": 0.0001, "max_iter": 200}, "scikit-learn MLP with early stopping"),
    "svm": HeadSpec(_svm, {"kernel": "rbf", "C": 1.0, "gamma": "scale"}, "support vector machine (rbf or linear)"),
}


def head_names(head: str) -> list[str]:
    """``all`` -> every head (sorted); otherwise a checked, comma-separated list."""
    names = sorted(HEADS) if head == "all" else [h.strip() for h in head.split(",") if h.strip()]
    for h in names:
        if h not in HEADS:
            raise FaceprobeError(f"unknown head {h!r}; choose from: {', '.join(sorted(HEADS))}, all")
    return names


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_params(specs: tuple[str, ...] | list[str]) -> dict[str, list]:
    """``["C=0.1,1,10", "gamma=scale,0.01"]`` -> {"C": [0.1, 1, 10], "gamma": ["scale", 0.01]}."""
    grid: dict[str, list] = {}
    for spec in specs:
        name, eq, values = spec.partition("=")
        if not eq or not name.strip() or not values.strip():
            raise FaceprobeError(f"--param {spec!r}: expected NAME=V1,V2,...")
        grid[name.strip()] = [_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def make_head(name: str, params: dict | None = None, seed: int = 0):
    """Build a head with ``params`` over its defaults.

    Raises
    ------
    FaceprobeError
        For a parameter the head does not take.
    """
    spec = HEADS[name]
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise FaceprobeError(f"--param {unknown[0]}: not a parameter of {name}; it takes: {', '.join(sorted(spec.defaults))}")
    return spec.build({**spec.defaults, **params}, seed)
