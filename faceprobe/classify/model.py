"""Train one head on every cached row, save it, and load it safely (``faceprobe.predict`` applies it).

Model files are ``.skops`` by default (skops.io, the scikit-learn project's secure format:
loading runs no code from the file, and only scikit-learn, faceprobe, numpy and scipy types are
accepted). A ``.joblib`` pickle is written only when its name asks for it, and loaded only with
``allow_pickle`` (a pickle can run any code). A ``<model>.sha256`` file written next to each
model lets :func:`load_model` refuse a file that was changed or truncated after it was saved.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import FaceprobeError, OptionError
from ..hashes import file_sha256
from .config import EvalConfig
from .data.dataset import Dataset
from .engines import engine_provenance
from .fitting.calibrate import plan_engines
from .fitting.folds import fit_all, fit_config
from .fitting.record import MODEL_FORMAT, model_record

__all__ = ["MODEL_FORMAT", "MODEL_FORMATS", "TRUSTED_MODULES", "fit_model", "model_format", "save_model", "load_model"]



def fit_model(ds: Dataset, cfg: EvalConfig, weights_info: dict, metrics: dict | None = None) -> dict:
    """Fit scaler, optional PCA and the head on all rows (the cross-validated figures given).

    Parameters
    ----------
    ds : Dataset
    cfg : EvalConfig
        Exactly one head.
    weights_info : dict
        How featurize resolved the key's backbone weights (``arg``, ``name``, ``file``), so
        ``predict`` can featurize new images the same way.
    metrics : dict, optional
        The head's cross-validated result (:func:`~faceprobe.classify.evaluate.evaluate`),
        recorded with the model; None records none.

    Returns
    -------
    dict
        The model record that :func:`save_model` writes.
    """
    if len(cfg.heads) != 1:
        raise FaceprobeError(f"fit trains one head; got {', '.join(cfg.heads)}")
    head = cfg.heads[0]
    cfg = fit_config(ds, cfg, head)
    cfg, decisions = plan_engines(ds, cfg, [(0, np.arange(len(ds.y)), np.arange(0))])
    pipeline, params, inner, n_rows, engine = fit_all(ds, cfg, head, cfg.split.seed)
    decision = decisions.get(head)
    return model_record(ds, weights_info, head=head, params=cfg.spec(head).merged(params), inner=inner,
                        engine=engine_provenance(engine), engine_decision=None if decision is None else decision.as_dict(),
                        pipeline=pipeline, cv=_cv_record(metrics, head), trained_rows=n_rows,
                        classes=[str(c) for c in pipeline[-1].classes_])


def _cv_record(metrics: dict | None, head: str) -> dict | None:
    """The cross-validated figures of the head, without per-fold detail."""
    if metrics is None:
        return None
    out = {k: v for k, v in metrics.items() if k != "heads"}
    out.update({k: metrics["heads"][head][k] for k in ("summary", "per_class", "confusion")})
    return out


MODEL_FORMATS = {".skops": "skops", ".joblib": "joblib", ".pkl": "joblib"}
"""Model file suffixes: ``.skops`` (the default; loading runs no code from the file) and
``.joblib``/``.pkl`` (a pickle: on explicit request only, and loaded only with ``allow_pickle``)."""

TRUSTED_MODULES = ("sklearn.", "faceprobe.", "numpy.", "scipy.")
"""Where the types a ``.skops`` model may hold come from; any other type is refused at load."""


def model_format(path: str) -> str:
    """``skops`` or ``joblib``, from the file's suffix.

    Raises
    ------
    OptionError
        For another suffix.
    """
    fmt = MODEL_FORMATS.get(os.path.splitext(str(path))[1].lower())
    if fmt is None:
        raise OptionError("output", str(path), "a model file ends in .skops (safe to load; the default) or .joblib (a pickle)")
    return fmt


def save_model(model: dict, path: str) -> str:
    """Write the model (``.skops`` with skops.io, ``.joblib`` with joblib) and its sha256 next to it; return the hash."""
    if model_format(path) == "skops":
        _skops_io().dump(model, path)
    else:
        import joblib

        joblib.dump(model, path)
    digest = file_sha256(path)
    with open(path + ".sha256", "w", encoding="utf-8") as handle:
        handle.write(f"{digest}  {os.path.basename(path)}\n")
    return digest


def _skops_io():
    """``skops.io``, imported without torch.

    skops lists scikit-learn's estimators when it is first imported, and scikit-learn's package
    walk imports its vendored array-API shim for torch, which imports torch itself (half a GB of
    memory and seconds of start-up in a stage that never uses it). While skops is first imported,
    and only when torch is not loaded yet, ``torch`` is marked unavailable in ``sys.modules`` so
    that the walk skips that shim (the package walk passes over modules that fail to import); the
    mark is removed at once and nothing else of the process changes.
    """
    import sys

    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    import sklearn.base  # noqa: F401 -- imported in the normal world: scipy's import-time checks read sys.modules["torch"]
    sys.modules["torch"] = None  # an import of torch now raises ImportError
    try:
        import skops.io
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return skops.io


def _load_skops(path: str) -> dict:
    sio = _skops_io()
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 -- a damaged or foreign file raises many types
        raise OptionError("model", path, f"not a readable .skops file ({type(exc).__name__})") from None
    foreign = sorted(t for t in untrusted if not t.startswith(TRUSTED_MODULES))
    if foreign:
        raise OptionError("model", path, f"holds types faceprobe does not trust ({', '.join(foreign[:3])}); refusing to load it")
    return sio.load(path, trusted=untrusted)


def _load_joblib(path: str) -> dict:
    import joblib

    try:
        return joblib.load(path)
    except ModuleNotFoundError as exc:  # fitted on an engine that is not installed here
        from .engines import ENGINES

        engine = next((e for _, e in ENGINES.items() if (exc.name or "").split(".")[0] == e.module), None)
        how = f"it was fitted on the {engine.name} engine: {engine.install}" if engine else f"it needs the module {exc.name}"
        raise OptionError("model", path, f"cannot load here; {how}") from None


def load_model(path: str, *, allow_pickle: bool = False) -> dict:
    """Load a model after checking its sha256 file.

    A ``.skops`` file is loaded without running code from it: only types from scikit-learn,
    faceprobe, numpy and scipy are accepted. A ``.joblib`` file is a pickle, which can run any
    code it holds (the sha256 proves the file is unchanged, not who made it): it is loaded only
    with ``allow_pickle=True``, for files you made yourself.

    Raises
    ------
    OptionError
        Missing file or hash file, hash mismatch, a pickle without ``allow_pickle``, foreign
        types, or not a faceprobe model.
    """
    if not os.path.isfile(path):
        raise OptionError("model", path, "no such file")
    fmt = MODEL_FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise OptionError("model", path, "a model file ends in .skops or .joblib")
    if fmt == "joblib" and not allow_pickle:
        raise OptionError("model", path, "is a joblib pickle: loading it can run any code it holds; load only a file you made, "
                                         "with `allow_pickle`, or refit it with a .skops output")
    try:
        with open(path + ".sha256", encoding="utf-8") as handle:
            expected = handle.read().split()[0]
    except (OSError, IndexError):
        raise OptionError("model", path, f"no {os.path.basename(path)}.sha256 next to it; refusing to load an unverified file") from None
    if file_sha256(path) != expected:
        raise OptionError("model", path, f"sha256 does not match {path}.sha256; the file changed after it was saved")
    try:
        model = _load_skops(path) if fmt == "skops" else _load_joblib(path)
    except OptionError:
        raise
    except Exception as exc:  # noqa: BLE001 -- unpickling raises many types
        raise OptionError("model", path, f"cannot load ({type(exc).__name__})") from None
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise OptionError("model", path, "not a faceprobe model")
    return model
