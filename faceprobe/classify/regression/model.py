"""A regressor trained on every cached row for ``fit`` (cross-validated first, for the record)."""

from __future__ import annotations

import time

import numpy as np

from ..._version import __version__
from ...errors import OptionError
from ..fitting.folds import training_rows
from .evaluate import TargetSpec, choose_params, evaluate_target, fit_head, prep_steps

__all__ = ["fit_regressor"]


def fit_regressor(ds, cfg, target: TargetSpec, weights_info: dict, model_format: str) -> dict:
    """Cross-validate the one head on ``target``, then fit scaler, optional PCA and the head on all rows.

    Returns
    -------
    dict
        The model record :func:`~faceprobe.classify.model.save_model` writes, with ``task``
        ``regression``, ``target`` and the cross-validated figures under ``cv``.
    """
    import sklearn
    from sklearn.pipeline import Pipeline

    head = cfg.heads[0]
    spec = cfg.spec(head)
    if model_format == "skops" and head not in _registered():
        raise OptionError("heads", head, "a .skops model holds the registered regressors only; use a .joblib output")
    cv = evaluate_target(ds, cfg, target)
    rows = np.arange(len(ds.y))
    X, y, g = training_rows(ds, rows, cfg, cfg.split.seed, target.values)
    notes: set = set()
    params, inner = choose_params(spec, cfg, target, X, y, g, cfg.split.seed, notes)
    steps = prep_steps(cfg, X, cfg.split.seed)
    Xt = X
    for _, step in steps:
        Xt = step.transform(Xt)
    est = fit_head(spec, params, Xt.astype(np.float32), y, cfg.split.seed, notes)
    r = cv["heads"][head]
    return {
        "format": "faceprobe-model", "format_version": 1, "task": "regression", "target": target.column,
        "metric": target.metric, "key": ds.key, "feature_spec": ds.spec, "weights": weights_info, "classes": [],
        "head": head, "params": spec.merged(params), "inner_scores": inner,
        "engine": {"engine": "sklearn", "version": sklearn.__version__, "device": "cpu"},
        "pipeline": Pipeline(steps + [("head", est)]),
        "cv": {**{k: v for k, v in cv.items() if k != "heads"}, "summary": r["summary"], "pooled": r.get("pooled"),
               **({"error": r["error"]} if "error" in r else {})},
        "target_range": [float(target.values.min()), float(target.values.max())],
        "trained_rows": int(len(y)), "notes": sorted(notes),
        "versions": {"faceprobe": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _registered() -> set:
    from .heads import REGRESSORS

    return set(REGRESSORS.names())
