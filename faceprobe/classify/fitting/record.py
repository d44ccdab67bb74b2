"""The record of a model fitted on every row: what ``fit`` saves and ``predict`` reads, the same
fields for every task."""

from __future__ import annotations

import time

import numpy as np

from ..._version import __version__

__all__ = ["MODEL_FORMAT", "model_record"]

MODEL_FORMAT = "faceprobe-model"


def model_record(ds, weights_info: dict, *, head: str, params: dict, inner: dict, engine: dict, pipeline, cv: dict | None,
                 trained_rows: int, classes: list, **extra) -> dict:
    """A model record: the key and its feature spec, how featurize resolved its weights
    (``weights_info``, so ``predict`` featurizes new images the same way), the head with its
    chosen ``params`` and inner-CV scores, the ``engine`` it ran on, the fitted ``pipeline``
    (imputer, scaler, PCA, head), the cross-validated figures ``cv``, the rows it learned from,
    versions and time; ``extra``: the task's own fields (``task``, ``target``, ...)."""
    import sklearn

    return {"format": MODEL_FORMAT, "format_version": 1, **{k: v for k, v in extra.items() if k in ("task", "target", "metric")},
            "key": ds.key, "feature_spec": ds.spec, "weights": weights_info, "classes": classes, "head": head, "params": params,
            "inner_scores": inner, "engine": engine, **{k: v for k, v in extra.items() if k not in ("task", "target", "metric")},
            "pipeline": pipeline, "cv": cv, "trained_rows": int(trained_rows),
            "versions": {"faceprobe": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
