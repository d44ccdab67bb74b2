"""Classification, the task of evaluating heads on labels: its folds fitted and scored, its figures
summarised, clips voted, labels permuted. The run of folds itself is every task's:
:func:`~faceprobe.classify.fitting.core.evaluate_task`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..errors import FaceprobeError
from .config import EvalConfig
from .data.dataset import Dataset
from .fitting.checks import check_options, check_sizes
from .fitting.core import evaluate_task
from .fitting.folds import choose_params, make_fold
from .heads.registry import HEADS
from .metrics import SUMMARY_METRICS, confusion_metrics, fold_metrics
from .protocols.splits import make_splits

__all__ = ["EvalConfig", "Classification", "evaluate", "prepare_config", "outer_splits"]


def prepare_config(cfg: EvalConfig) -> EvalConfig:
    """The config with its heads' registry entries and every engine's status taken once (a study
    evaluates several keys with one config; workers get the entries with their tasks, so heads
    registered in this process only work there too). Returns ``cfg`` itself when already done.
    The values were checked once, by the option table (:func:`~faceprobe.classify.plan.make_plan`)."""
    if cfg.plans and cfg.engine_status:
        return cfg
    from .config import head_plans
    from .engines import check_engine

    specs = {h: cfg.specs.get(h) or HEADS.get(h) for h in cfg.heads}
    return replace(cfg, specs=specs, plans=cfg.plans or head_plans(specs, cfg.grid),
                   engine_status=cfg.engine_status or check_engine(cfg.engine, specs, dict(HEADS.items())))


def outer_splits(ds: Dataset, cfg: EvalConfig) -> list:
    """The outer folds of ``ds`` under ``cfg``'s protocol: (repeat, train, test) triples."""
    if cfg.split.fixed is not None:
        if ds.fixed is None:
            raise FaceprobeError("a fixed split needs the dataset's rows of each part (classify.fixedsplit.fixed_rows)")
        return [(0, ds.fixed.train, ds.fixed.test)]
    return make_splits(ds.y, ds.groups if cfg.split.group else None, cfg.split)


def _in_class_order(est, raw: np.ndarray, classes: list[str]) -> np.ndarray:
    """Scores with one column per dataset class (a class absent from training gets the minimum)."""
    if raw.ndim == 1:  # binary decision values: positive column is classes_[1]
        raw = np.stack([-raw, raw], axis=1)
    out = np.full((len(raw), len(classes)), float(np.min(raw)) - 1.0)
    for j, c in enumerate(classes):
        if c in est.classes_:
            out[:, j] = raw[:, list(est.classes_).index(c)]
    return out


class _ClassFold:
    """One outer fold of a classification: the fold prepared once (and a fixed split's validation
    rows), every head chosen, fitted and scored on it."""

    def __init__(self, ds: Dataset, cfg: EvalConfig, task):
        self.ds, self.cfg, self.task = ds, cfg, task
        self.prepared = make_fold(ds, task.train, task.test, cfg, task.seed)
        self.on_val = make_fold(ds, task.train, task.val, cfg, task.seed) if task.val is not None and len(task.val) else None
        self.notes = self.prepared.notes

    def choose(self, head: str) -> tuple[dict, dict]:
        if self.on_val is None:
            return choose_params(head, self.cfg, self.prepared, self.task.seed)
        return _choose_on_val(head, self.cfg, self.on_val, self.ds.y[self.task.val])

    def fit(self, head: str, params: dict):
        return self.prepared.fit_predict(head, params, np.arange(len(self.prepared.ytr)), None, self.prepared.ytr)

    def record(self, head: str, params: dict, fitted) -> dict:
        ds, test = self.ds, self.task.test
        est, pred, raw = fitted
        scores = _in_class_order(est, raw, ds.classes)
        met = fold_metrics(ds.y[test], pred, ds.classes, scores)
        choice = self.prepared.engine_for(head, params)
        if choice.note:
            self.notes.add(choice.note)
        return {"engine": choice.name, "cores": self.cfg.cores, "n_train": int(len(self.prepared.ytr)), "n_test": int(len(test)),
                **met, "test_paths": ds.paths[test].tolist(), "test_subjects": ds.groups[test].tolist(),
                "y_true": ds.y[test].tolist(), "y_pred": list(map(str, pred)), "scores": np.round(scores, 6).tolist()}


def _choose_on_val(head: str, cfg: EvalConfig, on_val, y_val: np.ndarray) -> tuple[dict, dict]:
    """The grid combination with the best balanced accuracy on the validation rows (each fitted
    on the training rows only)."""
    from sklearn.metrics import balanced_accuracy_score

    from .fitting.core import pick_params

    def score(params, tr, _):
        return balanced_accuracy_score(y_val, on_val.fit_predict(head, params, tr, None, on_val.ytr)[1])

    return pick_params(cfg.head(head).candidates, [(np.arange(len(on_val.ytr)), None)], score)


def _plan_engines(ds: Dataset, cfg: EvalConfig, splits: list, workers: int):
    """``auto``'s engine per head (timed, or remembered), announced with the run's size and its estimate."""
    from ..progress import announce, duration
    from .fitting.calibrate import plan_engines

    cfg, decisions = plan_engines(ds, cfg, splits, workers)
    size = f"{len(splits)} folds x {len(cfg.heads)} heads on {workers} process{'es' if workers > 1 else ''}"
    known = {h: d.estimate() for h, d in decisions.items() if d.estimate() is not None}
    if known:
        rest = [h for h in cfg.heads if h not in known]
        guess = f"; about {duration(sum(known.values()))} for {', '.join(known)}" + (f" ({', '.join(rest)} not timed)" if rest else "")
    else:
        guess = "; an estimate after the first fold"
    announce(f"classify {ds.key}: {size}{guess}", cfg.progress)
    return cfg, decisions


def _aggregate(folds: list[dict], classes: list[str], repeats: int) -> dict:
    failed = [f for f in folds if "error" in f]
    if failed:  # no figures from a subset of folds: they would not be comparable
        first = failed[0]
        return {"summary": {name: None for name in SUMMARY_METRICS}, "per_class": {}, "confusion": None, "folds": folds,
                "error": f"failed in {len(failed)} of {len(folds)} folds (first: repeat {first['repeat']}, fold {first['fold']}: "
                         f"{first['error']})"}
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
    return {"summary": summary, "per_class": pooled["per_class"], "confusion": cm.tolist(), "folds": folds,
            "pooled": {name: pooled[name] for name in SUMMARY_METRICS if pooled[name] is not None},
            "per_subject": _per_subject(folds), **_cost(folds)}


def _per_subject(folds: list[dict]) -> dict:
    """Per subject: test predictions and the share right, pooled over folds and repeats (which people fail)."""
    right: dict[str, list] = {}
    for f in folds:
        for s, t, p in zip(f.get("test_subjects", []), f["y_true"], f["y_pred"]):
            right.setdefault(str(s), []).append(t == p)
    return {s: {"n": len(v), "accuracy": float(np.mean(v))} for s, v in sorted(right.items())}


def _cost(folds: list[dict]) -> dict:
    """What a head cost: its engines, seconds over folds, and the highest resident memory of a
    fold's process while it ran (``added``: above the memory at its start)."""
    return {"engine": sorted({f["engine"] for f in folds}), "seconds": round(sum(f["seconds"] for f in folds), 3),
            "peak_rss_bytes": max(f["peak_rss_bytes"] for f in folds), "added_rss_bytes": max(f["added_rss_bytes"] for f in folds)}


@dataclass(frozen=True)
class Classification:
    """The classification task: what one evaluation does for labels (folds fitted and scored here,
    clips voted by mean scores, labels permuted); :class:`~faceprobe.classify.regression.task.Regression`
    is its counterpart for a target. Its folds run in :func:`~faceprobe.classify.fitting.core.evaluate_task`."""

    metric: str = "balanced_accuracy"
    regression: ClassVar[bool] = False
    lower_is_better: ClassVar[bool] = False
    desc: ClassVar[str] = "classify"

    def values(self, ds) -> np.ndarray:
        """What a permutation permutes: the labels."""
        return ds.y

    def evaluate(self, ds, cfg: EvalConfig, values: np.ndarray | None = None) -> dict:
        """Every head on ``ds`` under ``cfg``'s protocol (``values``: the labels replaced, as a permutation does)."""
        return evaluate_task(ds if values is None else replace(ds, y=values), cfg, self)

    def ready(self, ds, cfg: EvalConfig) -> EvalConfig:
        cfg = prepare_config(cfg)
        check_options(ds, cfg)
        return cfg

    def splits(self, ds, cfg: EvalConfig) -> list:
        return outer_splits(ds, cfg)

    def check(self, ds, cfg: EvalConfig, splits: list) -> dict[str, str]:
        return check_sizes(ds, cfg, splits)

    def split_notes(self, ds, splits: list) -> list[str]:
        for r, _, test in splits:
            missing = sorted(set(ds.classes) - set(ds.y[test]))
            if missing:
                return [f"repeat {r}: a test set has no {', '.join(missing)} rows (macro averages skip them there)"]
        return []

    def plan_engines(self, ds, cfg: EvalConfig, splits: list, workers: int):
        return _plan_engines(ds, cfg, splits, workers)

    def fold(self, ds, cfg: EvalConfig, fold_task) -> _ClassFold:
        return _ClassFold(ds, cfg, fold_task)

    def summarize(self, per_head: dict, ds, cfg: EvalConfig) -> dict:
        heads = {h: _aggregate(folds, ds.classes, cfg.split.repeats) if not isinstance(folds, str) else
                 {"summary": {name: None for name in SUMMARY_METRICS}, "per_class": {}, "confusion": None, "folds": [], "engine": [],
                  "error": folds} for h, folds in per_head.items()}
        if cfg.split.fixed is not None:
            from .protocols.fixed import fixed_figures

            heads = {h: fixed_figures(r, ds.fixed, ds.classes, cfg.split.seed) for h, r in heads.items()}
        return heads

    def after_notes(self, ds, splits: list, decisions: dict) -> list[str]:
        return [d.line for d in decisions.values()]

    def describe(self, ds) -> dict:
        return {"classes": ds.classes, "class_counts": {c: int(np.sum(ds.y == c)) for c in ds.classes}}

    def permuted(self, per_key: dict, cfg: EvalConfig):
        """``score(dataset, labels)`` of one permutation, on the engines the run chose (the same rows: no new timing)."""
        quiet = replace(cfg, progress=False)
        plans = {k: {h: d["engine"] for h, d in r["engine_plan"].items()} for k, r in per_key.items()}
        return lambda d, y: evaluate(replace(d, y=y, notes=[]), replace(quiet, engine_plan=plans[d.key]))

    def clip_figures(self, head_result: dict, clip_of: dict, classes: list, repeats: int) -> dict:
        from .data.aggregate import clip_figures

        return clip_figures(head_result, clip_of, classes, repeats)

    def engines(self, per_key: dict, cfg: EvalConfig) -> tuple[dict, list[str]]:
        used, note = _engines_used(per_key, cfg, cfg.engine_status)
        return used, [note]

    def finish(self, res: dict, datasets: list) -> None:
        """Nothing to add: labels are the records' own."""

    def fit(self, ds, cfg: EvalConfig, weights_info: dict, model_format: str) -> dict:
        """The model record of ``cfg``'s one head trained on every row (cross-validated first)."""
        from .model import fit_model

        return fit_model(ds, cfg, weights_info, metrics=self.evaluate(ds, cfg))


def _engines_used(per_key: dict, cfg: EvalConfig, status: dict) -> tuple[dict, str]:
    """Per head, the engine(s) its fits ran on with their versions and device, and a note saying it."""
    from .engines import ENGINES

    used = {}
    for h in cfg.heads:
        names = sorted({e for r in per_key.values() for e in r["heads"][h].get("engine", [])})
        used[h] = [{"engine": n, "version": status.get(n, (None, None))[0], "device": ENGINES.get(n).device} for n in names]
    words = ", ".join(f"{h} on {' + '.join(e['engine'] + ' ' + str(e['version']) for e in v) or 'nothing (failed)'}" for h, v in used.items())
    return used, f"engines ({cfg.engine}): {words}"


def evaluate(ds: Dataset, cfg: EvalConfig) -> dict:
    """Evaluate every head on the labels of ``ds`` under the split protocol.

    Parameters
    ----------
    ds : Dataset
    cfg : EvalConfig

    Returns
    -------
    dict
        ``heads``: per head the ``summary`` (mean and std of each metric), pooled
        ``per_class`` figures and ``confusion`` (summed over test folds, rows true), and the
        per-fold results; ``classes``, ``rows``, ``subjects``, ``splits``, ``notes``, ``engine_plan``.
    """
    return evaluate_task(ds, cfg, Classification())
