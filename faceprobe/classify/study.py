"""Many feature keys, one run: every key (or fusion of keys) with every head on the same outer
folds, and each cell tested against the best one.

Rows are the images present under every key, in one order, so every key sees the same splits
and the comparisons are paired. ``A+B`` is the fusion of two keys: their vectors side by side,
scaled (and reduced) inside the training folds like any other key, each key weighted as a block
of unit total variance (:mod:`~faceprobe.classify.data.prep`), so a wide key does not drown a
narrow one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import OptionError
from .data.prep import WEIGHTING
from .data.dataset import Dataset, load_dataset
from ..significance import corrected_t_test, holm, mcnemar_test, wilcoxon_errors

__all__ = ["load_study", "grid_cells", "ALPHA"]

ALPHA = 0.05


def _fuse(parts: list[Dataset], name: str) -> Dataset:
    """Side-by-side vectors of datasets over the same rows."""
    if any(not isinstance(p.X, np.ndarray) for p in parts):
        raise OptionError("key", name, "a fusion needs its keys' matrices in memory; raise `max_memory`")
    base = parts[0]
    spec = {"fusion": [p.spec for p in parts], "blocks": [int(p.X.shape[1]) for p in parts], "block_weighting": WEIGHTING}
    return Dataset(name, np.hstack([p.X for p in parts]), base.y, base.groups, base.sha256, base.paths,
                   spec, {}, list(base.notes), base.memory, base.columns)


def load_study(cache: str, keys: list[str], *, missing: str = "common", **load) -> list[Dataset]:
    """One dataset per key (``A+B`` fused), over the same rows in one order.

    Parameters
    ----------
    cache : str
    keys : list of str
        Feature keys or backbone prefixes; ``A+B`` fuses two.
    missing : {"common", "impute"}, default="common"
        Rows some key lacks (a geometry key where no face was found): ``common`` leaves them
        out; ``impute`` keeps every row any key holds, with NaN where a key lacks it, filled
        inside each training fold with that fold's means. Either way a note says what each key lacks.
    **load
        :func:`~faceprobe.classify.data.dataset.load_dataset` options (classes, min_count, views, memory).
    """
    if load.get("with_views") and any("+" in k for k in keys):
        raise OptionError("augmented", True, "cannot be combined with a fusion of keys (A+B)")
    loaded: dict[str, Dataset] = {}
    for name in keys:
        for part in name.split("+"):
            if part not in loaded:
                loaded[part] = load_dataset(cache, part, **load)
    every = sorted(set().union(*(set(d.sha256) for d in loaded.values())))
    common = set.intersection(*(set(d.sha256) for d in loaded.values()))
    if not common and missing == "common":
        raise OptionError("key", ",".join(keys), "these keys hold no image in common (nothing to compare or fuse); featurize "
                                                 "the same images with each, or give `missing=impute`")
    first = next(iter(loaded.values()))
    if missing == "impute":  # in path order, as a loaded key's rows are
        path_of = {s: p for d in loaded.values() for s, p in zip(d.sha256, d.paths)}
        rows = sorted(every, key=lambda s: (path_of[s], s))
    else:
        rows = [s for s in first.sha256 if s in common]
    holder = {}  # each content's first holding key and row there: labels and columns of rows a key lacks
    for d in loaded.values() if missing == "impute" else ():
        for i, s in enumerate(d.sha256):
            holder.setdefault(s, (d, i))
    for name in keys:
        parts = [loaded[p].key for p in name.split("+")]
        if len(set(parts)) < len(parts):
            raise OptionError("key", name, f"fuses {next(k for k in parts if parts.count(k) > 1)} with itself (its block would "
                                           "count twice): fuse different keys")
    aligned = {part: d.on_contents(rows, holder) for part, d in loaded.items()}
    out = [aligned[name] if "+" not in name else _fuse([aligned[p] for p in name.split("+")], " + ".join(aligned[p].key for p in name.split("+")))
           for name in keys]
    note = _lacking_note(loaded, len(every), len(common), missing)
    if note:
        out[0] = replace(out[0], notes=[*out[0].notes, note])
    names = [d.key for d in out]
    if len(set(names)) < len(names):
        raise OptionError("key", ",".join(keys), "the same feature key is given twice")
    return out


def _lacking_note(loaded: dict, every: int, common: int, missing: str) -> str:
    """What each key lacks of the rows the keys hold together, and what was done about it."""
    lacks = {d.key: every - len(d.sha256) for d in loaded.values()}
    if not any(lacks.values()):
        return ""
    said = ", ".join(f"{k} lacks {n}" for k, n in lacks.items() if n)
    if missing == "impute":
        return (f"of {every} images the keys hold: {said}; kept, each key's missing vector filled with its training-fold "
                "means (`missing=impute`)")
    return (f"of {every} images the keys hold: {said}; evaluated on the {common} every key holds, so all comparisons are "
            "paired (`missing=impute` keeps the others)")


def _fold_scores(head_result: dict, metric: str) -> np.ndarray:
    return np.array([np.nan if f.get(metric) is None else f[metric] for f in head_result["folds"]], float)


def _correct(head_result: dict) -> np.ndarray:
    return np.concatenate([np.asarray(f["y_true"]) == np.asarray(f["y_pred"]) for f in head_result["folds"]])


def _abs_errors(head_result: dict) -> np.ndarray:
    return np.concatenate([np.abs(np.asarray(f["y_pred"], float) - np.asarray(f["y_true"], float)) for f in head_result["folds"]])


def _single_split_p(best: dict, other: dict, regression: bool) -> float:
    if regression:
        return wilcoxon_errors(_abs_errors(best), _abs_errors(other))
    return mcnemar_test(_correct(best), _correct(other))


def grid_cells(per_key: dict, metric: str, single_split: bool, lower_is_better: bool = False,
               regression: bool = False) -> list[dict]:
    """Per (key, head): mean and std of ``metric``, p-value against the best cell, Holm-adjusted, tied.

    Cells are compared with the corrected resampled t-test over paired folds (and repeats), or,
    when the protocol is a single split, on the pooled predictions: McNemar's test for classes,
    Wilcoxon's signed-rank test on absolute errors for a continuous target (``regression``).
    ``lower_is_better``: the best cell has the lowest mean (MAE, RMSE).
    """
    cells = []
    for key, res in per_key.items():
        for head, r in res["heads"].items():
            s = r["summary"].get(metric) if "error" not in r else None
            cells.append({"key": key, "head": head, "mean": None if s is None else s["mean"], "std": None if s is None else s["std"],
                          "folds": len(r["folds"]), "_r": r})
    scored = [c for c in cells if c["mean"] is not None]
    if not scored:
        return [{k: v for k, v in c.items() if k != "_r"} for c in cells]
    best = (min if lower_is_better else max)(scored, key=lambda c: c["mean"])
    ratios = [f["n_test"] / f["n_train"] for f in best["_r"]["folds"]]
    raw = []
    for c in cells:
        if c is best or c["mean"] is None:
            raw.append(np.nan)
        elif single_split:
            raw.append(_single_split_p(best["_r"], c["_r"], regression))
        else:
            raw.append(corrected_t_test(_fold_scores(best["_r"], metric), _fold_scores(c["_r"], metric), float(np.mean(ratios))))
    adjusted = holm(raw)
    out = []
    for c, p, q in zip(cells, raw, adjusted):
        is_best = c is best
        tied = bool(is_best or (c["mean"] is not None and not np.isnan(q) and q >= ALPHA))
        out.append({"key": c["key"], "head": c["head"], "mean": c["mean"], "std": c["std"], "folds": c["folds"],
                    "p_vs_best": None if np.isnan(p) else float(p), "p_holm": None if np.isnan(q) else float(q),
                    "best": is_best, "tied": tied})
    return out
