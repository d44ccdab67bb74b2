"""The Python API: what a notebook calls. The CLI calls the same functions.

Nothing here imports torch unless :func:`compute_features` or :func:`predict` featurize images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classify.heads.registry import register_head
from .results import Results

__all__ = ["Features", "load_features", "evaluate", "fit", "register_head", "predict", "Results", "compute_features"]


@dataclass
class Features:
    """One feature key's vectors with their images.

    Attributes
    ----------
    X : ndarray of float32, shape (n_images, dim)
    obs : pandas.DataFrame
        One row per image, aligned with ``X``: ``path``, ``label``, ``subject``, ``sha256``,
        ``width``, ``height``, and ``face`` (1 found, 0 not found, -1 no detector).
    key : str
    spec : dict
        What produced the numbers (backbone, weights sha256, transform, crop, view).
    """

    X: np.ndarray
    obs: object
    key: str
    spec: dict

    def __repr__(self) -> str:
        return f"Features(key={self.key!r}, X={self.X.shape}, labels={sorted(set(self.obs['label']))})"


def load_features(cache: str, key: str | None = None) -> Features:
    """Load one feature key of a cache as a matrix and a table of its images.

    Parameters
    ----------
    cache : str
        The HDF5 feature cache.
    key : str or None, default=None
        A feature key or its backbone prefix (``efficientnet_lite0``); None when the cache
        holds one key of original (not augmented) images.

    Returns
    -------
    Features
        One row per distinct image content with a usable vector (an image listed under
        several paths appears once, under its first path), sorted by path.
    """
    import pandas as pd

    from .cache.join import image_rows
    from .cache.store import read_features, read_images
    from .cache.tools import resolve_key

    key = resolve_key(cache, key)
    fm = read_features(cache, key)
    images = read_images(cache)
    img_idx, rows = image_rows(images, fm.sha256, usable=np.isfinite(fm.vectors).all(axis=1), one_per_content=True)
    from .classify.data.columns import image_columns

    obs = pd.DataFrame({c: np.asarray(images[c][img_idx]).astype(str) for c in ("path", "label", "subject", "sha256")})
    for c, values in image_columns(images, img_idx).items():
        if c not in obs:
            obs[c] = values
    for c in ("width", "height"):
        obs[c] = np.asarray(images[c][img_idx]).astype(int)
    obs["face"] = fm.face[rows].astype(int)
    return Features(np.ascontiguousarray(fm.vectors[rows], dtype=np.float32), obs, key, fm.spec)


def evaluate(data, key=None, *, heads=None, cv=None, y=None, groups=None, target=None, bins=None,
             holdout: float | None = None, repeats: int = 1, group: str = "auto", balance: str = "none",
             classes=(), min_count: int = 0, augmented: bool = False, params=None, pca: int | None = None,
             seed: int = 0, jobs: int = -1, backend: str = "local", scheduler: str | None = None,
             max_memory: str = "auto", metric: str | None = None, progress: bool = False, where=(), normalize: str = "none", split_col: str | None = None,
             train=(), test=(), val=(), aggregate: str | None = None, engine: str = "auto", predictions: bool = False,
             permutations: int = 0, train_where=(), test_where=(), curve: str | None = None, insight: str | None = None,
             faces: bool = True) -> Results:
    """Cross-validate heads on features, as ``classify`` does (same options, same numbers).

    Parameters
    ----------
    data : str, Features or array-like of shape (n_samples, n_features)
        A feature cache; one key loaded with :func:`load_features` (its labels and subjects
        come with it); or a matrix, with ``y`` (and ``groups`` to split by subject).
    key : str, list of str or None, default=None
        Feature key or its backbone prefix (a cache only); several keys are evaluated on the
        same folds (``Results.grid()`` tests every cell against the best); ``"A+B"`` fuses two.
    heads : str or sequence, default=every built-in head (None)
        Head names (``faceprobe.classify.heads.HEADS``, including heads added with
        :func:`register_head`; with ``target`` the regressors of
        ``faceprobe.classify.regression.heads.REGRESSORS``), ``"all"``, or scikit-learn
        estimator instances (each fitted as a fresh clone per fold, named after its class).
    cv : int, "loso", a scikit-learn splitter or None
        Folds (10 when neither ``cv`` nor ``holdout`` is given), leave one subject out, or any
        splitter object (``GroupKFold(5)``; it gets the groups when splits are grouped).
    y, groups : array-like, optional
        Labels and subjects of an array ``data``; with ``target``, ``y`` holds the target values
        (a dict of name -> values for several).
    target : str, sequence of str or None
        Numeric columns to predict (regression: figures MAE, RMSE, r, rho, ICC(3,1), CCC;
        ``metric`` defaults to ``"ccc"``); with arrays, the name of ``y``'s values.
    bins : str or sequence of numbers, optional
        Bin edges (``"0,1,3,16"``): the same predictions also scored as ordinal classes.
    holdout, repeats, group, balance, min_count, augmented, pca, seed, jobs, backend, scheduler, max_memory, metric, engine, progress
        As the ``classify`` options of the same names (docs/cli.md); ``group`` may name a
        column (``"sequence"``).
    where : sequence of str
        Row filters, ``["view=front", "Usage!=PublicTest"]``.
    normalize : str, default="none"
        ``"subject"`` (or a column) z-scores each subject's vectors with its own images.
    split_col, train, test, val
        A fixed split: the column and each part's values (``"Usage"``, ``["Training"]``, ...);
        one fit, bootstrap 95 % intervals, figures with and without training twins.
    aggregate : str or None
        A column (``"sequence"``) whose clips also get clip-level figures.
    classes : sequence of str
        ``NEW=old1,old2`` merges, bare labels to keep, ``rest=*`` for one-vs-rest.
    params : dict or sequence of str, optional
        Hyperparameter values, ``{"C": [0.1, 1, 10]}`` or ``["C=0.1,1,10"]``; several values
        are chosen by inner CV inside each training fold.
    predictions : bool, default=False
        Keep every test prediction (path, true and predicted label, scores) in the results
        (``Results.predictions()``); without it only figures are kept.
    train_where, test_where : sequence of str
        Cross-corpus: train on the rows the first filters select (``["corpus=ck"]``), test on the
        second's; each corpus's own CV (``cv`` folds, default 5) is beside it (``within``).
    curve : str, optional
        ``"subjects=5,10,20,all"`` (or ``images=...``): each head's learning curve.
    insight, faces
        ``"pca"``/``"tsne"``: probes and a map for reports; ``faces=False``: no thumbnails there.
    permutations : int, default=0
        Label (or target) permutations for each cell's p-value against chance (``permutation``;
        between subjects when grouped; docs/evaluation.md).

    Returns
    -------
    Results
    """
    given = dict(locals())  # every keyword as given: they are ClassifyOptions fields of the same names
    from .classify.run import ClassifyOptions, run_classify

    cache, datasets, target = _data_source(data, key, y, groups, target)
    same = {k: v for k, v in given.items() if k not in ("data", "heads", "y", "groups", "target", "params")}
    heads = "all" if heads is None else heads
    opts = ClassifyOptions(**same, cache=cache, head=heads if isinstance(heads, str) else list(heads), params=params or (),
                           target=target or ())
    return Results(run_classify(opts, datasets))


def _data_source(data, key, y, groups, target=None) -> tuple[str, list | None, object]:
    """(cache, None, target) for a cache path, ("", [dataset], target) for Features or arrays
    (with arrays and a target, ``y`` holds its values: the target becomes their column)."""
    import os

    from .errors import OptionError

    if isinstance(data, (str, os.PathLike)):
        if y is not None or groups is not None:
            raise OptionError("y", "given", "labels and subjects come from the cache; give `y` and `groups` with arrays only")
        return str(data), None, target
    from .classify.data.arrays import dataset_from_arrays

    if key is not None:
        raise OptionError("key", key, "names a key of a cache; `data` is already one key's features")
    if isinstance(data, Features):
        if y is not None or groups is not None:
            raise OptionError("y", "given", "a Features object brings its labels and subjects")
        obs = data.obs
        extra = {c: obs[c].to_numpy() for c in obs.columns if c not in ("path", "label", "sha256", "width", "height", "face")}
        return "", [dataset_from_arrays(data.X, obs["label"].to_numpy(), obs["subject"].to_numpy(), paths=obs["path"].to_numpy(),
                                        columns=extra, key=data.key, spec=data.spec, regression=bool(target))], target
    if y is None:
        raise OptionError("y", None, "give the labels (or, with `target`, the target values) of the rows of an array `data`")
    if target is None:
        return "", [dataset_from_arrays(data, y, groups)], None
    values = dict(y) if isinstance(y, dict) else {target if isinstance(target, str) else "target": y}
    return "", [dataset_from_arrays(data, [""] * len(data), groups, columns=values, regression=True)], list(values)


def fit(cache: str, head: str, output: str, key: str | None = None, **options) -> dict:
    """Train one head on every cached row and save it, as ``faceprobe fit`` does.

    The head is cross-validated first (for the record, with the same protocol options as
    :func:`evaluate`), then fitted on all rows; the model file (``.skops``, or a ``.joblib`` pickle when named so) and its ``.sha256``
    are what :func:`predict` loads.

    Parameters
    ----------
    cache : str
    head : str
        One head name.
    output : str
        The model file to write.
    key : str or None, default=None
    **options
        ``cv``, ``holdout``, ``repeats``, ``group``, ``balance``, ``classes``, ``min_count``,
        ``augmented``, ``params``, ``pca``, ``seed``, ``jobs``, ``where``, ``engine``,
        ``max_memory``, ``backend``, ``scheduler`` as for :func:`evaluate`.

    Returns
    -------
    dict
        The model record: ``key``, ``head``, ``params``, ``classes``, ``cv`` (the
        cross-validated figures), ``trained_rows``, ``engine``, ``sha256`` of the file.
    """
    from .classify.run import ClassifyOptions, run_fit
    from .errors import OptionError

    try:
        opts = ClassifyOptions(cache=str(cache), head=head, key=key, **options)
    except TypeError as exc:
        raise OptionError("options", ", ".join(sorted(options)), f"not options of fit ({exc})") from None
    return run_fit(opts, str(output))


def compute_features(source, backbones, cache: str = "features.h5", *, weights="DEFAULT", root: str | None = None,
                     crop: str = "none", crop_params: dict | None = None, margin: float = 0.2, no_face: str = "keep",
                     align: bool = False, preprocess=(), augment=(), frames: str | None = None, subject_regex: str | None = None,
                     path_col: str = "path", label_col: str = "label", subject_col: str = "subject", **options) -> dict:
    """Featurize a source into a cache, as ``featurize`` does (same options, same vectors).

    Parameters
    ----------
    source : str
        A folder of class folders, a CSV manifest (extra columns are kept), a FER-2013 CSV of
        pixel strings, or any of these holding videos.
    backbones : str or sequence of str
        Backbone requests (``efficientnet_lite0``, ``resnet50@layer3``, ``timm/NAME``).
    cache : str, default="features.h5"
    weights : str or sequence of str, default="DEFAULT"
        Once for all backbones, or once per backbone.
    root, crop, crop_params, margin, no_face, align, preprocess, augment, frames, subject_regex, path_col, label_col, subject_col
        As the ``featurize`` options of the same names (docs/cli.md); ``crop_params`` is a dict.
    **options
        Other :class:`~faceprobe.featurize.pipeline.FeaturizeConfig` fields (``device``,
        ``precision``, ``batch_size``, ``workers``, ``seed``, ``compile``, ``progress``, ...).

    Returns
    -------
    dict
        What ``featurize --json`` prints: images, computed, cached, bad, keys, notes, timings.
    """
    from .featurize.faces.crop import CropSpec
    from .featurize.pipeline import FeaturizeConfig, featurize
    from .featurize.faces.steps import parse_steps
    from .featurize.faces.views import parse_views

    steps = parse_steps(preprocess) if isinstance(preprocess, str) else tuple(preprocess)
    spec = CropSpec(crop, margin, no_face, False, tuple(sorted((crop_params or {}).items())), steps, align)
    cfg = FeaturizeConfig(source=str(source), backbones=_listed(backbones), weights=_listed(weights), cache=str(cache), root=root,
                          path_col=path_col, label_col=label_col, subject_col=subject_col, subject_regex=subject_regex,
                          frames=frames, crop=spec, views=parse_views(_listed(augment)), **options)
    return featurize(cfg).as_dict()


def _listed(values) -> list:
    """A value or a sequence of values as a list (``"Training"`` is one value, not eight letters)."""
    return [values] if isinstance(values, str) else list(values or [])


def predict(model, images, cache: str = "features.h5", **kwargs):
    """Predict new images with a fitted model; see :func:`faceprobe.prediction.predict` (returns a DataFrame)."""
    from .prediction import predict as _predict

    return _predict(model, images, cache, **kwargs)
