"""Clip-level figures (``--aggregate sequence``): the frames of one clip in a test fold vote by their
averaged scores, and the clip is right when the class with the highest mean score is its label
(the most common label among its frames).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ...errors import OptionError
from ..metrics import SUMMARY_METRICS, confusion_metrics

__all__ = ["clip_figures", "add_clip_figures"]


def _fold_clips(fold: dict, clip_of: dict, classes: list[str]) -> tuple[np.ndarray, int, int]:
    """The fold's clip-level confusion matrix, its clips, and clips whose frames carry different labels."""
    by_clip: dict[str, list[int]] = {}
    for j, path in enumerate(fold["test_paths"]):
        by_clip.setdefault(clip_of[path], []).append(j)
    scores, y_true = np.asarray(fold["scores"], float), np.asarray(fold["y_true"])
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((k, k), dtype=np.int64)
    mixed = 0
    for rows in by_clip.values():
        labels = Counter(y_true[rows])
        mixed += len(labels) > 1
        truth = min(labels, key=lambda c: (-labels[c], c))
        cm[index[truth], int(np.argmax(scores[rows].mean(axis=0)))] += 1
    return cm, len(by_clip), mixed


def clip_figures(head_result: dict, clip_of: dict, classes: list[str], repeats: int) -> dict:
    """Clip-level summary (mean ± std over folds, or over repeats), pooled confusion and counts."""
    folds = [f for f in head_result.get("folds", []) if "scores" in f]
    if not folds or "error" in head_result:
        return {}
    per_fold = [(f["repeat"], *_fold_clips(f, clip_of, classes)) for f in folds]
    mets = [(r, confusion_metrics(cm, classes)) for r, cm, _, _ in per_fold]
    summary = {}
    for name in SUMMARY_METRICS:
        if name == "roc_auc_ovr":
            continue
        if repeats > 1:
            vals = [np.mean([m[name] for rr, m in mets if rr == r]) for r in range(repeats)]
        else:
            vals = [m[name] for _, m in mets]
        summary[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                         "over": "repeats" if repeats > 1 else "folds"}
    cm = np.sum([c for _, c, _, _ in per_fold], axis=0)
    if len(folds) == 1:  # one split (fixed, cross-corpus): an interval over clips, not the std of one value
        for name, ci in _clip_intervals(cm, classes).items():
            summary[name] = {**summary[name], "over": "test clips", "ci": ci}
    return {"summary": summary, "confusion": cm.tolist(), "clips": int(sum(n for *_, n, _ in per_fold)),
            "mixed_label_clips": int(sum(m for *_, m in per_fold))}


def _clip_intervals(cm: np.ndarray, classes: list[str], rounds: int = 1000, seed: int = 0) -> dict:
    """Percentile 95 % intervals of the clip-level figures over resamples of the test clips (each
    clip a (true, predicted) pair, as the confusion matrix counts them)."""
    k = len(classes)
    pairs = np.repeat(np.arange(k * k), np.asarray(cm).ravel())
    rng = np.random.default_rng(seed)
    names = [m for m in SUMMARY_METRICS if m != "roc_auc_ovr"]
    draws = {m: [] for m in names}
    for _ in range(rounds):
        pick = pairs[rng.integers(0, len(pairs), len(pairs))]
        met = confusion_metrics(np.bincount(pick, minlength=k * k).reshape(k, k), classes)
        for m in names:
            draws[m].append(met[m])
    return {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in draws.items()}


def _straddling(res: dict, clip_of: dict) -> int:
    """Clips whose frames are in the test sets of different folds (of the first repeat)."""
    folds = next((r["folds"] for r in res["heads"].values() if r.get("folds") and "test_paths" in r["folds"][0]), [])
    seen: dict[str, set] = {}
    for f in folds:
        if f["repeat"] == 0:
            for p in f["test_paths"]:
                seen.setdefault(clip_of.get(p, ""), set()).add(f["fold"])
    return sum(1 for clip, where in seen.items() if clip and len(where) > 1)


def add_clip_figures(res: dict, ds, column: str, repeats: int, figures=clip_figures) -> None:
    """Add ``clips`` figures to every head of a results dict (in place).

    ``figures(head_result, clip_of, classes, repeats)`` computes one head's clip figures (the
    task's own: :func:`clip_figures` votes by mean scores; regression averages the predictions),
    an empty dict where it has none.
    """
    if column not in ds.columns:
        raise OptionError("aggregate", column, f"no such column; the cache has: {', '.join(ds.columns)}")
    clip_of = dict(zip(ds.paths.tolist(), np.asarray(ds.columns[column]).astype(str).tolist()))
    empty = [p for p, c in clip_of.items() if not c]
    if empty:
        raise OptionError("aggregate", column, f"{len(empty)} images have no {column}; give every image one")
    for r in res["heads"].values():
        got = figures(r, clip_of, res["classes"], repeats) if "error" not in r else {}
        if got:
            r["clips"] = {"column": column, **got}
    straddling = _straddling(res, clip_of)
    if straddling:
        res["notes"].append(f"{straddling} {column} clips have frames in more than one test fold (the splits are not grouped "
                            f"by {column}), so they are scored in parts; `group={column}` keeps each clip in one fold")
