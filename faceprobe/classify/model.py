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
from .diskrows import DiskMatrix
from .evaluate import EvalConfig, _balance_args, _choose, _head_grid, evaluate, training_rows
from .fastpath import FoldMatrices
from .fastpath import fit_predict as fit_predict_matrices
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
    if len(cfg.heads) != 1:
        raise FaceprobeError(f"fit trains one head; got {', '.join(cfg.heads)}")
    head = cfg.heads[0]
    if isinstance(ds.X, DiskMatrix) and head != "logreg":
        raise FaceprobeError(f"fit --head {head} needs the feature matrix in memory, but {ds.plan.describe(*ds.X.shape)}; "
                             "fit --head logreg trains from blocks read off the disk (or raise --max-memory)")
    metrics = evaluate(ds, cfg) if cv_results else None
    fit = _fit_on_disk if isinstance(ds.X, DiskMatrix) else _fit_in_memory
    pipeline, params, inner, n_rows = fit(ds, cfg, head, cfg.split.seed)
    import sklearn

    return {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "key": ds.key,
        "feature_spec": ds.spec,
        "weights": weights_info,
        "classes": [str(c) for c in pipeline[-1].classes_],
        "head": head,
        "params": {**HEADS[head].defaults, **params},
        "inner_scores": inner,
        "pipeline": pipeline,
        "cv": _cv_record(metrics, head),
        "trained_rows": n_rows,
        "versions": {"faceprobe": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _fit_in_memory(ds: Dataset, cfg: EvalConfig, head: str, seed: int):
    """Scaler, optional PCA and head fitted on every row (balanced and with views as in a fold)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, g = training_rows(ds, np.arange(len(ds.y)), cfg, seed)
    steps = [("scale", StandardScaler())]
    if cfg.pca:
        steps.append(("pca", PCA(n_components=cfg.pca, random_state=seed)))
    prep = Pipeline(steps).fit(X)
    Z = prep.transform(X).astype(np.float32)
    m = FoldMatrices(Z, Z[:0])

    def fit_predict(h, params, tr, te, y_fit):
        fit_kwargs, est_params = _balance_args(h, cfg, y_fit)
        return fit_predict_matrices(h, params, m, tr, te, y_fit, seed, fit_kwargs, est_params)

    params, inner = _choose(head, _head_grid(head, cfg.grid), cfg, fit_predict, y, g, seed)
    fit_kwargs, est_params = _balance_args(head, cfg, y)
    est = make_head(head, params, seed)
    if est_params:
        est.set_params(**est_params)
    est.fit(Z, y, **fit_kwargs)
    return Pipeline(steps + [("head", est)]), params, inner, int(len(y))


def _fit_on_disk(ds: Dataset, cfg: EvalConfig, head: str, seed: int):
    """logreg fitted by passes over blocks of every row, returned as a scikit-learn Pipeline."""
    from .chunked import chunked_fold, logreg_fit, logreg_pipeline

    fold = chunked_fold(ds, np.arange(len(ds.y)), np.arange(0), cfg, seed)
    params, inner = _choose(head, _head_grid(head, cfg.grid), cfg, fold.fit_predict, fold.ytr, fold.gtr, seed)
    model = logreg_fit(params, fold.rows, fold.ytr, fold.prep, cfg.pca or ds.X.shape[1],
                       class_weight="balanced" if cfg.balance == "class-weight" else None)
    return logreg_pipeline(fold.prep, model, params), params, inner, int(len(fold.ytr))


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
    fm = read_features(cache, model["key"], vectors=False)
    row_of = {s: i for i, s in enumerate(fm.sha256)}
    images = read_images(cache)
    sha_of = {str(p): str(s) for p, s in zip(images["path"], images["sha256"])}
    entries = read_source(source, root=root, path_col=path_col, labelled=False).entries
    disk = np.array([row_of.get(sha_of.get(e.path, ""), -1) for e in entries], dtype=np.int64)
    vectors = np.full((len(entries), fm.dim), np.nan, dtype=np.float32)  # only these rows are read, not the whole key
    for pos, block in DiskMatrix(cache, model["key"], disk, fm.dim, 4096).blocks(np.arange(len(entries))):
        vectors[pos] = block
    pipe, classes = model["pipeline"], model["classes"]
    n = 0
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", *[f"p_{c}" for c in classes]])
        for e, x in zip(entries, vectors):
            if not np.isfinite(x).all():
                writer.writerow([e.path, "", *[""] * len(classes)])
                continue
            x = x[None, :]
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
