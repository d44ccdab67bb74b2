"""Cross-validate regressor heads on one target: scaling and PCA fitted inside training folds,
hyperparameters chosen by inner CV (or on a fixed split's validation part) with the run's metric
in its direction, predictions scored per fold and pooled."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ...errors import FaceprobeError, OptionError
from ..config import EvalConfig
from ..evaluate import FoldTask, check_grid, fold_workers, row_limits, run_fold_tasks
from ..fitting.folds import training_rows
from ..heads.memory import PeakRSS
from ..heads.registry import head_grid
from ..protocols.splits import make_splits
from .metrics import REGRESSION_METRICS, regression_figures
from .figures import fold_figures, head_figures

__all__ = ["TargetSpec", "evaluate_target", "fit_head", "prep_steps", "choose_params", "target_splits"]


@dataclass(frozen=True)
class TargetSpec:
    """One target: its column, values per dataset row, the metric that picks (with its direction), and bins."""

    column: str
    values: np.ndarray
    metric: str
    edges: tuple | None = None

    @property
    def lower_is_better(self) -> bool:
        return REGRESSION_METRICS[self.metric] == "lower"


def _score(target: TargetSpec, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The metric oriented so that higher is better (NaN, an undefined correlation, is the worst)."""
    v = regression_figures(y_true, y_pred)[target.metric]
    return -np.inf if not np.isfinite(v) else (-v if target.lower_is_better else v)


def fit_head(spec, params: dict, X: np.ndarray, y: np.ndarray, seed: int, notes: set):
    """Build the head with ``params`` (its ``prepare`` may adapt it and add a note), fit it on ``X``, ``y``."""
    est = spec.build(spec.merged(params), seed)
    if spec.prepare is not None:
        note = spec.prepare(est, y)
        if note:
            notes.add(note)
    with warnings.catch_warnings():
        for category in spec.warnings():
            warnings.simplefilter("ignore", category)
        est.fit(X, y)
    return est


def prep_steps(cfg: EvalConfig, X: np.ndarray, seed: int, blocks=None, also=()):
    """The imputer (where vectors are missing), scaler and PCA fitted on training rows ``X``, as a
    list of (name, fitted step): :func:`~faceprobe.classify.data.prep.fitted_prep`, which ``also``
    (the rows the steps will transform) and ``blocks`` (fused keys' widths) go to."""
    from sklearn.decomposition import PCA

    from ..data.prep import fitted_prep

    steps, scaled = fitted_prep(np.array(X, copy=True), blocks, also)
    if cfg.pca:
        steps.append(("pca", PCA(n_components=cfg.pca, random_state=seed).fit(scaled)))
    return steps


def _apply(steps, X: np.ndarray) -> np.ndarray:
    for _, step in steps:
        X = step.transform(X)
    return X.astype(np.float32)


def choose_params(spec, cfg: EvalConfig, target: TargetSpec, X: np.ndarray, y: np.ndarray, g: np.ndarray, seed: int,
                  notes: set, *, blocks=None) -> tuple[dict, dict]:
    """The grid combination with the best mean inner-CV score (grouped by subject when splits are)."""
    from sklearn.model_selection import KFold, StratifiedGroupKFold

    cands = head_grid(spec, cfg.grid)
    if len(cands) == 1:
        return cands[0], {}
    k = min(cfg.inner_cv, len(set(g)) if cfg.split.group else len(y))
    if k < 2:
        raise FaceprobeError("too few training subjects for the inner CV of `params` grids")
    if cfg.split.group:
        inner = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, np.zeros(len(y)), g))
    else:
        inner = list(KFold(n_splits=k, shuffle=True, random_state=seed).split(X))
    folds = []
    for tr, te in inner:  # each inner fold's scaler and PCA fitted once, for every candidate
        steps = prep_steps(cfg, X[tr], seed, blocks, (X[te],))
        folds.append((_apply(steps, X[tr]), y[tr], _apply(steps, X[te]), y[te]))
    scores = [float(np.mean([_score(target, yte, fit_head(spec, params, Xtr, ytr, seed, notes).predict(Xte))
                             for Xtr, ytr, Xte, yte in folds])) for params in cands]
    return _best(cands, scores, target)


def _best(cands: list[dict], scores: list[float], target: TargetSpec) -> tuple[dict, dict]:
    """The candidate with the best score (the first on ties), and every candidate's score in the metric's own sign."""
    best = max(range(len(cands)), key=lambda i: (scores[i], -i))
    sign = -1 if target.lower_is_better else 1
    return cands[best], {", ".join(f"{k}={v}" for k, v in sorted(c.items())): sign * s for c, s in zip(cands, scores)}


def _run_fold(ds, cfg: EvalConfig, target: TargetSpec, task: FoldTask) -> list[dict]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # the same numbers on any number of cores
        return _fold_heads(ds, cfg, target, task)


def _fold_heads(ds, cfg: EvalConfig, target: TargetSpec, task: FoldTask) -> list[dict]:
    Xtr, ytr, gtr = training_rows(ds, task.train, cfg, task.seed, target.values)
    steps = prep_steps(cfg, Xtr, task.seed, ds.spec.get("blocks"),
                       (ds.X[task.test], ds.X[task.val] if task.val is not None else None))
    Xtr_t, Xte = _apply(steps, Xtr), _apply(steps, ds.X[task.test])
    notes: set = set()
    out = []
    for head in cfg.heads:
        spec = cfg.spec(head)
        where = {"head": head, "fold": task.fold, "repeat": task.repeat}
        try:
            with PeakRSS() as mem:
                if task.val is not None and len(task.val):
                    val = (_apply(steps, ds.X[task.val]), target.values[task.val])
                    params, inner = _choose_on_val(spec, cfg, target, (Xtr_t, ytr), val, task.seed, notes)
                else:
                    params, inner = choose_params(spec, cfg, target, Xtr, ytr, gtr, task.seed, notes, blocks=ds.spec.get("blocks"))
                pred = fit_head(spec, params, Xtr_t, ytr, task.seed, notes).predict(Xte).astype(float)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 -- one head failing (a plug-in may raise anything) must not lose the others
            out.append({**where, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
            continue
        y_true = target.values[task.test]
        out.append({**where, "params": params, "inner_scores": inner, "engine": "sklearn",
                    "cores": 1, "seconds": round(mem.seconds, 3), "peak_rss_bytes": int(mem.peak),
                    "added_rss_bytes": int(mem.added), "n_train": int(len(ytr)), "n_test": int(len(task.test)),
                    **fold_figures(y_true, pred, target.edges), "test_paths": ds.paths[task.test].tolist(),
                    "y_true": y_true.tolist(), "y_pred": np.round(pred, 6).tolist(),
                    "test_subjects": ds.groups[task.test].tolist()})
    if notes and out:
        out[-1]["fold_notes"] = sorted(notes)
    return out


def _choose_on_val(spec, cfg, target, train: tuple, val: tuple, seed, notes) -> tuple[dict, dict]:
    """The grid combination with the best score on the validation rows ``val`` (X, y), each fitted on ``train`` (X, y)."""
    (Xtr, ytr), (Xval, yval) = train, val
    cands = head_grid(spec, cfg.grid)
    if len(cands) == 1:
        return cands[0], {}
    scores = [_score(target, yval, fit_head(spec, p, Xtr, ytr, seed, notes).predict(Xval)) for p in cands]
    return _best(cands, scores, target)


def _check(ds, cfg: EvalConfig, target: TargetSpec, splits: list) -> dict[str, str]:
    """Refuse, before any fold runs, what cannot work; return heads whose own default cannot fit (head -> why)."""
    if not isinstance(ds.X, np.ndarray):
        raise OptionError("max_memory", "auto", "regression needs the feature matrix in memory; raise `max_memory`")
    check_grid(cfg)
    per_repeat: dict[int, int] = {}
    for r, train, _ in splits:
        fold = per_repeat.get(r, 0)
        per_repeat[r] = fold + 1
        if np.ptp(target.values[train]) == 0:
            raise FaceprobeError(f"`target` {target.column}: every training row of repeat {r}, fold {fold} has the value "
                                 f"{target.values[train][0]:g}; a regressor cannot learn from a constant target (filter the rows "
                                 "with `where`, or choose another protocol)")
    n = min(len(train) for _, train, _ in splits)
    if cfg.pca is not None and not 1 <= cfg.pca <= min(n, ds.X.shape[1]):
        raise OptionError("pca", cfg.pca, f"must be between 1 and {min(n, ds.X.shape[1])} (training rows and feature size)")
    return row_limits(cfg, n)


def target_splits(ds, cfg: EvalConfig) -> list:
    """The outer folds of a regression run: (repeat, train, test) triples."""
    fixed = ds.fixed if cfg.split.fixed is not None else None
    if fixed is not None:
        return [(0, fixed.train, fixed.test)]
    # one pseudo-class: k-fold and holdout are plain (grouped) shuffled splits of the rows
    return make_splits(np.zeros(len(ds.y), dtype=str), ds.groups if cfg.split.group else None, cfg.split)


def evaluate_target(ds, cfg: EvalConfig, target: TargetSpec) -> dict:
    """Evaluate every regressor head on ``target`` under the split protocol.

    Returns
    -------
    dict
        The shape classify's ``evaluate`` returns (``heads``, ``rows``, ``subjects``, ``splits``,
        ``notes``; ``classes`` empty): per head the ``summary`` (mean and std of each figure of
        :data:`~faceprobe.classify.regression.metrics.REGRESSION_METRICS`), ``pooled`` figures,
        ``per_subject`` errors, ``bins`` when asked, and the fold records with predictions.
    """
    from joblib import delayed

    splits = target_splits(ds, cfg)
    failed = _check(ds, cfg, target, splits)
    heads_given = list(cfg.heads)
    cfg = replace(cfg, heads=[h for h in cfg.heads if h not in failed])
    fixed = ds.fixed if cfg.split.fixed is not None else None
    per_repeat: dict[int, int] = {}
    tasks = []
    for r, train, test in splits:
        fold = per_repeat.get(r, 0)
        per_repeat[r] = fold + 1
        task = FoldTask(fold, r, train, test, cfg.split.seed + r, fixed.val if fixed is not None else None)
        tasks.append(delayed(_run_fold)(ds, cfg, target, task))
    workers = fold_workers(cfg.jobs, len(tasks))
    results = run_fold_tasks(tasks, [len(train) for _, train, _ in splits], ds, cfg, f"regress {target.column}", workers)
    flat = [res for fold in results for res in fold]
    fold_notes = [n for f in flat for n in f.pop("fold_notes", [])]
    seed = cfg.split.seed if fixed is not None else None
    heads = {h: head_figures([f for f in flat if f["head"] == h], cfg.split.repeats, target.edges, seed) if h not in failed else
             {"summary": {m: None for m in REGRESSION_METRICS}, "per_class": {}, "confusion": None, "folds": [], "engine": [],
              "error": failed[h]} for h in heads_given}
    notes = list(ds.notes) + (list(fixed.notes) if fixed is not None else [])
    notes += [f"{n} ({fold_notes.count(n)} of {len(splits)} folds)" for n in sorted(set(fold_notes))]
    notes += [f"{h}: no results: {r['error']}" for h, r in heads.items() if "error" in r]
    notes += _constant_fold_note(ds, target, splits)
    return {"classes": [], "rows": int(len(ds.y)), "subjects": int(len(set(ds.groups))) if ds.has_subjects else None,
            "class_counts": {}, "splits": len(splits), "notes": notes, "heads": heads}


def _constant_fold_note(ds, target, splits: list) -> list[str]:
    """Say when test folds hold one true value only (LOSO with a target constant within each
    subject): agreement and correlation are undefined there, so the fold means leave them out."""
    flat = sum(1 for _, _, test in splits if len(test) and np.ptp(target.values[test]) == 0)
    if not flat:
        return []
    return [f"in {flat} of {len(splits)} test folds every row has the same {target.column}: Pearson, Spearman, ICC(3,1) and CCC "
            "are undefined there (they measure agreement across varied values), so their fold means leave those folds out"
            + (" and are not given" if flat == len(splits) else "") + "; the pooled figures use every fold's predictions"]

