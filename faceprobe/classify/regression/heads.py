"""Regressor heads: the registry of scikit-learn regressors, each with its parameters.

A regressor is one :func:`register_regressor` call; ``target`` runs choose their heads here
(``svr``, ``ridge``, ``knn``, ``mlp``, ``dnn``), with ``params`` grids checked as for
classifier heads. Heads whose fit depends on the target's scale (svr's epsilon tube, kernel
ridge without an intercept, the neural nets) learn a standardised target inside each training
fold (``TransformedTargetRegressor``), so their defaults suit pain scores and valence alike.
"""

from __future__ import annotations

from typing import Callable

from ...errors import OptionError
from ...registry import Registry
from ..heads.params import Param, declare
from ..heads.registry import HeadSpec

__all__ = ["REGRESSORS", "RIDGE_ALPHAS", "register_regressor", "regressor_names", "make_regressor"]

REGRESSORS: Registry[HeadSpec] = Registry("regressor", "head")


def register_regressor(name: str, build: Callable | None = None, *, params: dict | None = None, description: str = "",
                       ignore_warnings: tuple = (), prepare: Callable | None = None):
    """Register a regressor head; without ``build``, a decorator for the build function.

    Parameters
    ----------
    name : str
        The head's name under ``target``; a taken name is refused (``ValueError``).
    build : callable (params: dict, seed: int) -> estimator, optional
        Returns an unfitted scikit-learn regressor; ``params`` holds every parameter.
    params : dict, optional
        Parameter names and defaults, or :class:`~faceprobe.classify.heads.params.Param` declarations.
    description : str
    ignore_warnings : tuple
        Warnings its protocol makes expected, silenced around its fit.
    prepare : callable (estimator, y_fit) -> str or None, optional
        Adapts a built estimator to its training rows and says so (a note in the results).

    Returns
    -------
    HeadSpec, or a decorator returning the build function
    """
    def add(fn: Callable) -> Callable:
        declared = declare(params or {})
        REGRESSORS.register(name, HeadSpec(name, fn, {k: d.default for k, d in declared.items()}, description,
                                           probabilities=False, ignore_warnings=tuple(ignore_warnings), declared=declared,
                                           prepare=prepare))
        return fn

    if build is None:
        return add
    add(build)
    return REGRESSORS.get(name)


def _standardised(est):
    """``est`` learning a target standardised on its training rows (predictions mapped back)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(regressor=est, transformer=StandardScaler())


_POSITIVE = {"low": 0, "open_low": True}


@register_regressor("svr", params={"kernel": Param("rbf", str, choices=("linear", "poly", "rbf", "sigmoid")), "C": Param(1.0, float, **_POSITIVE),
                                   "epsilon": Param(0.1, float, low=0), "gamma": Param("scale", float, choices=("scale", "auto"), **_POSITIVE)},
                    description="support vector regression (epsilon in standard deviations of the target)")
def _svr(p: dict, seed: int):
    from sklearn.svm import SVR

    return _standardised(SVR(kernel=p["kernel"], C=float(p["C"]), epsilon=float(p["epsilon"]), gamma=p["gamma"]))


RIDGE_ALPHAS = tuple(10.0 ** e for e in range(-2, 7))
"""What ``alpha=auto`` chooses from for linear ridge (by efficient leave-one-out on the training rows)."""


@register_regressor("ridge", params={"alpha": Param("auto", float, choices=("auto",), **_POSITIVE),
                                     "kernel": Param("linear", str, choices=("linear", "rbf")),
                                     "gamma": Param("auto", float, choices=("auto",), **_POSITIVE)},
                    description="ridge regression (alpha auto: chosen from 0.01..1e6 by leave-one-out on the training rows); "
                                "kernel=rbf: kernel ridge (alpha auto: 1; gamma auto: 1 / features)")
def _ridge(p: dict, seed: int):
    auto = p["alpha"] == "auto"
    if p["kernel"] == "linear":
        from sklearn.linear_model import Ridge, RidgeCV

        return RidgeCV(alphas=RIDGE_ALPHAS) if auto else Ridge(alpha=float(p["alpha"]))
    from sklearn.kernel_ridge import KernelRidge

    gamma = None if p["gamma"] == "auto" else float(p["gamma"])
    return _standardised(KernelRidge(alpha=1.0 if auto else float(p["alpha"]), kernel="rbf", gamma=gamma))


@register_regressor("knn", params={"k": Param(5, int, low=1, at_most_rows=True), "weights": Param("uniform", str, choices=("distance", "uniform")),
                                   "metric": Param("euclidean", str, choices=("chebyshev", "cosine", "euclidean", "manhattan"))},
                    description="k nearest neighbours: the mean target of the k nearest training faces")
def _knn(p: dict, seed: int):
    from sklearn.neighbors import KNeighborsRegressor

    return KNeighborsRegressor(n_neighbors=int(p["k"]), weights=p["weights"], metric=p["metric"])


def _mlp_prepare(est, y) -> str | None:
    """Early stopping holds out 10 % of the training rows: with fewer than 2 of them, train the full epochs."""
    import math

    inner = est.regressor
    if inner.early_stopping and math.ceil(inner.validation_fraction * len(y)) < 2:
        inner.set_params(early_stopping=False)
        return f"mlp: early stopping off where its {inner.validation_fraction:.0%} validation split would hold fewer than 2 rows"
    return None


@register_regressor("mlp", params={"hidden": Param("256", str, pattern=r"[1-9]\d*(-[1-9]\d*)*", help="layer sizes such as 256 or 256-128"),
                                   "alpha": Param(0.0001, float, low=0), "max_iter": Param(200, int, low=1)},
                    description="scikit-learn MLP regressor with early stopping", prepare=_mlp_prepare)
def _mlp(p: dict, seed: int):
    from sklearn.neural_network import MLPRegressor

    sizes = tuple(int(s) for s in str(p["hidden"]).split("-"))
    return _standardised(MLPRegressor(hidden_layer_sizes=sizes, alpha=float(p["alpha"]), max_iter=int(p["max_iter"]),
                                      early_stopping=True, random_state=seed))


@register_regressor("dnn", params={"hidden": Param(256, int, low=1), "batch": Param(32, int, low=1), "epochs": Param(25, int, low=1),
                                   "lr": Param(0.001, float, **_POSITIVE), "alpha": Param(0.0001, float, low=0)},
                    description="the published dense net as a regressor: 256 ReLU units, Adam, batch 32, 25 epochs",
                    ignore_warnings=("sklearn.exceptions.ConvergenceWarning",))
def _dnn(p: dict, seed: int):
    from sklearn.neural_network import MLPRegressor

    return _standardised(MLPRegressor(hidden_layer_sizes=(int(p["hidden"]),), solver="adam", batch_size=int(p["batch"]),
                                      max_iter=int(p["epochs"]), learning_rate_init=float(p["lr"]), alpha=float(p["alpha"]),
                                      n_iter_no_change=int(p["epochs"]) + 1, tol=0.0, random_state=seed))


def regressor_names(heads) -> list[str]:
    """``all`` -> every regressor (sorted); a comma-separated string or a sequence -> checked names, in order."""
    if isinstance(heads, str):
        heads = [h.strip() for h in heads.split(",") if h.strip()]
    names = list(dict.fromkeys(heads))
    if "all" in names:
        names = list(dict.fromkeys(REGRESSORS.names() + [n for n in names if n != "all"]))
    if not names:
        raise OptionError("head", "", f"give at least one regressor; choose from: {', '.join(REGRESSORS.names())}, all")
    for h in names:
        if h not in REGRESSORS:
            raise OptionError("head", h, f"not a regressor (with `target`, heads are regressors); choose from: "
                                          f"{', '.join(REGRESSORS.names())}, all")
    return names


def make_regressor(name: str, params: dict | None = None, seed: int = 0):
    """Build a regressor with ``params`` over its defaults (the estimator a fold fits, for tests and notebooks)."""
    spec = REGRESSORS.get(name)
    return spec.build(spec.merged(params), seed)
