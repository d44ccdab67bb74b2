"""A regressor's figures over folds: per-fold means, pooled predictions, per-subject errors,
binned classes, a fixed split's bootstrap intervals and clip-level figures."""

from __future__ import annotations

import numpy as np

from ..metrics import SUMMARY_METRICS, confusion_metrics
from .metrics import REGRESSION_METRICS, regression_figures
from .targets import bin_labels, bin_names

__all__ = ["fold_figures", "head_figures", "BIN_METRICS"]

BIN_METRICS = tuple(m for m in SUMMARY_METRICS if m != "roc_auc_ovr")


def _none(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def fold_figures(y_true: np.ndarray, y_pred: np.ndarray, edges: tuple | None) -> dict:
    """One fold's figures (NaN -> None: a correlation is undefined when a side is constant) and,
    with bins, its binned classification figures under ``bins``."""
    out = {k: _none(v) for k, v in regression_figures(y_true, y_pred).items()}
    if edges is not None:
        from sklearn.metrics import confusion_matrix

        names = bin_names(edges)
        cm = confusion_matrix(bin_labels(y_true, edges), bin_labels(y_pred, edges), labels=names)
        got = confusion_metrics(cm, names)
        out["bins"] = {**{m: got[m] for m in BIN_METRICS}, "confusion": got["confusion"]}
    return out


def _spread(folds: list[dict], get, repeats: int) -> dict | None:
    vals = [(f["repeat"], get(f)) for f in folds]
    vals = [(r, v) for r, v in vals if v is not None]
    if not vals:
        return None
    if repeats > 1:
        per_run = [np.mean([v for r, v in vals if r == k]) for k in range(repeats) if any(r == k for r, _ in vals)]
        std = float(np.std(per_run, ddof=1)) if len(per_run) > 1 else 0.0
        return {"mean": float(np.mean(per_run)), "std": std, "over": "repeats"}
    v = [x for _, x in vals]
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "over": "folds"}


def _pooled(folds: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.concatenate([f["y_true"] for f in folds]).astype(float)
    p = np.concatenate([f["y_pred"] for f in folds]).astype(float)
    s = np.concatenate([f["test_subjects"] for f in folds]).astype(str)
    return t, p, s


def _per_subject(t: np.ndarray, p: np.ndarray, s: np.ndarray) -> dict:
    """Per subject: test predictions, MAE and mean signed error (bias), pooled over folds and repeats."""
    out = {}
    for subject in sorted(set(s)):
        m = s == subject
        err = p[m] - t[m]
        out[subject] = {"n": int(m.sum()), "mae": float(np.abs(err).mean()), "bias": float(err.mean())}
    return out


def _bootstrap(t: np.ndarray, p: np.ndarray, seed: int, n: int = 1000) -> dict:
    """Each figure on the test rows with its percentile 95 % interval over ``n`` resamples of them."""
    rng = np.random.default_rng(seed)
    point = regression_figures(t, p)
    draws = {k: [] for k in REGRESSION_METRICS}
    for _ in range(n):
        i = rng.integers(0, len(t), len(t))
        for k, v in regression_figures(t[i], p[i]).items():
            if np.isfinite(v):
                draws[k].append(v)
    return {k: None if not np.isfinite(point[k]) else
            {"mean": float(point[k]), "std": 0.0, "ci": [float(np.percentile(draws[k], 2.5)), float(np.percentile(draws[k], 97.5))],
             "over": "bootstrap"} for k in REGRESSION_METRICS}


def _bins(folds: list[dict], t: np.ndarray, p: np.ndarray, edges: tuple, repeats: int) -> dict:
    names = bin_names(edges)
    cm = np.sum([f["bins"]["confusion"] for f in folds], axis=0)
    pooled = confusion_metrics(cm, names)
    return {"edges": list(edges), "classes": names,
            "summary": {m: _spread(folds, lambda f, m=m: f["bins"][m], repeats) for m in BIN_METRICS},
            "pooled": {m: pooled[m] for m in BIN_METRICS}, "per_class": pooled["per_class"], "confusion": cm.tolist()}


def head_figures(folds: list[dict], repeats: int, edges: tuple | None, fixed_seed: int | None = None) -> dict:
    """Everything a regressor's cell holds, from its fold records (with their predictions).

    ``fixed_seed``: a fixed split (one fit); the summary then holds each figure on the test
    part with a bootstrap 95 % interval instead of a mean over folds.
    """
    failed = [f for f in folds if "error" in f]
    if failed:
        first = failed[0]
        return {"summary": {m: None for m in REGRESSION_METRICS}, "per_class": {}, "confusion": None, "folds": folds,
                "error": f"failed in {len(failed)} of {len(folds)} folds (first: repeat {first['repeat']}, fold {first['fold']}: "
                         f"{first['error']})"}
    t, p, s = _pooled(folds)
    if fixed_seed is not None:
        summary = _bootstrap(t, p, fixed_seed)
    else:
        summary = {m: _spread(folds, lambda f, m=m: f[m], repeats) for m in REGRESSION_METRICS}
    out = {"summary": summary, "pooled": {k: _none(v) for k, v in regression_figures(t, p).items()},
           "per_subject": _per_subject(t, p, s), "per_class": {}, "confusion": None, "folds": folds,
           "engine": sorted({f["engine"] for f in folds}), "seconds": round(sum(f["seconds"] for f in folds), 3),
           "peak_rss_bytes": max(f["peak_rss_bytes"] for f in folds), "added_rss_bytes": max(f["added_rss_bytes"] for f in folds)}
    if edges is not None:
        out["bins"] = _bins(folds, t, p, edges, repeats)
    return out


def clip_figures(head_result: dict, clip_of: dict, classes: list, repeats: int) -> dict:
    """Figures of clips: each clip's frames' true and predicted values averaged within its test
    fold, then pooled per repeat (mean over repeats); ``classes`` is unused (no classes here)."""
    folds = head_result["folds"]
    per_repeat = {}
    for r in range(repeats):
        t_all, p_all, seen = [], [], set()
        for f in (f for f in folds if f["repeat"] == r):
            clips = np.asarray([clip_of[path] for path in f["test_paths"]], dtype=str)
            seen |= set(clips.tolist())
            t, p = np.asarray(f["y_true"], float), np.asarray(f["y_pred"], float)
            for c in sorted(set(clips)):
                m = clips == c
                t_all.append(t[m].mean())
                p_all.append(p[m].mean())
        per_repeat[r] = regression_figures(np.asarray(t_all), np.asarray(p_all))
    n_clips, split = len(t_all), len(t_all) - len(seen)  # of the last repeat: parts counted as clips, clips in parts
    summary = {}
    for m in REGRESSION_METRICS:
        vals = [v[m] for v in per_repeat.values() if np.isfinite(v[m])]
        summary[m] = None if not vals else {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                                            "over": "repeats" if repeats > 1 else "pooled clips"}
    return {"clips": n_clips, "summary": summary, "split_clips": split}
