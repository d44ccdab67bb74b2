"""Classifier heads: the registry of scikit-learn estimators, each with its parameters and capabilities.

A head is one :func:`register_head` call. Everything else reads the registry: ``--head`` and
``--param`` help and validation, class balancing (``balance``), the out-of-core path
(``streamed``), the shared-distance fast path (``precomputed``), what predict reports
(``probabilities``) and the provenance of every result.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

from ...errors import OptionError
from ...registry import Registry
from .params import Param, check_value, declare
from .streamed import knn_streamed, logreg_streamed, logreg_streamed_pipeline
from .fastpath import knn_precomputed, svm_precomputed
from ..engines.builds import CUML, ONEDAL, spread_predict, spread_svm
from .votes import first_most_probable, libsvm_vote

__all__ = ["HEADS", "HeadSpec", "register_head", "make_head", "parse_params", "head_names", "head_grid", "own_grid", "BALANCES"]

BALANCES = ("class_weight", "sample_weight", None)


@dataclass(frozen=True)
class HeadSpec:
    """A head: how to build it, which parameters it takes, and what it can do.

    Attributes
    ----------
    name : str
    build : callable (params: dict, seed: int) -> estimator
        ``params`` holds every parameter (defaults merged); a scikit-learn classifier.
    params : dict
        Every parameter ``--param`` may set, with its default.
    declared : dict of str -> Param
        What each parameter takes (kind, range, choices), checked before any work.
    prepare : callable (estimator, y_fit) -> str or None, optional
        Adapts a built estimator to the rows it is about to fit (mlp turns early stopping off
        when the validation split would be too small) and says so; the note reaches the results.
    description : str
    balance : {"class_weight", "sample_weight"} or None
        How ``--balance class-weight`` reaches it: the estimator's ``class_weight="balanced"``,
        per-row ``sample_weight`` in ``fit``, or not at all (refused).
    probabilities : bool
        ``predict_proba`` gives probabilities; otherwise predict reports a softmax of the
        decision values.
    precomputed : callable or None
        ``(params, fold_matrices, tr, te, y_fit, seed, fit_kwargs, est_params)`` -> ``(estimator,
        pred, scores)`` or None: a fit that reads the fold's shared distance matrices.
    streamed : callable or None
        ``(params, fit_rows, y_fit, pred_rows, prep, dim, class_weight)`` -> ``(estimator, pred,
        scores)``: a fit over rows read from the cache in blocks (matrices larger than memory).
    streamed_pipeline : callable or None
        ``(params, rows, y_fit, prep, dim, class_weight)`` -> Pipeline: ``fit`` from disk.
    ignore_warnings : tuple of Warning classes or their dotted names
        Warnings its protocol makes expected (a fixed epoch budget does not converge), silenced
        around its ``fit`` only (names are resolved then, so registering imports nothing).
    engines : dict of str -> EngineBuild
        The accelerated engines (:data:`~faceprobe.classify.engines.ENGINES`) it runs on, with
        the parameter values each takes; scikit-learn (``build``) is always there.
    spread : callable (estimator, cores) -> estimator, optional
        Wraps a scikit-learn build so that one fit (or its predictions) uses ``cores`` threads
        with results equal to the plain estimator's (svm: one-vs-one pairs; knn: row blocks).
    from_scores : callable (classes, scores) -> predictions, optional
        The head's predictions as a function of its scores (equal to ``predict``, tested), so
        that they are read off the scores instead of computed a second time: knn's first most
        probable class, svm's libsvm vote recovered from the one-vs-rest decision values.
    growth : (float, float)
        The range of the exponent ``b`` in ``seconds ~ rows ** b`` of one fold's work, for
        ``engine="auto"``'s predictions from samples (a growth read off small samples, where fixed
        costs weigh most, is kept within it): svm and knn work on n x n matrices (2); logreg's
        lbfgs runs more iterations as rows grow (1.5 to 1.8: 1.5 on the dev faces from 256 to
        1,553 rows, 1.8 on FER-2013's 28,709 from 512, where samples of 256 and 512 rows alone
        had predicted 1.2 s for a 44.7 s fit).
    """

    name: str
    build: Callable[[dict, int], object]
    params: dict = field(default_factory=dict)
    description: str = ""
    balance: str | None = None
    probabilities: bool = True
    precomputed: Callable | None = None
    streamed: Callable | None = None
    streamed_pipeline: Callable | None = None
    ignore_warnings: tuple = ()
    declared: dict = field(default_factory=dict)
    prepare: Callable | None = None
    engines: dict = field(default_factory=dict)
    spread: Callable | None = None
    from_scores: Callable | None = None
    growth: tuple = (0.5, 2.5)

    def __post_init__(self):
        if self.balance not in BALANCES:
            raise ValueError(f"balance must be one of {BALANCES}, got balance={self.balance!r}")

    @property
    def defaults(self) -> dict:
        return self.params

    def warnings(self) -> list[type]:
        """The ``ignore_warnings`` classes, names imported."""
        import importlib

        out = []
        for w in self.ignore_warnings:
            if isinstance(w, str):
                module, _, name = w.rpartition(".")
                w = getattr(importlib.import_module(module), name)
            out.append(w)
        return out

    def merged(self, params: dict | None) -> dict:
        """``params`` over the defaults; an unknown name is an :class:`OptionError`."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise OptionError("params", unknown[0], f"not a parameter of {self.name}; it takes: {', '.join(sorted(self.params))}")
        return {**self.params, **{k: check_value(self.name, k, self.declared.get(k, Param(v)), v) for k, v in params.items()}}

    def check(self, name: str, value):
        """One value of a parameter, checked (an :class:`OptionError` names what it takes)."""
        if name not in self.params:
            raise OptionError("params", name, f"not a parameter of {self.name}; it takes: {', '.join(sorted(self.params))}")
        return check_value(self.name, name, self.declared.get(name, Param(self.params[name])), value)


HEADS: Registry[HeadSpec] = Registry("head", "head")


_CAPABILITIES = ("balance", "probabilities", "precomputed", "streamed", "streamed_pipeline", "ignore_warnings", "prepare",
                 "engines", "spread", "from_scores", "growth")


def register_head(name: str, build: Callable | None = None, *, params: dict | None = None, description: str = "",
                  **capabilities):
    """Register a head; without ``build``, a decorator for the build function.

    Parameters
    ----------
    name : str
        The ``--head`` name; a taken name is refused (``ValueError``).
    build : callable (params: dict, seed: int) -> estimator, optional
        Returns an unfitted scikit-learn classifier; ``params`` holds every parameter.
    params : dict, optional
        Parameter names and their defaults, or :class:`~faceprobe.classify.heads.params.Param`
        declarations (kind, range, choices) that ``--param`` values are checked against.
    description : str, default=""
    **capabilities
        What the head can do, as the :class:`HeadSpec` fields of the same names: ``balance``,
        ``probabilities``, ``precomputed``, ``streamed``, ``streamed_pipeline``, ``ignore_warnings``,
        ``prepare``, ``engines``, ``spread``, ``from_scores``; another name is refused (``TypeError``).

    Returns
    -------
    HeadSpec, or a decorator returning the build function
        Registered at once: ``faceprobe.evaluate(..., heads=[name])`` uses it.

    Examples
    --------
    >>> @register_head("lda", params={"shrinkage": "auto"}, description="linear discriminant")
    ... def _lda(p, seed):
    ...     from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    ...     return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=p["shrinkage"])
    """
    unknown = sorted(set(capabilities) - set(_CAPABILITIES))
    if unknown:
        raise TypeError(f"register_head got {unknown[0]!r}, not a head capability; capabilities: {', '.join(_CAPABILITIES)}")
    caps = {**capabilities, "ignore_warnings": tuple(capabilities.get("ignore_warnings", ())),
            "engines": dict(capabilities.get("engines") or {})}

    def add(fn: Callable) -> Callable:
        declared = declare(params or {})
        spec = HeadSpec(name, fn, {k: d.default for k, d in declared.items()}, description, declared=declared, **caps)
        HEADS.register(name, spec)
        return fn

    if build is None:
        return add
    add(build)
    return HEADS.get(name)


_POSITIVE = {"low": 0, "open_low": True}


@register_head("svm", params={"kernel": Param("rbf", str, choices=("linear", "poly", "rbf", "sigmoid")), "C": Param(1.0, float, **_POSITIVE),
                              "gamma": Param("scale", float, choices=("scale", "auto"), **_POSITIVE)}, description="support vector machine (rbf or linear)",
               balance="class_weight", probabilities=False, precomputed=svm_precomputed,
               engines={"onedal": ONEDAL["svm"], "cuml": CUML["svm"]}, spread=spread_svm, from_scores=libsvm_vote)
def _svm(p: dict, seed: int):
    from sklearn.svm import SVC

    return SVC(kernel=p["kernel"], C=float(p["C"]), gamma=p["gamma"], random_state=seed)


@register_head("knn", params={"k": Param(5, int, low=1, at_most_rows=True), "weights": Param("uniform", str, choices=("distance", "uniform")),
                              "metric": Param("euclidean", str, choices=("chebyshev", "cosine", "euclidean", "manhattan"))}, description="k nearest neighbours (euclidean or cosine)",
               precomputed=knn_precomputed, streamed=knn_streamed, engines={"onedal": ONEDAL["knn"], "cuml": CUML["knn"]},
               spread=spread_predict, from_scores=first_most_probable)
def _knn(p: dict, seed: int):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=int(p["k"]), weights=p["weights"], metric=p["metric"])


@register_head("logreg", params={"C": Param(1.0, float, **_POSITIVE), "max_iter": Param(2000, int, low=1), "tol": Param(0.0001, float, **_POSITIVE)}, description="multinomial logistic regression (lbfgs)",
               balance="class_weight", streamed=logreg_streamed, streamed_pipeline=logreg_streamed_pipeline,
               engines={"onedal": ONEDAL["logreg"], "cuml": CUML["logreg"]}, growth=(1.5, 1.8))
def _logreg(p: dict, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=float(p["C"]), max_iter=int(p["max_iter"]), tol=float(p["tol"]), random_state=seed)


def _mlp_prepare(est, y) -> str | None:
    """Early stopping holds out a stratified 10 %: too few rows for it (fewer than two, fewer than
    the classes, or a class of one row) would stop the fit, so train the full epochs instead."""
    import math

    import numpy as np

    _, counts = np.unique(y, return_counts=True)
    held = math.ceil(est.validation_fraction * len(y))
    if est.early_stopping and (held < max(2, len(counts)) or counts.min() < 2):
        est.set_params(early_stopping=False)
        return (f"mlp: early stopping off where its {est.validation_fraction:.0%} validation split would be too small "
                "(fewer than 2 rows, fewer rows than classes, or a class of one row)")
    return None


@register_head("mlp", params={"hidden": Param("256", str, pattern=r"[1-9]\d*(-[1-9]\d*)*", help="layer sizes such as 256 or 256-128"), "alpha": Param(0.0001, float, low=0),
                              "max_iter": Param(200, int, low=1)}, description="scikit-learn MLP with early stopping",
               balance="sample_weight", prepare=_mlp_prepare)
def _mlp(p: dict, seed: int):
    from sklearn.neural_network import MLPClassifier

    sizes = tuple(int(s) for s in str(p["hidden"]).split("-"))
    return MLPClassifier(hidden_layer_sizes=sizes, alpha=float(p["alpha"]), max_iter=int(p["max_iter"]),
                         early_stopping=True, random_state=seed)


@register_head("dnn", params={"hidden": Param(256, int, low=1), "batch": Param(32, int, low=1), "epochs": Param(25, int, low=1),
                              "lr": Param(0.001, float, **_POSITIVE), "alpha": Param(0.0001, float, low=0)},
               description="one 256-unit hidden layer, Adam, batch 32, 25 epochs", balance="sample_weight",
               ignore_warnings=("sklearn.exceptions.ConvergenceWarning",))
def _dnn(p: dict, seed: int):
    """The dense head of published pain-recognition work: 256 ReLU units, Adam, batch 32, 25 epochs."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(int(p["hidden"]),), solver="adam", batch_size=int(p["batch"]),
                         max_iter=int(p["epochs"]), learning_rate_init=float(p["lr"]), alpha=float(p["alpha"]),
                         n_iter_no_change=int(p["epochs"]) + 1, tol=0.0, random_state=seed)


def head_names(heads) -> list[str]:
    """``all`` -> every head (sorted); a comma-separated string or a sequence -> checked names, in order."""
    if isinstance(heads, str):
        heads = [h.strip() for h in heads.split(",") if h.strip()]
    names = list(dict.fromkeys(heads))
    if "all" in names:  # "all,svm" is every head, once
        names = list(dict.fromkeys(HEADS.names() + [n for n in names if n != "all"]))
    if not names:
        raise OptionError("head", "", f"give at least one head; choose from: {', '.join(HEADS.names())}, all")
    for h in names:
        if h not in HEADS:
            raise OptionError("head", h, f"unknown head; choose from: {', '.join(HEADS.names())}, all")
    return names


def parse_params(specs) -> dict[str, list]:
    """``["C=0.1,1,10", "gamma=scale,0.01"]`` -> {"C": [0.1, 1, 10], "gamma": ["scale", 0.01]}.

    A dict passes through with single values made lists: ``{"C": 1}`` -> {"C": [1]}. Values are
    read by :func:`faceprobe.params.read_text`; each head checks its own by its declaration
    (a name may belong to several heads, so none is refused here).
    """
    from ...params import read_assignments

    return read_assignments(specs, None, param="params", owner="the heads", lists=True)


def own_grid(head: str | HeadSpec, grid: dict) -> dict:
    """The ``grid`` values ``head`` takes: ``NAME`` for every head that has the parameter, ``HEAD.NAME``
    for that head only (it wins over ``NAME``)."""
    spec = head if isinstance(head, HeadSpec) else HEADS.get(head)
    own = {k: v for k, v in grid.items() if k in spec.params}
    prefix = spec.name + "."
    own.update({k[len(prefix):]: v for k, v in grid.items() if k.startswith(prefix) and k[len(prefix):] in spec.params})
    return own


def head_grid(head: str | HeadSpec, grid: dict) -> list[dict]:
    """Every combination of the ``grid`` values that ``head`` takes (``[{}]`` when none)."""
    own = own_grid(head, grid)
    names = sorted(own)
    return [dict(zip(names, combo)) for combo in itertools.product(*(own[n] for n in names))] or [{}]


def make_head(name: str, params: dict | None = None, seed: int = 0):
    """Build a head with ``params`` over its defaults.

    Raises
    ------
    OptionError
        For an unknown head or a parameter the head does not take.
    """
    spec = HEADS.get(name)
    return spec.build(spec.merged(params), seed)
