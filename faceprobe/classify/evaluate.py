"""Cross-validate heads on cached features, with everything that learns fitted inside training folds."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceprobeError
from .data import Dataset
from .diskrows import DiskMatrix
from .fastpath import FoldMatrices
from .fastpath import fit_predict as fit_predict_matrices
from .heads import HEADS
from .metrics import SUMMARY_METRICS, confusion_metrics, fold_metrics
from .splits import SplitSpec, make_splits

__all__ = ["EvalConfig", "evaluate", "prepare_fold", "training_rows", "BALANCE"]

BALANCE = ("none", "undersample", "class-weight")
_WEIGHTED = {"svm", "logreg"}  # take class_weight="balanced"
_SAMPLE_WEIGHTED = {"mlp", "dnn"}  # take sample_weight in fit


@dataclass
class EvalConfig:
    """What to evaluate and how.

    Attributes
    ----------
    heads : list of str
    grid : dict of str -> list
        ``--param`` values; each head uses the names it takes. More than one combination
        is chosen by an inner CV inside each outer training fold (nested CV).
    split : SplitSpec
    balance : str
        ``none``, ``undersample`` (training rows of larger classes dropped at random, per
        fold) or ``class-weight``.
    pca : int or None
        PCA components, fitted on the training fold.
    augmented : bool
        Add the training images' augmented views to training folds.
    inner_cv : int
        Folds of the inner CV that picks hyperparameters.
    jobs : int
        Parallel folds (joblib).
    progress : bool
        Show a progress bar over folds (stderr).
    backend : str
        ``local`` (joblib processes on this machine) or ``dask`` (joblib's Dask backend on a
        dask.distributed cluster; the ``dask`` extra). Results are identical either way.
    scheduler : str or None
        Dask scheduler address; None starts a local cluster with ``jobs`` workers.
    """

    heads: list[str]
    grid: dict = field(default_factory=dict)
    split: SplitSpec = field(default_factory=SplitSpec)
    balance: str = "none"
    pca: int | None = None
    augmented: bool = False
    inner_cv: int = 3
    jobs: int = 1
    progress: bool = False
    backend: str = "local"
    scheduler: str | None = None


def _head_grid(head: str, grid: dict) -> list[dict]:
    own = {k: v for k, v in grid.items() if k in HEADS[head].defaults}
    names = sorted(own)
    return [dict(zip(names, combo)) for combo in itertools.product(*(own[n] for n in names))] or [{}]


def _check_config(cfg: EvalConfig, ds: Dataset) -> None:
    if cfg.backend not in ("local", "dask"):
        raise FaceprobeError(f"--backend must be local or dask, got {cfg.backend!r}")
    if cfg.balance not in BALANCE:
        raise FaceprobeError(f"--balance must be one of {', '.join(BALANCE)}, got {cfg.balance!r}")
    taken = set().union(*(HEADS[h].defaults for h in cfg.heads))
    stray = sorted(set(cfg.grid) - taken)
    if stray:
        raise FaceprobeError(f"--param {stray[0]}: no selected head takes it ({', '.join(cfg.heads)})")
    if cfg.balance == "class-weight" and "knn" in cfg.heads:
        raise FaceprobeError("knn takes no class weights; use --balance undersample with knn")
    if cfg.pca is not None and not 1 <= cfg.pca <= ds.X.shape[1]:
        raise FaceprobeError(f"--pca must be between 1 and {ds.X.shape[1]}, got {cfg.pca}")
    if isinstance(ds.X, DiskMatrix):
        from .chunked import CHUNKED_HEADS

        refused = [h for h in cfg.heads if h not in CHUNKED_HEADS]
        if refused:
            raise FaceprobeError(f"{', '.join(refused)} need{'s' if len(refused) == 1 else ''} the feature matrix in memory, but "
                                 f"{ds.plan.describe(*ds.X.shape)}; heads that read it in blocks: {', '.join(CHUNKED_HEADS)} "
                                 f"(or raise --max-memory, or lower --jobs)")
    if cfg.split.group and not ds.has_subjects:
        raise FaceprobeError("--group subject: the cache does not know every image's subject; use --group none")


def _undersample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    classes, counts = np.unique(y, return_counts=True)
    n = counts.min()
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in classes])
    return np.sort(keep)


def training_rows(ds: Dataset, train: np.ndarray, cfg: EvalConfig, seed: int):
    """The rows a model learns from: ``train`` balanced by undersampling when asked, then the
    training images' augmented views (when ``--augmented``), with labels and subjects."""
    if cfg.balance == "undersample":
        train = train[_undersample(ds.y[train], np.random.default_rng(seed))]
    Xtr, ytr, gtr = [ds.X[train]], [ds.y[train]], [ds.groups[train]]
    if cfg.augmented:
        for view in sorted(ds.views):
            rows = ds.views[view][train]
            ok = np.isfinite(rows).all(axis=1)
            Xtr.append(rows[ok])
            ytr.append(ds.y[train][ok])
            gtr.append(ds.groups[train][ok])
    return np.concatenate(Xtr), np.concatenate(ytr), np.concatenate(gtr)


def prepare_fold(ds: Dataset, train: np.ndarray, test: np.ndarray, cfg: EvalConfig, seed: int):
    """Training and test matrices of one fold: balance, views, scaler and PCA fitted on training rows only.

    Returns
    -------
    Xtr, ytr, gtr, Xte : ndarrays
        ``gtr`` are the training rows' subjects (for grouped inner CV).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, gtr = training_rows(ds, train, cfg, seed)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(ds.X[test])
    if cfg.pca:
        pca = PCA(n_components=cfg.pca, random_state=seed).fit(Xtr)
        Xtr, Xte = pca.transform(Xtr), pca.transform(Xte)
    return Xtr.astype(np.float32), ytr, gtr, Xte.astype(np.float32)


def _balance_args(head: str, cfg: EvalConfig, y_fit: np.ndarray) -> tuple[dict, dict]:
    """(fit kwargs, estimator params) that implement ``--balance class-weight`` for a head."""
    if cfg.balance != "class-weight":
        return {}, {}
    if head in _WEIGHTED:
        return {}, {"class_weight": "balanced"}
    from sklearn.utils.class_weight import compute_sample_weight

    return {"sample_weight": compute_sample_weight("balanced", y_fit)}, {}


def _memory_fold(ds: Dataset, train, test, cfg: EvalConfig, seed: int):
    """Prepare one fold in memory: training labels and subjects, and its ``fit_predict``.

    ``fit_predict(head, params, tr, te, y_fit)`` takes positions in the training rows;
    ``te=None`` predicts the test fold. One :class:`FoldMatrices` serves every head and
    hyperparameter of the fold.
    """
    Xtr, ytr, gtr, Xte = prepare_fold(ds, train, test, cfg, seed)
    m = FoldMatrices(Xtr, Xte)
    test_pos = np.arange(m.n_train, len(m.X))

    def fit_predict(head, params, tr, te, y_fit):
        fit_kwargs, est_params = _balance_args(head, cfg, y_fit)
        return fit_predict_matrices(head, params, m, tr, test_pos if te is None else te, y_fit, seed, fit_kwargs, est_params)

    return ytr, gtr, fit_predict


def _choose(head: str, cands: list[dict], cfg: EvalConfig, fit_predict, ytr, gtr, seed: int) -> tuple[dict, dict]:
    """Pick hyperparameters by inner CV on the training fold (balanced accuracy)."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if len(cands) == 1:
        return cands[0], {}
    k = min(cfg.inner_cv, int(np.unique(ytr, return_counts=True)[1].min()))
    if k < 2:
        raise FaceprobeError("a class has fewer than 2 training rows: too few for the inner CV of --param grids")
    dummy = np.zeros(len(ytr))
    if cfg.split.group:
        inner = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(dummy, ytr, gtr))
    else:
        inner = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(dummy, ytr))
    scores = {}
    for i, params in enumerate(cands):
        vals = [balanced_accuracy_score(ytr[te], fit_predict(head, params, tr, te, ytr[tr])[1]) for tr, te in inner]
        scores[i] = float(np.mean(vals))
    best = max(scores, key=lambda i: (scores[i], -i))
    return cands[best], {str(sorted(c.items())): scores[i] for i, c in enumerate(cands)}


def _in_class_order(est, raw: np.ndarray, classes: list[str]) -> np.ndarray:
    """Scores with one column per dataset class (a class absent from training gets the minimum)."""
    if raw.ndim == 1:  # binary decision values: positive column is classes_[1]
        raw = np.stack([-raw, raw], axis=1)
    out = np.full((len(raw), len(classes)), float(np.min(raw)) - 1.0)
    for j, c in enumerate(classes):
        if c in est.classes_:
            out[:, j] = raw[:, list(est.classes_).index(c)]
    return out


def _run_fold(ds: Dataset, cfg: EvalConfig, fold: int, repeat: int, train, test, classes, seed: int) -> list[dict]:
    """One fold, every head. BLAS runs single-threaded, so the numbers do not depend on
    ``--jobs`` or on the machine's core count (iterative solvers such as lbfgs sum in a
    thread-count-dependent order)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_fold_heads(ds, cfg, fold, repeat, train, test, classes, seed)


def _run_fold_heads(ds, cfg, fold, repeat, train, test, classes, seed) -> list[dict]:
    if isinstance(ds.X, DiskMatrix):
        from .chunked import chunked_fold

        fold_ = chunked_fold(ds, train, test, cfg, seed)
        ytr, gtr, fit_predict = fold_.ytr, fold_.gtr, fold_.fit_predict
    else:
        ytr, gtr, fit_predict = _memory_fold(ds, train, test, cfg, seed)
    tr = np.arange(len(ytr))
    out = []
    for head in cfg.heads:
        params, inner = _choose(head, _head_grid(head, cfg.grid), cfg, fit_predict, ytr, gtr, seed)
        est, pred, raw = fit_predict(head, params, tr, None, ytr)
        scores = _in_class_order(est, raw, classes)
        met = fold_metrics(ds.y[test], pred, classes, scores)
        out.append({"head": head, "fold": fold, "repeat": repeat, "params": params, "inner_scores": inner,
                    "n_train": int(len(ytr)), "n_test": int(len(test)), **met,
                    "test_paths": ds.paths[test].tolist(), "y_true": ds.y[test].tolist(), "y_pred": list(map(str, pred)),
                    "scores": np.round(scores, 6).tolist()})
    return out


def _run_on_dask(tasks, ds: Dataset, cfg: EvalConfig, run):
    """Run the fold tasks through joblib's Dask backend (the dataset is scattered once)."""
    from joblib import Parallel, parallel_config

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise FaceprobeError("--backend dask needs dask.distributed: pip install 'faceprobe[dask]'") from None
    cluster = None
    try:
        if cfg.scheduler:
            client = Client(cfg.scheduler, timeout=10)
        else:
            workers = cfg.jobs if cfg.jobs > 0 else None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        raise FaceprobeError(f"--scheduler {cfg.scheduler}: cannot reach the Dask scheduler ({exc})") from None
    try:
        with client, parallel_config(backend="dask", scatter=[ds]):
            return run(Parallel(n_jobs=-1, return_as="generator")(tasks))
    finally:
        if cluster is not None:
            cluster.close()


def _aggregate(folds: list[dict], classes: list[str], repeats: int) -> dict:
    summary = {}
    for name in SUMMARY_METRICS:
        vals = [f[name] for f in folds if f[name] is not None]
        if not vals:
            summary[name] = None
            continue
        if repeats > 1:  # spread over repeated runs: std of each run's mean
            per_run = [np.mean([f[name] for f in folds if f["repeat"] == r and f[name] is not None]) for r in range(repeats)]
            summary[name] = {"mean": float(np.mean(per_run)), "std": float(np.std(per_run, ddof=1)), "over": "repeats"}
        else:
            summary[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "over": "folds"}
    cm = np.sum([f["confusion"] for f in folds], axis=0)
    pooled = confusion_metrics(cm, classes)
    return {"summary": summary, "per_class": pooled["per_class"], "confusion": cm.tolist(), "folds": folds}


def evaluate(ds: Dataset, cfg: EvalConfig) -> dict:
    """Evaluate every head under the split protocol.

    Parameters
    ----------
    ds : Dataset
    cfg : EvalConfig

    Returns
    -------
    dict
        ``heads``: per head the ``summary`` (mean and std of each metric), pooled
        ``per_class`` figures and ``confusion`` (summed over test folds, rows true), and the
        per-fold results; ``classes``, ``rows``, ``subjects``, ``splits``, ``notes``.
    """
    from joblib import Parallel, delayed

    _check_config(cfg, ds)
    classes = ds.classes
    splits = make_splits(ds.y, ds.groups if cfg.split.group else None, cfg.split)
    notes = list(ds.notes)
    for r, train, test in splits:
        missing = sorted(set(classes) - set(ds.y[test]))
        if missing:
            notes.append(f"repeat {r}: a test set has no {', '.join(missing)} rows (macro averages skip them there)")
            break
    per_repeat: dict[int, int] = {}
    tasks = []
    for r, train, test in splits:
        fold = per_repeat.get(r, 0)
        per_repeat[r] = fold + 1
        tasks.append(delayed(_run_fold)(ds, cfg, fold, r, train, test, classes, cfg.split.seed + r))
    from tqdm import tqdm

    def run(stream):
        return list(tqdm(stream, total=len(tasks), unit="fold", desc="classify", disable=not cfg.progress, file=sys.stderr))

    if cfg.backend == "dask":
        results = _run_on_dask(tasks, ds, cfg, run)
    elif cfg.jobs != 1:
        results = run(Parallel(n_jobs=cfg.jobs, return_as="generator")(tasks))
    else:
        results = run(t[0](*t[1], **t[2]) for t in tasks)
    flat = [res for fold in results for res in fold]
    heads = {h: _aggregate([f for f in flat if f["head"] == h], classes, cfg.split.repeats) for h in cfg.heads}
    return {
        "classes": classes,
        "rows": int(len(ds.y)),
        "subjects": int(len(set(ds.groups))) if ds.has_subjects else None,
        "class_counts": {c: int(np.sum(ds.y == c)) for c in classes},
        "splits": len(splits),
        "notes": notes,
        "heads": heads,
    }
