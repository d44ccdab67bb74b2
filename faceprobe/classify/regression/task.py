"""The regression task: what one evaluation does differently for a continuous target (folds fitted
and scored, metrics with their direction, clips averaged, the target permuted, a model fitted).
The folds run in every task's core, :func:`~faceprobe.classify.fitting.core.evaluate_task`; the
add-ons (permutations, curves, within-corpus figures, clips, grids) in every task's run loop,
:func:`faceprobe.classify.run.run_task`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from ...errors import FaceprobeError, OptionError
from ..fitting.checks import check_grid, row_limits
from ..fitting.core import FoldTask, evaluate_task, pick_params
from ..fitting.folds import fit_head, fitted_steps, through, training_rows
from ..protocols.splits import make_splits
from .figures import clip_figures, fold_figures, head_figures
from .metrics import REGRESSION_METRICS, regression_figures
from .targets import check_in_bins, target_values

__all__ = ["Regression", "regression_tasks"]


class _TargetFold:
    """One outer fold of a regression: the training rows' imputer, scaler and PCA fitted once;
    hyperparameters chosen on a fixed split's validation rows, or by inner CV with those steps
    fitted again inside each inner training fold."""

    def __init__(self, ds, cfg, fold_task: FoldTask, task: "Regression"):
        self.ds, self.cfg, self.fold_task, self.task = ds, cfg, fold_task, task
        self.values = task.target(ds)
        self.Xtr, self.ytr, self.gtr = training_rows(ds, fold_task.train, cfg, fold_task.seed, self.values)
        val = fold_task.val if fold_task.val is not None and len(fold_task.val) else None
        self.blocks = ds.spec.get("blocks")
        self.steps, self.Xtr_t = fitted_steps(cfg, np.array(self.Xtr, copy=True), fold_task.seed, self.blocks,
                                              (ds.X[fold_task.test], ds.X[val] if val is not None else None))
        self.val = None if val is None else (through(self.steps, ds.X[val]), self.values[val])
        self.Xte = through(self.steps, ds.X[fold_task.test]) if len(fold_task.test) else None
        self.notes: set = set()

    def _predict(self, head: str, params: dict, X: np.ndarray, y: np.ndarray, X_new: np.ndarray) -> np.ndarray:
        spec = self.cfg.spec(head)
        return fit_head(spec, spec.merged(params), X, y, self.fold_task.seed, {}, {}, self.notes).predict(X_new)

    def choose(self, head: str) -> tuple[dict, dict]:
        cands = self.cfg.head(head).candidates
        if len(cands) == 1:
            return cands[0], {}
        sign = -1 if self.task.lower_is_better else 1
        if self.val is not None:
            splits = [((self.Xtr_t, self.ytr), self.val)]
        else:
            splits = [(self._inner_part(tr, te)) for tr, te in self._inner_splits()]

        def score(params, train, test):
            return self.task.score(test[1], self._predict(head, params, *train, test[0]))

        return pick_params(cands, splits, score, sign=sign)

    def _inner_splits(self) -> list:
        from sklearn.model_selection import KFold, StratifiedGroupKFold

        cfg, y, g, seed = self.cfg, self.ytr, self.gtr, self.fold_task.seed
        k = min(cfg.inner_cv, len(set(g)) if cfg.split.group else len(y))
        if k < 2:
            raise FaceprobeError("too few training subjects for the inner CV of `params` grids")
        if cfg.split.group:
            return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(self.Xtr, np.zeros(len(y)), g))
        return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(self.Xtr))

    def _inner_part(self, tr: np.ndarray, te: np.ndarray) -> tuple:
        """An inner fold's ((training rows, values), (test rows, values)), its steps fitted on its training rows."""
        steps, X = fitted_steps(self.cfg, self.Xtr[tr], self.fold_task.seed, self.blocks, (self.Xtr[te],))
        return (X, self.ytr[tr]), (through(steps, self.Xtr[te]), self.ytr[te])

    def fit(self, head: str, params: dict):
        spec = self.cfg.spec(head)
        return fit_head(spec, spec.merged(params), self.Xtr_t, self.ytr, self.fold_task.seed, {}, {}, self.notes)

    def record(self, head: str, params: dict, est) -> dict:
        ds, test = self.ds, self.fold_task.test
        pred = est.predict(self.Xte).astype(float)
        y_true = self.values[test]
        return {"engine": "sklearn", "cores": 1, "n_train": int(len(self.ytr)), "n_test": int(len(test)),
                **fold_figures(y_true, pred, self.task.edges), "test_paths": ds.paths[test].tolist(),
                "y_true": y_true.tolist(), "y_pred": np.round(pred, 6).tolist(), "test_subjects": ds.groups[test].tolist()}


@dataclass(frozen=True)
class Regression:
    """One target of a regression run.

    Attributes
    ----------
    column : str
        The image table's column (or ``label``) holding the target.
    metric : str
        The figure that picks hyperparameters and ranks cells, in its own direction.
    edges : tuple or None
        Bin edges: per-bin figures beside the continuous ones.
    given : ndarray or None
        The target's values replaced (a permutation); None: read from the dataset.
    """

    column: str
    metric: str
    edges: tuple | None = None
    given: np.ndarray | None = field(default=None, compare=False, repr=False)
    regression: ClassVar[bool] = True

    @property
    def lower_is_better(self) -> bool:
        return REGRESSION_METRICS[self.metric] == "lower"

    @property
    def desc(self) -> str:
        return f"regress {self.column}"

    def values(self, ds) -> np.ndarray:
        """What a permutation permutes: the target's values for the dataset's rows."""
        return target_values(ds, self.column)

    def target(self, ds) -> np.ndarray:
        """The values this evaluation learns: the dataset's, or those given."""
        return self.values(ds) if self.given is None else self.given

    def score(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The metric oriented so that higher is better (NaN, an undefined correlation, is the worst)."""
        v = regression_figures(y_true, y_pred)[self.metric]
        return -np.inf if not np.isfinite(v) else (-v if self.lower_is_better else v)

    def evaluate(self, ds, cfg, values: np.ndarray | None = None) -> dict:
        """Every regressor on ``ds`` under ``cfg``'s protocol (``values``: the target replaced, as a permutation does)."""
        return evaluate_task(ds, cfg, replace(self, given=values))

    def ready(self, ds, cfg):
        if not isinstance(ds.X, np.ndarray):
            raise OptionError("max_memory", "auto", "regression needs the feature matrix in memory; raise `max_memory`")
        check_grid(cfg)
        return cfg

    def splits(self, ds, cfg) -> list:
        """The outer folds: a fixed split's parts, or (grouped) shuffled splits of the rows (one pseudo-class)."""
        if cfg.split.fixed is not None:
            return [(0, ds.fixed.train, ds.fixed.test)]
        return make_splits(np.zeros(len(ds.y), dtype=str), ds.groups if cfg.split.group else None, cfg.split)

    def check(self, ds, cfg, splits: list) -> dict[str, str]:
        """Refuse a constant training target and PCA the smallest fold cannot hold; return heads whose own default cannot fit."""
        values, per_repeat = self.target(ds), {}
        for r, train, _ in splits:
            fold = per_repeat.get(r, 0)
            per_repeat[r] = fold + 1
            if np.ptp(values[train]) == 0:
                raise FaceprobeError(f"`target` {self.column}: every training row of repeat {r}, fold {fold} has the value "
                                     f"{values[train][0]:g}; a regressor cannot learn from a constant target (filter the rows "
                                     "with `where`, or choose another protocol)")
        n = min(len(train) for _, train, _ in splits)
        if cfg.pca is not None and not 1 <= cfg.pca <= min(n, ds.X.shape[1]):
            raise OptionError("pca", cfg.pca, f"must be between 1 and {min(n, ds.X.shape[1])} (training rows and feature size)")
        return row_limits(cfg, n)

    def split_notes(self, ds, splits: list) -> list[str]:
        return []

    def plan_engines(self, ds, cfg, splits: list, workers: int):
        """Regressors run on scikit-learn (no other engine yet): nothing to choose."""
        return cfg, None

    def fold(self, ds, cfg, fold_task: FoldTask) -> _TargetFold:
        return _TargetFold(ds, cfg, fold_task, self)

    def summarize(self, per_head: dict, ds, cfg) -> dict:
        seed = cfg.split.seed if cfg.split.fixed is not None else None
        return {h: head_figures(folds, cfg.split.repeats, self.edges, seed) if not isinstance(folds, str) else
                {"summary": {m: None for m in REGRESSION_METRICS}, "per_class": {}, "confusion": None, "folds": [], "engine": [],
                 "error": folds} for h, folds in per_head.items()}

    def after_notes(self, ds, splits: list, decisions) -> list[str]:
        """Say when test folds hold one true value only (LOSO with a target constant within each
        subject): agreement and correlation are undefined there, so the fold means leave them out."""
        values = self.target(ds)
        flat = sum(1 for _, _, test in splits if len(test) and np.ptp(values[test]) == 0)
        if not flat:
            return []
        return [f"in {flat} of {len(splits)} test folds every row has the same {self.column}: Pearson, Spearman, ICC(3,1) and "
                "CCC are undefined there (they measure agreement across varied values), so their fold means leave those folds out"
                + (" and are not given" if flat == len(splits) else "") + "; the pooled figures use every fold's predictions"]

    def describe(self, ds) -> dict:
        return {"classes": [], "class_counts": {}}

    def permuted(self, per_key: dict, cfg):
        """``score(dataset, values)`` of one permutation: None where it left a training fold constant."""
        quiet = replace(cfg, progress=False)

        def score(d, values):
            try:
                return self.evaluate(replace(d, notes=[]), quiet, values)
            except FaceprobeError:
                return None

        return score

    def clip_figures(self, head_result: dict, clip_of: dict, classes: list, repeats: int) -> dict:
        return clip_figures(head_result, clip_of, classes, repeats)

    def engines(self, per_key: dict, cfg) -> tuple[dict, list[str]]:
        """Regressors run on scikit-learn (no other engine yet): per head, and no note."""
        import sklearn

        return {h: [{"engine": "sklearn", "version": sklearn.__version__, "device": "cpu"}] for h in cfg.heads}, []

    def finish(self, res: dict, datasets: list) -> None:
        """The target named in every record, and its summary."""
        for record in res["cells"] + res["folds"] + res["grid"]:
            record["target"] = self.column
        values = self.values(datasets[0])
        res["target_summary"] = {self.column: {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                               "min": float(values.min()), "max": float(values.max())}}

    def fit(self, ds, cfg, weights_info: dict, model_format: str) -> dict:
        """The model record of ``cfg``'s one regressor: cross-validated first (for the record), then
        imputer, scaler, optional PCA and the head fitted on every row as in a fold (the same block
        weighting of fused keys), hyperparameters chosen by inner CV on them."""
        import sklearn
        from sklearn.pipeline import Pipeline

        from ..fitting.record import model_record
        from .heads import REGRESSORS

        head = cfg.heads[0]
        if model_format == "skops" and head not in REGRESSORS.names():
            raise OptionError("heads", head, "a .skops model holds the registered regressors only; use a .joblib output")
        cv = self.evaluate(ds, cfg)
        work = _TargetFold(ds, cfg, FoldTask(0, 0, np.arange(len(ds.y)), np.arange(0), cfg.split.seed), self)
        params, inner = work.choose(head)
        est = work.fit(head, params)
        r, values = cv["heads"][head], self.target(ds)
        return model_record(ds, weights_info, head=head, params=cfg.spec(head).merged(params), inner=inner,
                            engine={"engine": "sklearn", "version": sklearn.__version__, "device": "cpu"},
                            pipeline=Pipeline(work.steps + [("head", est)]), trained_rows=len(work.ytr), classes=[],
                            cv={**{k: v for k, v in cv.items() if k != "heads"}, "summary": r["summary"], "pooled": r.get("pooled"),
                                **({"error": r["error"]} if "error" in r else {})},
                            task="regression", target=self.column, metric=self.metric,
                            target_range=[float(values.min()), float(values.max())], notes=sorted(work.notes))


def regression_tasks(plan, datasets: list) -> list[Regression]:
    """One task per target of the plan, each refused before any fold runs when its column is
    missing, not numeric, or outside the bins (every key has the same rows, in one order)."""
    tasks = []
    for column in plan.targets:
        values = target_values(datasets[0], column)
        if plan.bins is not None:
            check_in_bins(datasets[0], values, plan.bins, column)
        tasks.append(Regression(column, plan.metric, plan.bins))
    return tasks
