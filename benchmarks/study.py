"""Benchmark a study (keys x heads on the same folds, nested grids) against plain scikit-learn doing
the same work on the same folds with the same cores; prints one JSON object.

The study: every feature key of the cache (or ``--keys``) x (svm C 4 x gamma 3, knn k 4 values,
logreg) x 10 subject-grouped folds, hyperparameters chosen by a 3-fold grouped inner CV on
balanced accuracy. faceprobe runs it as ``faceprobe.evaluate(cache, keys, ...)``. The plain
script, per key and outer fold, fits the scaler on the training rows and runs
``GridSearchCV(head, grid, cv=StratifiedGroupKFold(3, shuffle=True, random_state=seed))`` with
``n_jobs`` equal to faceprobe's ``jobs``, then predicts the test fold: the same splits, the same
candidates in the same order, the same scaling. The script asserts that every fold's accuracy
and balanced accuracy agree, and reports the speed ratio and the wall time of the grid with its
p-values.

Usage::

    python benchmarks/study.py --cache FEATURES.h5 [--keys K1,K2,K3] [--min-count 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

GRIDS = {"svm": {"C": [0.1, 1, 10, 100], "gamma": ["scale", 0.0001, 0.001]}, "knn": {"k": [1, 5, 11, 21]}, "logreg": {}}


def _plain_fold(ds, head, grid, train, test, seed, jobs):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
    from sklearn.preprocessing import StandardScaler

    from faceprobe.classify.heads.registry import make_head

    scaler = StandardScaler().fit(ds.X[train])
    Xtr, Xte = scaler.transform(ds.X[train]).astype(np.float32), scaler.transform(ds.X[test]).astype(np.float32)
    est = make_head(head, seed=seed)
    names = {"k": "n_neighbors"}
    if grid:
        param_grid = {names.get(k, k): v for k, v in grid.items()}
        inner = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed)
        est = GridSearchCV(est, param_grid, cv=inner, scoring="balanced_accuracy", n_jobs=jobs)
        est.fit(Xtr, ds.y[train], groups=ds.groups[train])
    else:
        est.fit(Xtr, ds.y[train])
    pred = est.predict(Xte)
    return accuracy_score(ds.y[test], pred), balanced_accuracy_score(ds.y[test], pred)


def plain_study(datasets, splits, seed, jobs) -> tuple[dict, float]:
    """The plain scikit-learn study: per key, head and outer fold, a GridSearchCV; BLAS single-threaded as faceprobe runs."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    out = {}
    with threadpool_limits(limits=1):
        for ds in datasets:
            for head, grid in GRIDS.items():
                out[(ds.key, head)] = [_plain_fold(ds, head, grid, tr, te, seed, jobs) for _, tr, te in splits]
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--keys", default=None, help="comma-separated keys (default: every key of the cache)")
    ap.add_argument("--min-count", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--engine", default="sklearn", help="faceprobe's engine (sklearn: the numbers must equal plain scikit-learn's)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import sklearn

    import faceprobe
    from faceprobe.cache.tools import list_keys
    from faceprobe.classify.protocols.splits import SplitSpec, make_splits
    from faceprobe.classify.study import load_study

    keys = args.keys.split(",") if args.keys else [k["key"] for k in list_keys(str(args.cache)) if k["view"] == "orig"]
    params = {f"{head}.{k}": v for head, grid in GRIDS.items() for k, v in grid.items()}
    t0 = time.perf_counter()
    res = faceprobe.evaluate(str(args.cache), keys, head=list(GRIDS), cv=10, min_count=args.min_count, params=params, jobs=args.jobs,
                             engine=args.engine)
    ours_s = time.perf_counter() - t0

    datasets = load_study(str(args.cache), keys, min_count=args.min_count)
    splits = make_splits(datasets[0].y, datasets[0].groups, SplitSpec(cv=10, group=True, seed=0))
    plain, plain_s = plain_study(datasets, splits, 0, args.jobs)

    mismatches = []
    for (key, head), folds in plain.items():
        mine = [f for f in res.raw["folds"] if f["key"] == key and f["head"] == head]
        for i, (acc, bacc) in enumerate(folds):
            if abs(mine[i]["accuracy"] - acc) > 1e-12 or abs(mine[i]["balanced_accuracy"] - bacc) > 1e-12:
                mismatches.append(f"{key} {head} fold {i}: {mine[i]['accuracy']:.4f}/{mine[i]['balanced_accuracy']:.4f} vs {acc:.4f}/{bacc:.4f}")
    from faceprobe.featurize.engine.device import cpu_info

    result = {
        "benchmark": "study", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(), "cores": len(os.sched_getaffinity(0)),
        "jobs": args.jobs, "scikit_learn": sklearn.__version__, "keys": res.keys, "rows": res.raw["rows"], "folds": 10,
        "grids": GRIDS, "faceprobe_s": round(ours_s, 2), "plain_sklearn_s": round(plain_s, 2), "speedup": round(plain_s / ours_s, 2),
        "fold_metrics_identical": not mismatches, "mismatches": mismatches[:10],
        "grid": res.grid().drop(columns=["metric"]).round(4).to_dict(orient="records"),
    }
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    assert not mismatches, mismatches[:3]


if __name__ == "__main__":
    main()
