"""The fold layer under evaluation and model fitting: training rows, balancing, augmented views,
the fitted scaler and PCA, hyperparameter choice by inner CV, and the fit itself.

Two implementations share one interface, :class:`Fold`: in memory (features loaded, the
fold's distance matrices shared by svm and knn) and streamed (features left in the cache and
read in blocks, for heads with the ``streamed`` capability). :func:`storage` is the one place
that chooses between them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import FaceprobeError, OptionError
from ..heads.streamed import fit_prep
from ..config import EvalConfig
from ..data.diskrows import DiskMatrix, RowSet
from ..heads.fastpath import FoldMatrices
from ..heads.registry import HEADS, HeadSpec

__all__ = ["Fold", "make_fold", "choose_params", "fit_head", "fitted_steps", "through", "fit_all", "fit_config", "check_heads", "training_rows", "undersample", "storage"]


@dataclass
class Fold:
    """One training fold, prepared.

    Attributes
    ----------
    ytr, gtr : ndarray of str
        Labels and subjects of the training rows (balanced, with augmented views).
    fit_predict : callable (head, params, tr, te, y_fit) -> (estimator, pred, scores)
        Fit on training positions ``tr``, predict positions ``te`` (None: the test fold).
        ``scores`` are decision values or probabilities in ``estimator.classes_`` order.
    pipeline : callable (head, params) -> sklearn Pipeline
        Scaler, PCA and the head fitted on every training row (what ``fit`` saves).
    X_train, X_test : ndarray of float32 or None
        In memory: the scaled (and projected) training and test rows; None when streamed.
    notes : set of str
        What heads adapted in this fold (their ``prepare`` capability).
    inner : dict
        The inner-CV splits of the training rows, made once and shared by the fold's heads.
    engines : bool
        Heads run on the configured engines; False where rows are streamed from the cache
        (scikit-learn's block-wise fitters).
    cfg : EvalConfig
        The configuration the fold was made with (its engines).
    """

    ytr: np.ndarray
    gtr: np.ndarray
    fit_predict: Callable
    pipeline: Callable
    X_train: np.ndarray | None = None
    X_test: np.ndarray | None = None
    notes: set = field(default_factory=set)
    inner: dict = field(default_factory=dict)
    engines: bool = True
    cfg: EvalConfig | None = None

    def engine_for(self, head: str, params: dict):
        """The :class:`~faceprobe.classify.engines.EngineChoice` a head's fit with ``params`` ran on here."""
        from ..engines import EngineChoice

        if not self.engines:
            version = self.cfg.engine_status.get("sklearn", (None, None))[0]
            return EngineChoice("sklearn", version, "rows read from the cache in blocks: scikit-learn's block-wise fitters")
        spec = self.cfg.spec(head)
        return self.cfg.engine_for(spec, spec.merged(params))


def undersample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of a class-balanced subset: every class cut to the smallest one's count, at random."""
    classes, counts = np.unique(y, return_counts=True)
    n = counts.min()
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in classes])
    return np.sort(keep)


def _balanced_train(ds, train: np.ndarray, cfg: EvalConfig, seed: int) -> np.ndarray:
    if cfg.balance == "undersample":
        return train[undersample(ds.y[train], np.random.default_rng(seed))]
    return train


def training_rows(ds, train: np.ndarray, cfg: EvalConfig, seed: int, values: np.ndarray | None = None):
    """The rows a model learns from: ``train`` balanced by undersampling when asked, then the
    training images' augmented views (when ``augmented``), with their labels (or ``values``, a
    regression target per row) and subjects. A view carries its image's label and subject."""
    train = _balanced_train(ds, train, cfg, seed)
    y = ds.y if values is None else values
    Xtr, ytr, gtr = [ds.X[train]], [y[train]], [ds.groups[train]]
    if cfg.augmented:
        for view in sorted(ds.views):
            rows = ds.views[view][train]
            ok = np.isfinite(rows).all(axis=1)
            Xtr.append(rows[ok])
            ytr.append(y[train][ok])
            gtr.append(ds.groups[train][ok])
    return np.concatenate(Xtr), np.concatenate(ytr), np.concatenate(gtr)


def _balance_args(spec: HeadSpec, balance: str, y_fit: np.ndarray) -> tuple[dict, dict]:
    """(fit kwargs, estimator params) that implement ``balance="class-weight"`` for a head."""
    if balance != "class-weight":
        return {}, {}
    if spec.balance == "class_weight":
        return {}, {"class_weight": "balanced"}
    from sklearn.utils.class_weight import compute_sample_weight

    return {"sample_weight": compute_sample_weight("balanced", y_fit)}, {}


MIN_CACHE_MB = 0.01
"""The smallest kernel cache a scaled estimator gets (libsvm keeps at least two columns anyway)."""


def _scale_cache(est, scale: float) -> None:
    """Give an estimator with a kernel cache (``cache_size``, in MB) ``scale`` of it (see ``EvalConfig.as_rows``)."""
    inner = getattr(est, "estimator", est)
    if scale != 1.0 and "cache_size" in inner.get_params(deep=False):
        inner.set_params(cache_size=max(MIN_CACHE_MB, float(inner.get_params(deep=False)["cache_size"]) * scale))


def fit_head(spec: HeadSpec, params: dict, X: np.ndarray, y: np.ndarray, seed: int, fit_kwargs: dict, est_params: dict,
         notes: set, *, run: tuple = ("sklearn", 1), cache_scale: float = 1.0):
    """Build the head on the engine ``run[0]`` with ``run[1]`` threads and fit it; where oneDAL
    fell back to scikit-learn inside the fit, a note says so."""
    from ..engines import watch_fallback

    engine, cores = run
    if engine == "sklearn":
        est = spec.build(params, seed)
        if est_params:
            est.set_params(**est_params)
        _scale_cache(est, cache_scale)
        if spec.prepare is not None:
            note = spec.prepare(est, y)
            if note:
                notes.add(note)
        if cores > 1 and spec.spread is not None:
            est = spec.spread(est, cores)
    else:
        est = spec.engines[engine].build(params, seed, cores)
        if est_params:
            est.set_params(**est_params)
        _scale_cache(est, cache_scale)
    with warnings.catch_warnings(), watch_fallback(engine) as fell:
        for category in spec.warnings():
            warnings.simplefilter("ignore", category)
        est.fit(X, y, **fit_kwargs)
    if fell:
        notes.add(f"{spec.name}: {engine} fell back to scikit-learn in fit ({fell[0]})")
    return est


def fitted_steps(cfg: EvalConfig, Xtr: np.ndarray, seed: int, blocks=None, also=()) -> tuple[list, np.ndarray]:
    """What is fitted on a fold's training rows before any head: the imputer (where vectors are
    missing), the scaler (fused keys weighted as blocks; :func:`~faceprobe.classify.data.prep.fitted_prep`)
    and ``cfg.pca``'s PCA, fitted on ``Xtr`` (a copy: scaled in place); returns the steps and
    ``Xtr`` through them as float32. ``also``: the other rows the steps will transform."""
    from sklearn.decomposition import PCA

    from ..data.prep import fitted_prep

    steps, Xtr = fitted_prep(Xtr, blocks, also)
    if cfg.pca:
        steps.append(("pca", PCA(n_components=cfg.pca, random_state=seed).fit(Xtr)))
        Xtr = steps[-1][1].transform(Xtr)
    return steps, Xtr.astype(np.float32, copy=False)


def through(steps: list, X: np.ndarray) -> np.ndarray:
    """Rows ``X`` (a copy: scaled in place) through fitted steps, as float32."""
    for name, step in steps:
        X = step.transform(X, copy=False) if name == "scale" else step.transform(X)
    return X.astype(np.float32, copy=False)


def _scores_and_pred(spec: HeadSpec, est, X: np.ndarray, engine: str, notes: set):
    """``(predictions, scores)``: decision values where the estimator has them, else probabilities."""
    from ..engines import watch_fallback

    with watch_fallback(engine) as fell:
        scores = est.decision_function(X) if hasattr(est, "decision_function") else est.predict_proba(X)
        pred = spec.from_scores(est.classes_, scores) if spec.from_scores is not None else est.predict(X)
    if fell:
        notes.add(f"{spec.name}: {engine} fell back to scikit-learn in predict ({fell[0]})")
    return pred, scores


class InMemory:
    """Folds of a loaded feature matrix: scaler and PCA fitted on the training rows, one
    :class:`FoldMatrices` serving every head and hyperparameter of the fold."""

    @staticmethod
    def check(ds, cfg: EvalConfig, fitting: bool = False) -> None:
        """Every head runs in memory."""

    @staticmethod
    def fold(ds, train: np.ndarray, test: np.ndarray, cfg: EvalConfig, seed: int) -> Fold:
        Xtr, ytr, gtr = training_rows(ds, train, cfg, seed)  # a copy of the rows: scaled in place below
        Xte = ds.X[test] if len(test) else None  # fit: no test rows
        steps, Xtr = fitted_steps(cfg, Xtr, seed, ds.spec.get("blocks"), (Xte,))
        Xte = Xtr[:0] if Xte is None else through(steps, Xte)
        grow = cfg.as_rows / len(Xtr) if cfg.as_rows and len(Xtr) else 1.0  # a calibration sample: the run's fold it stands for
        m = FoldMatrices(Xtr, Xte, stands_for=round((len(Xtr) + len(Xte)) * grow))
        test_pos = np.arange(m.n_train, len(m))
        notes: set = set()

        def fit_predict(head, params, tr, te, y_fit, cores=None):
            spec = cfg.spec(head)
            p, te = spec.merged(params), test_pos if te is None else te
            fit_kwargs, est_params = _balance_args(spec, cfg.balance, y_fit)
            engine, cores = cfg.engine_for(spec, p).name, cfg.cores if cores is None else cores
            if engine == "sklearn" and spec.precomputed is not None:
                got = spec.precomputed(p, m, tr, te, y_fit, seed, fit_kwargs, est_params, cores=cores)
                if got is not None:
                    return got
            est = fit_head(spec, p, m.rows(tr), y_fit, seed, fit_kwargs, est_params, notes, run=(engine, cores),
                           cache_scale=min(1.0, 1.0 / grow ** 2))
            pred, scores = _scores_and_pred(spec, est, m.rows(te), engine, notes)
            return est, pred, scores

        def pipeline(head, params):
            from sklearn.pipeline import Pipeline

            spec = cfg.spec(head)
            p = spec.merged(params)
            fit_kwargs, est_params = _balance_args(spec, cfg.balance, ytr)
            run = (cfg.engine_for(spec, p).name, cfg.cores)
            est = fit_head(spec, p, m.Xtr, ytr, seed, fit_kwargs, est_params, notes, run=run)
            return Pipeline(steps + [("head", est)])

        return Fold(ytr, gtr, fit_predict, pipeline, Xtr, Xte, notes, cfg=cfg)


class Streamed:
    """Folds of a matrix left in the cache: rows read in blocks, the scaler and PCA fitted in
    passes over them, heads through their ``streamed`` capability."""

    @staticmethod
    def check(ds, cfg: EvalConfig, fitting: bool = False) -> None:
        """Refuse, before any work, heads that cannot read their rows in blocks."""
        def able(spec):
            return (spec.streamed_pipeline if fitting else spec.streamed) is not None

        refused = [h for h in cfg.heads if not able(cfg.spec(h))]
        able = [n for n, s in HEADS.items() if able(s)]
        if refused:
            verb = "needs" if len(refused) == 1 else "need"
            raise FaceprobeError(f"{', '.join(refused)} {verb} the feature matrix in memory, but {ds.memory.describe(*ds.X.shape)}; "
                                 f"heads that {'train' if fitting else 'read it'} in blocks: {', '.join(able)} "
                                 f"(or raise `max_memory`{'' if fitting else ', or lower `jobs`'})")

    @staticmethod
    def fold(ds, train: np.ndarray, test: np.ndarray, cfg: EvalConfig, seed: int) -> Fold:
        train = _balanced_train(ds, train, cfg, seed)
        parts = [(ds.X, train)] + ([(ds.views[v], train) for v in sorted(ds.views)] if cfg.augmented else [])
        rows = RowSet(parts)
        y_all = np.concatenate([ds.y[idx] for _, idx in parts])
        g_all = np.concatenate([ds.groups[idx] for _, idx in parts])
        prep, used = fit_prep(rows, cfg.pca)
        rows, ytr, gtr = rows.subset(used), y_all[used], g_all[used]
        test_rows = RowSet([(ds.X, test)])
        dim = cfg.pca or ds.X.shape[1]
        class_weight = "balanced" if cfg.balance == "class-weight" else None

        def fit_predict(head, params, tr, te, y_fit, cores=None):  # block reads are sequential: one thread
            spec = cfg.spec(head)
            pred_rows = test_rows if te is None else rows.subset(te)
            return spec.streamed(spec.merged(params), rows.subset(tr), y_fit, pred_rows, prep, dim, class_weight)

        def pipeline(head, params):
            spec = cfg.spec(head)
            return spec.streamed_pipeline(spec.merged(params), rows, ytr, prep, dim, class_weight)

        return Fold(ytr, gtr, fit_predict, pipeline, engines=False, cfg=cfg)


def storage(ds) -> type:
    """:class:`InMemory` or :class:`Streamed`: the one place that looks at where the rows are."""
    return Streamed if isinstance(ds.X, DiskMatrix) else InMemory


def check_heads(ds, cfg: EvalConfig, fitting: bool = False) -> None:
    """Refuse heads that cannot run on this dataset under ``cfg`` (class weights, rows on disk)."""
    if cfg.balance == "class-weight":
        refused = [h for h in cfg.heads if cfg.spec(h).balance is None]
        if refused:
            raise OptionError("balance", "class-weight", f"{', '.join(refused)} take{'s' if len(refused) == 1 else ''} "
                              f"no class weights; use undersample with {', '.join(refused)}")
    storage(ds).check(ds, cfg, fitting)


def make_fold(ds, train: np.ndarray, test: np.ndarray, cfg: EvalConfig, seed: int) -> Fold:
    """Prepare one fold (rows ``train`` to learn from, ``test`` to predict) where the rows are."""
    return storage(ds).fold(ds, train, test, cfg, seed)


def choose_params(head: str, cfg: EvalConfig, fold: Fold, seed: int) -> tuple[dict, dict]:
    """Pick hyperparameters by inner CV on the training fold (balanced accuracy).

    Returns
    -------
    params, scores : dict, dict
        The chosen combination, and every combination's mean inner score (empty without a grid).
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    from .core import pick_params

    cands = cfg.head(head).candidates
    if len(cands) == 1:
        return cands[0], {}
    ytr, gtr = fold.ytr, fold.gtr
    k = min(cfg.inner_cv, int(np.unique(ytr, return_counts=True)[1].min()))
    if k < 2:
        raise FaceprobeError("a class has fewer than 2 training rows: too few for the inner CV of `params` grids")
    inner = fold.inner.get((k, seed, cfg.split.group))
    if inner is None:  # the same inner splits serve every head of the fold
        dummy = np.zeros(len(ytr))
        if cfg.split.group:
            inner = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(dummy, ytr, gtr))
        else:
            inner = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(dummy, ytr))
        fold.inner[(k, seed, cfg.split.group)] = inner

    def score(params, tr, te):
        return balanced_accuracy_score(ytr[te], fold.fit_predict(head, params, tr, te, ytr[tr], cores=1)[1])

    return pick_params(cands, inner, score, cfg.cores)


def fit_config(ds, cfg: EvalConfig, head: str) -> EvalConfig:
    """The configuration of one fit of ``head`` on every row: checked, engines' status taken, every core."""
    from dataclasses import replace

    from ..config import cores_of
    from ..engines import check_engine

    check_heads(ds, EvalConfig(heads=[head], balance=cfg.balance, specs=cfg.specs), fitting=True)
    status = cfg.engine_status or check_engine(cfg.engine, {head: cfg.spec(head)}, dict(HEADS.items()))
    return replace(cfg, cores=cores_of(cfg.jobs), engine_status=status)  # one fit: every core


def fit_all(ds, cfg: EvalConfig, head: str, seed: int):
    """Scaler, optional PCA and ``head`` fitted on every row (balanced and with views as in a fold).

    ``cfg`` is made ready by :func:`fit_config` (it keeps ``auto``'s plan, where the caller made one).

    Returns
    -------
    pipeline, params, inner_scores, n_rows, engine
        ``engine``: the :class:`~faceprobe.classify.engines.EngineChoice` the pipeline's head ran on.
    """
    cfg = fit_config(ds, cfg, head)
    fold = make_fold(ds, np.arange(len(ds.y)), np.arange(0), cfg, seed)
    params, inner = choose_params(head, cfg, fold, seed)
    return fold.pipeline(head, params), params, inner, int(len(fold.ytr)), fold.engine_for(head, params)
