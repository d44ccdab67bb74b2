"""Against chance: each cell's score compared with the scores of the same evaluation on permuted labels.

A permutation test asks whether a score could come from features that carry no information on
the labels. The labels (or targets) are permuted, the whole evaluation is rerun with them (the
same heads, protocol and seeds; stratified splits are drawn again on the permuted labels, as
scikit-learn's ``permutation_test_score`` does), and the p-value is the share of permutations
that score at least as well, ``(1 + #{null >= observed}) / (1 + N)``.

When splits are grouped by subject, labels move between subjects, never within one: the rows
are laid out subject by subject, the subjects' label blocks are concatenated in a random order
of subjects, and the result is laid back over the rows. Each person's labels thus come from
other people (in runs as they were), the label counts are unchanged, and a model that
recognises people cannot reach a null score by matching a person to their own labels.
Without grouping, rows are permuted as in scikit-learn (``RandomState(seed).permutation``
per permutation, so both draw the same permutations from the same seed).
"""

from __future__ import annotations

import numpy as np

__all__ = ["permuted_values", "null_scores", "cost_line", "permutation_record", "scheme_of", "add_permutations", "with_chance"]


def permuted_values(values: np.ndarray, groups: np.ndarray | None, rng: np.random.RandomState) -> np.ndarray:
    """One permutation of ``values``: of rows (``groups`` None), or of whole subjects' blocks."""
    values = np.asarray(values)
    if groups is None:
        return values[rng.permutation(len(values))]
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")  # rows subject by subject
    subjects, starts = np.unique(groups[order], return_index=True)
    blocks = np.split(values[order], starts[1:])
    shuffled = np.concatenate([blocks[i] for i in rng.permutation(len(subjects))])
    out = np.empty_like(values)
    out[order] = shuffled
    return out


def null_scores(run_one, values: np.ndarray, groups: np.ndarray | None, n: int, seed: int, show: bool = False,
                cost: str | None = None) -> list[dict]:
    """``run_one(permuted_values)`` for ``n`` permutations drawn from ``seed``; each returns {head: score or None}.
    ``show``: progress on stderr (:func:`faceprobe.progress.progress`), after ``cost`` (what they
    will cost, :func:`cost_line`) where it is given."""
    from ..progress import announce, progress

    if cost is not None:
        announce(cost, show)
    rng = np.random.RandomState(seed)
    return [run_one(permuted_values(values, groups, rng)) for _ in progress(range(n), n, "permutations", "permutation", show)]


def cost_line(n: int, seconds_each: float, folds: int, heads: int, keys: int) -> str:
    """What ``n`` permutations will cost, said before they start."""
    from ..progress import duration

    def count(k: int, word: str) -> str:
        return f"{k} {word}{'' if k == 1 else 's'}"

    return (f"permutations: {n:,} reruns of the evaluation ({count(folds, 'fold')} x {count(heads, 'head')} x {count(keys, 'key')} "
            f"each); the evaluation took {duration(seconds_each)}, so about {duration(n * seconds_each)} in all")


def permutation_record(observed: float | None, null: list, lower_is_better: bool, scheme: str) -> dict | None:
    """The p-value of ``observed`` against the ``null`` scores (None where a permuted run failed)."""
    got = np.asarray([v for v in null if v is not None and np.isfinite(v)], float)
    if observed is None or not len(got):
        return None
    beats = got <= observed if lower_is_better else got >= observed
    return {"p": float((1 + beats.sum()) / (1 + len(got))), "permutations": int(len(got)), "null_mean": float(got.mean()),
            "null_std": float(got.std(ddof=1)) if len(got) > 1 else 0.0, "scheme": scheme,
            **({"failed": len(null) - len(got)} if len(got) < len(null) else {})}


def scheme_of(grouped: bool) -> str:
    """How the labels were permuted, in words (recorded with every p-value)."""
    return "labels moved between subjects" if grouped else "rows permuted"


def add_permutations(per_key: dict, datasets: list, cfg, *, metric: str, values: np.ndarray, n: int, seed: int, score,
                     lower_is_better: bool = False, seconds_each: float | None = None) -> None:
    """Each cell's p-value against ``n`` permutations of ``values`` (``permutation`` in its record).

    ``score(dataset, permuted_values)`` reruns the evaluation of one dataset and returns its results
    (``heads`` with ``summary``), or None when that permutation gave none. Every key gets the same
    permutations, so keys stay paired. ``seconds_each``: what the evaluation took, for the cost
    said before the permutations start (with ``cfg.progress``).
    """
    cost = None
    if seconds_each is not None:
        folds = max((len(r.get("folds", ())) for res in per_key.values() for r in res["heads"].values()), default=0)
        cost = cost_line(n, seconds_each, folds, len(cfg.heads), len(datasets))

    def run_one(permuted):
        out = {}
        for d in datasets:
            res = score(d, permuted) or {}
            for h in cfg.heads:
                s = res.get("heads", {}).get(h, {}).get("summary", {}).get(metric)
                out[(d.key, h)] = None if s is None else s["mean"]
        return out

    nulls = null_scores(run_one, values, datasets[0].groups if cfg.split.group else None, n, seed, cfg.progress, cost)
    for key, res in per_key.items():
        for head, r in res["heads"].items():
            s = r["summary"].get(metric) if "error" not in r else None
            rec = permutation_record(None if s is None else s["mean"], [x[(key, head)] for x in nulls], lower_is_better,
                                     scheme_of(cfg.split.group))
            if rec is not None:
                r["permutation"] = rec


def with_chance(grid: list[dict], per_key: dict) -> None:
    """Each grid cell's permutation p-value (``p_permutation``), where the run computed one."""
    for g in grid:
        rec = per_key[g["key"]]["heads"][g["head"]].get("permutation")
        if rec is not None:
            g["p_permutation"] = rec["p"]
