"""Predict the class of new images with a fitted model: featurize them through the cache with the
model's backbone and preprocessing, then apply the model.

This joins the two stages (featurize needs torch, classify never imports it), so it lives above
both, as the demo does. (Named ``prediction`` so that ``faceprobe.predict`` stays the function.)
"""

from __future__ import annotations

import os

import numpy as np

from .cache.join import rows_for_paths
from .cache.layout import no_face_rows
from .errors import FaceprobeError

__all__ = ["predict", "weights_request"]


def weights_request(info: dict) -> tuple[str, int]:
    """The ``(weights, seed)`` request that reproduces a recorded backbone resolution."""
    arg = str(info.get("arg", "DEFAULT"))
    seed = int(info.get("seed") or 0)
    if arg in ("DEFAULT", "none") or "_Weights." in str(info.get("name", "")):
        return arg, seed
    return info.get("file") or arg, seed


def _probabilities(pipe, X: np.ndarray) -> np.ndarray:
    """Class probabilities where the head gives them, else a softmax of its decision values."""
    if hasattr(pipe, "predict_proba") and hasattr(pipe[-1], "predict_proba"):
        return pipe.predict_proba(X)
    d = np.atleast_2d(pipe.decision_function(X))
    d = d.reshape(len(X), -1)
    d = np.concatenate([-d, d], axis=1) if d.shape[1] == 1 else d
    p = np.exp(d - d.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def predict(model: dict | str, images, cache: str = "features.h5", *, root: str | None = None, path_col: str = "path",
            progress: bool = False, allow_pickle: bool = False):
    """Predict the class of new images.

    Parameters
    ----------
    model : dict or str
        A model from ``faceprobe fit`` (:func:`faceprobe.classify.model.load_model`), or its file.
    images : str or list of str
        A folder (searched recursively), a CSV with a path column, or a list of image files.
    cache : str, default="features.h5"
        Feature cache used, and filled, for the new images.
    root, path_col : see ``featurize``.
    progress : bool, default=False
    allow_pickle : bool, default=False
        Load a ``.joblib`` model file (a pickle, which can run any code it holds): only for
        files you made yourself. ``.skops`` files need no such permission.

    Returns
    -------
    pandas.DataFrame
        One row per listed image: ``path``, ``label`` (the predicted class), ``p_<class>``
        per class, and ``reason`` (why an image has no prediction; empty otherwise). A
        regression model (fitted with ``target``) gives its target's predicted value in a
        column named after the target instead of ``label`` and ``p_<class>``. ``frame.attrs["cache"]``
        says where the images' vectors were cached (``path``) and how many were computed
        (``computed``): they stay there, unlabelled, so classify leaves them out.
    """
    import pandas as pd

    from .cache.store import read_features, read_images
    from .classify.data.diskrows import DiskMatrix
    from .classify.model import load_model
    from .featurize.faces.crop import CropSpec
    from .featurize.pipeline import featurize
    from .featurize.sources.read import read_source

    if isinstance(model, (str, os.PathLike)):
        model = load_model(str(model), allow_pickle=allow_pickle)
    spec = model["feature_spec"]
    weights, seed = weights_request(model["weights"])
    summary = featurize(images, backbones=[spec["backbone"]], weights=[weights], cache=cache, root=root, path_col=path_col,
                        seed=seed, progress=progress, labelled=False, **CropSpec.from_dict(spec["crop"]).as_options())
    if model["key"] not in summary.keys:
        raise FaceprobeError(f"these images were featurized as {', '.join(summary.keys)}, but the model was trained on "
                             f"{model['key']} (different weights or preprocessing)")
    fm = read_features(cache, model["key"], vectors=False)
    table = read_images(cache)
    refs = read_source(images, root=root, path_col=path_col, labelled=False).entries
    paths = [r.path for r in refs]
    disk = rows_for_paths(table, fm.sha256, paths)
    vectors = np.full((len(refs), fm.dim), np.nan, dtype=np.float32)  # only these rows are read, not the whole key
    for pos, block in DiskMatrix(cache, model["key"], disk, fm.dim, 4096).blocks(np.arange(len(refs))):
        vectors[pos] = block
    ok = np.isfinite(vectors).all(axis=1)
    no_face = no_face_rows(spec) or "the cropper found no face"
    if model.get("task") == "regression":
        values = np.full(len(refs), np.nan)
        if ok.any():
            values[ok] = model["pipeline"].predict(vectors[ok])
        frame = pd.DataFrame({"path": paths, model["target"]: values, "reason": _reasons(table, paths, ok, no_face)})
        frame.attrs["cache"] = {"path": cache, "computed": summary.computed}
        return frame
    classes = model["classes"]
    proba = np.full((len(refs), len(classes)), np.nan)
    if ok.any():
        proba[ok] = _probabilities(model["pipeline"], vectors[ok])
    reasons = _reasons(table, paths, ok, no_face)
    frame = pd.DataFrame({"path": paths, "label": [classes[int(np.argmax(p))] if k else "" for p, k in zip(proba, ok)]})
    for j, c in enumerate(classes):
        frame[f"p_{c}"] = proba[:, j]
    frame["reason"] = reasons
    frame.attrs["cache"] = {"path": cache, "computed": summary.computed}  # where the new images' vectors went (the CLI says so)
    return frame


def _reasons(table: dict, paths: list[str], ok: np.ndarray, no_face: str) -> list[str]:
    """Why each image without a vector has none: a bad file, or no face found (``no_face``: by
    whom, e.g. the cropper with ``no_face=skip``, or a geometry key's own landmarker)."""
    why = {str(p): (str(st), str(r)) for p, st, r in zip(table["path"], table["status"], table["reason"])}
    out = []
    for path, good in zip(paths, ok):
        status, reason = why.get(path, ("", ""))
        out.append("" if good else (f"unusable image: {reason}" if status == "bad" else f"no face found ({no_face})"))
    return out
