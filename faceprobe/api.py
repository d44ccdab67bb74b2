"""The Python API: what a notebook calls. The CLI calls the same functions.

Nothing here imports torch unless :func:`compute_features` or :func:`predict` featurize images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classify.heads.registry import register_head
from .classify.options import ClassifyOptions
from .featurize.options import FeaturizeOptions
from .results import Results

__all__ = ["Features", "load_features", "evaluate", "fit", "register_head", "predict", "Results", "compute_features",
           "ClassifyOptions", "FeaturizeOptions", "runs"]


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
    from .cache.reader import CacheReader

    with CacheReader(cache) as reader:  # one open for the table, the key and its rows
        key = reader.resolve_key(key)
        fm = reader.features(key)
        images = reader.images()
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


def evaluate(data, key=None, *, y=None, groups=None, options=None, **given) -> Results:
    """Cross-validate heads on features, as ``classify`` does (same options, same numbers).

    Parameters
    ----------
    data : str, Features or array-like of shape (n_samples, n_features)
        A feature cache; one key loaded with :func:`load_features` (its labels and subjects
        come with it); or a matrix, with ``y`` (and ``groups`` to split by subject).
    key : str, list of str or None, default=None
        Feature key or its backbone prefix (a cache only); several keys are evaluated on the
        same folds (``Results.grid()`` tests every cell against the best); ``"A+B"`` fuses two.
    y, groups : array-like, optional
        Labels and subjects of an array ``data``; with ``target``, ``y`` holds the target values
        (a dict of name -> values for several).
    options : ClassifyOptions, optional
        Options as one object (:class:`faceprobe.ClassifyOptions`); keywords given beside it replace its fields.
{options}

    Returns
    -------
    Results
    """
    from .options import with_values

    from .classify.options import CLASSIFY, ClassifyOptions
    from .classify.run import run_classify

    given = _renamed(given, "evaluate")
    CLASSIFY.unknown(given, "evaluate")
    if options is None:
        options = ClassifyOptions()
    cache, datasets, target = _data_source(data, key, y, groups, given.pop("target", options.target) or None)
    opts = with_values(options, **given, cache=cache, key=key if key is not None else options.key, target=target or ())
    return Results(run_classify(opts, datasets))


_RENAMED = {"heads": "head"}
"""Keywords that moved: old name -> new name (a DeprecationWarning names the new one; removed in a later release)."""


def _renamed(given: dict, function: str) -> dict:
    import warnings

    out = dict(given)
    for old, new in _RENAMED.items():
        if old in out:
            warnings.warn(f"{function}({old}=...) is now {function}({new}=...); `{old}` will be removed in a later release",
                          DeprecationWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out


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


def fit(cache: str, head: str, output: str, key: str | None = None, *, options=None, **given) -> dict:
    """Train one head on every cached row and save it, as ``faceprobe fit`` does.

    The head is cross-validated first (for the record, with the same protocol options as
    :func:`evaluate`), then fitted on all rows; the model file (``.skops``, or a ``.joblib``
    pickle when named so) and its ``.sha256`` are what :func:`predict` loads.

    Parameters
    ----------
    cache : str
    head : str
        One head name.
    output : str
        The model file to write.
    key : str or None, default=None
    options : ClassifyOptions, optional
        Options as one object; keywords given beside it replace its fields.
{options}

    Returns
    -------
    dict
        The model record: ``key``, ``head``, ``params``, ``classes``, ``cv`` (the
        cross-validated figures), ``trained_rows``, ``engine``, ``sha256`` of the file.
    """
    from .options import with_values

    from .classify.options import CLASSIFY, ClassifyOptions
    from .classify.run import run_fit

    CLASSIFY.unknown(given, "fit")
    if options is None:
        options = ClassifyOptions()
    return run_fit(with_values(options, **given, cache=str(cache), head=head, key=key if key is not None else options.key), str(output))


def compute_features(source, backbones, cache: str = "features.h5", *, options=None, **given) -> dict:
    """Featurize a source into a cache, as ``featurize`` does (same options, same vectors).

    Parameters
    ----------
    source : str
        A folder of class folders, a CSV manifest (extra columns are kept), a FER-2013 CSV of
        pixel strings, or any of these holding videos.
    backbones : str or sequence of str
        Backbone requests (``efficientnet_lite0``, ``resnet50@layer3``, ``timm/NAME``).
    cache : str, default="features.h5"
    options : FeaturizeOptions, optional
        Options as one object (:class:`faceprobe.FeaturizeOptions`); keywords given beside it replace its fields.
{options}

    Returns
    -------
    dict
        What ``featurize --json`` prints: images, computed, cached, bad, keys, notes, timings.
    """
    from .options import with_values

    from .featurize.options import FEATURIZE, FeaturizeOptions
    from .featurize.pipeline import featurize

    FEATURIZE.unknown(given, "compute_features")
    if options is None:
        options = FeaturizeOptions()
    return featurize(source, with_values(options, **given, backbones=tuple(_listed(backbones)), cache=str(cache))).as_dict()


def _listed(values) -> list:
    """A value or a sequence of values as a list (``"Training"`` is one value, not eight letters)."""
    return [values] if isinstance(values, str) else list(values or [])


def predict(model, images, cache: str = "features.h5", **given):
    """Predict new images with a fitted model, as ``faceprobe predict`` does.

    Parameters
    ----------
    model : dict or str
        A model from :func:`fit` (``faceprobe fit``), or its file.
    images : str or list of str
        A folder (searched recursively), a CSV with a path column, or a list of image files.
    cache : str, default="features.h5"
        Feature cache used, and filled, for the new images.
{options}

    Returns
    -------
    pandas.DataFrame
        ``path``, the predicted label (or target), ``p_<class>`` probabilities and ``reason``.
    """
    from .featurize.options import PREDICT
    from .prediction import predict as _predict

    PREDICT.unknown(given, "predict")
    PREDICT.validate(given)
    return _predict(model, images, cache, **given)


def runs(results_db=None, *, folds: bool = False, corpus=None, key=None, head=None, protocol=None, kind=None, tag=None,
         since=None, until=None):
    """Every recorded run's figures as a tidy DataFrame, one row per figure.

    Parameters
    ----------
    results_db : str, optional
        The store (default ``$FACEPROBE_RESULTS_DB``, else ``runs.sqlite`` in ``$FACEPROBE_HOME``).
    folds : bool
        Every fold's figures too (``repeat`` and ``fold`` >= 0), not only each cell's aggregate
        (``repeat = fold = -1``).
    corpus, key, head, protocol, kind, tag, since, until : str, optional
        Keep the runs that match (as ``faceprobe runs list`` filters them).

    Returns
    -------
    pandas.DataFrame
        ``run``, ``uid``, ``created``, ``kind``, ``corpus``, ``protocol``, ``official``, ``grouped``,
        ``key``, ``head``, ``target``, ``metric``, ``repeat``, ``fold``, ``value``, ``std``, ``low``,
        ``high``, ``over``, ``tags``.

    Examples
    --------
    >>> df = faceprobe.runs(tag="paper")                                   # doctest: +SKIP
    >>> df[df.metric == "balanced_accuracy"].groupby(["key", "head"]).value.max()  # doctest: +SKIP
    """
    import pandas as pd

    from .ledger.query import FIGURE_ROW_COLUMNS, RunFilter, figure_rows

    filt = RunFilter(corpus=corpus, key=key, head=head, protocol=protocol, kind=kind, tag=tag, since=since, until=until)
    return pd.DataFrame(figure_rows(results_db, filt, folds), columns=list(FIGURE_ROW_COLUMNS))


def _signatures() -> None:
    """Each function's keyword options and their docstring entries, from the option tables."""
    import inspect

    from .classify.options import CLASSIFY
    from .featurize.options import FEATURIZE, PREDICT

    for func, table in ((evaluate, CLASSIFY), (fit, CLASSIFY), (compute_features, FEATURIZE), (predict, PREDICT)):
        name = func.__name__
        leading = [p for p in inspect.signature(func).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        func.__signature__ = table.signature(name, leading)
        section = table.parameters_section(name, registries=table is CLASSIFY)  # featurize's registries stay unimported
        body = "\n".join("    " + line if line else line for line in section.splitlines())
        if func.__doc__:  # None under ``python -OO``, which drops docstrings
            func.__doc__ = func.__doc__.replace("{options}", body)


_signatures()
