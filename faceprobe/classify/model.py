"""Train one head on every cached row, save it, load it safely, and predict new images.

Model files are joblib pickles: **load only files from sources you trust**, as unpickling can
run code. A ``<model>.sha256`` file written next to each model lets :func:`load_model` refuse
a file that was changed or truncated after it was saved.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time

import numpy as np

from .. import __version__
from ..errors import FaceprobeError
from .data import Dataset
from .evaluate import EvalConfig, _balance_args, _choose, _head_grid, evaluate
from .fastpath import FoldMatrices
from .heads import HEADS, make_head

__all__ = ["MODEL_FORMAT", "fit_model", "save_model", "load_model", "predict_source"]

MODEL_FORMAT = "faceprobe-model"


def fit_model(ds: Dataset, cfg: EvalConfig, weights_info: dict, cv_results: bool = True) -> dict:
    """Cross-validate (for the record), then fit scaler, optional PCA and the head on all rows.

    Parameters
    ----------
    ds : Dataset
    cfg : EvalConfig
        Exactly one head.
    weights_info : dict
        How featurize resolved the key's backbone weights (``arg``, ``name``, ``file``), so
        ``predict`` can featurize new images the same way.

    Returns
    -------
    dict
        The model record that :func:`save_model` writes.
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if len(cfg.heads) != 1:
        raise FaceprobeError(f"fit trains one head; got {', '.join(cfg.heads)}")
    head = cfg.heads[0]
    metrics = evaluate(ds, cfg) if cv_results else None
    steps = [("scale", StandardScaler())]
    if cfg.pca:
        steps.append(("pca", PCA(n_components=cfg.pca, random_state=cfg.split.seed)))
    prep = Pipeline(steps).fit(ds.X)
    Z = prep.transform(ds.X).astype(np.float32)
    m = FoldMatrices(Z, Z[:0])
    params, inner = _choose(head, _head_grid(head, cfg.grid), cfg, m, ds.y, ds.groups, cfg.split.seed)
    fit_kwargs, est_params = _balance_args(head, cfg, ds.y)
    est = make_head(head, params, cfg.split.seed)
    if est_params:
        est.set_params(**est_params)
    est.fit(Z, ds.y, **fit_kwargs)
    import sklearn

    return {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "key": ds.key,
        "feature_spec": ds.spec,
        "weights": weights_info,
        "classes": list(est.classes_),
        "head": head,
        "params": {**HEADS[head].defaults, **params},
        "inner_scores": inner,
        "pipeline": Pipeline(steps + [("head", est)]),
        "cv": _cv_record(metrics, head),
        "trained_rows": int(len(ds.y)),
        "versions": {"faceprobe": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cv_record(metrics: dict | None, head: str) -> dict | None:
    """The cross-validated figures of the head, without per-fold detail."""
    if metrics is None:
        return None
    out = {k: v for k, v in metrics.items() if k != "heads"}
    out.update({k: metrics["heads"][head][k] for k in ("summary", "per_class", "confusion")})
    return out


def _weights_arg(info: dict) -> str:
    """The ``--weights`` value that reproduces a recorded backbone resolution."""
    arg = str(info.get("arg", "DEFAULT"))
    if arg in ("DEFAULT", "none") or "_Weights." in str(info.get("name", "")):
        return arg
    return info.get("file") or arg


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model(model: dict, path: str) -> str:
    """Write the model with joblib and its sha256 next to it; return the hash."""
    import joblib

    joblib.dump(model, path)
    digest = _sha256(path)
    with open(path + ".sha256", "w", encoding="utf-8") as handle:
        handle.write(f"{digest}  {os.path.basename(path)}\n")
    return digest


def load_model(path: str) -> dict:
    """Load a model after checking its sha256 file. Only load models from trusted sources.

    Raises
    ------
    FaceprobeError
        Missing file or hash file, hash mismatch, or not a faceprobe model.
    """
    import joblib

    if not os.path.isfile(path):
        raise FaceprobeError(f"--model {path}: no such file")
    try:
        with open(path + ".sha256", encoding="utf-8") as handle:
            expected = handle.read().split()[0]
    except (OSError, IndexError):
        raise FaceprobeError(f"--model {path}: no {os.path.basename(path)}.sha256 next to it; refusing to unpickle an unverified file") from None
    if _sha256(path) != expected:
        raise FaceprobeError(f"--model {path}: sha256 does not match {path}.sha256; the file changed after it was saved")
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling raises many types
        raise FaceprobeError(f"--model {path}: cannot load ({type(exc).__name__})") from None
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise FaceprobeError(f"--model {path}: not a faceprobe model")
    return model


def predict_source(model: dict, source: str, cache: str, out: str, *, root: str | None = None,
                   path_col: str = "path", progress: bool = False) -> int:
    """Featurize ``source`` with the model's backbone (through the cache) and write predictions.

    Writes ``path,label,p_<class>...`` rows (probabilities where the head gives them, else
    a softmax of its decision values). Returns the number of rows written.
    """
    from ..cache.store import read_features, read_images
    from ..featurize.crop import CropSpec
    from ..featurize.pipeline import FeaturizeConfig, featurize
    from ..featurize.sources import read_source

    spec = model["feature_spec"]
    crop = CropSpec(**{"method": "none", **spec["crop"]})
    w = model["weights"]
    weights = _weights_arg(w)
    seed = int(w["name"].split("seed=")[1].rstrip(")")) if str(w.get("name", "")).startswith("random(seed=") else 0
    summary = featurize(FeaturizeConfig(source, [spec["backbone"]], [weights], cache, root=root, path_col=path_col,
                                        crop=crop, seed=seed, progress=progress, labelled=False))
    if model["key"] not in summary.keys:
        raise FaceprobeError(f"these images were featurized as {', '.join(summary.keys)}, but the model was trained on "
                             f"{model['key']} (different weights or preprocessing)")
    fm = read_features(cache, model["key"])
    row_of = {s: i for i, s in enumerate(fm.sha256)}
    images = read_images(cache)
    sha_of = {str(p): str(s) for p, s in zip(images["path"], images["sha256"])}
    entries = read_source(source, root=root, path_col=path_col, labelled=False).entries
    pipe, classes = model["pipeline"], model["classes"]
    n = 0
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", *[f"p_{c}" for c in classes]])
        for e in entries:
            r = row_of.get(sha_of.get(e.path, ""))
            if r is None or not np.isfinite(fm.vectors[r]).all():
                writer.writerow([e.path, "", *[""] * len(classes)])
                continue
            x = fm.vectors[r : r + 1]
            if hasattr(pipe, "predict_proba") and hasattr(pipe[-1], "predict_proba"):
                p = pipe.predict_proba(x)[0]
            else:
                d = np.atleast_2d(pipe.decision_function(x))
                d = np.stack([-d[:, 0], d[:, 0]], axis=1) if d.shape[1] == 1 else d
                p = np.exp(d - d.max())[0]
                p /= p.sum()
            writer.writerow([e.path, classes[int(np.argmax(p))], *[f"{v:.6f}" for v in p]])
            n += 1
    return n
