"""Benchmark classify against plain scikit-learn on the dev faces' features; prints one JSON object.

``classify --head all --cv 10`` (grouped by subject) is timed through the library, then each
head is run through plain ``sklearn.model_selection.cross_validate`` with a
``StandardScaler`` pipeline on exactly the same folds, once with default BLAS threads (the
speed baseline) and once with one BLAS thread, as faceprobe runs. The script asserts that
every fold's accuracy and balanced accuracy equal the one-thread run's, and reports the
speed ratios.

Usage::

    python benchmarks/classify.py [--data ../shared/data/muxspace-dev] [--cache FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "muxspace-dev"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=None, help="efficientnet_lite0 cache of the dev faces (built when missing)")
    ap.add_argument("--cv", type=int, default=10)
    ap.add_argument("--heads", default=None, help="comma-separated heads (default: every registered head)")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--engine", default="sklearn", help="faceprobe's engine (sklearn: the numbers must equal plain scikit-learn's)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    cache = args.cache or Path(tempfile.mkdtemp(prefix="faceprobe-bench-")) / "features.h5"
    if not cache.exists():
        from faceprobe.featurize.pipeline import featurize

        featurize(str(args.data / "manifest.csv"), backbones=["efficientnet_lite0"], weights=["DEFAULT"], cache=str(cache),
                                  root=str(args.data / "images"), progress=False)

    import sklearn
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.evaluate import EvalConfig, evaluate
    from faceprobe.classify.heads.registry import HEADS, make_head
    from faceprobe.classify.protocols.splits import SplitSpec, make_splits

    ds = load_dataset(str(cache), "efficientnet_lite0", min_count=args.cv)
    heads = args.heads.split(",") if args.heads else sorted(HEADS)
    split = SplitSpec(cv=args.cv, group=True, seed=0)
    t0 = time.perf_counter()
    ours = evaluate(ds, EvalConfig(heads=heads, split=split, jobs=args.jobs, engine=args.engine))
    ours_s = time.perf_counter() - t0

    folds = [(tr, te) for _, tr, te in make_splits(ds.y, ds.groups, split)]
    scoring = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy"}
    def plain_run():
        return {h: cross_validate(make_pipeline(StandardScaler(), make_head(h, seed=0)), ds.X, ds.y, cv=folds, scoring=scoring) for h in heads}

    t0 = time.perf_counter()
    plain_default = plain_run()  # as a user would run it: default threads
    plain_s = time.perf_counter() - t0
    # faceprobe runs BLAS single-threaded so that --jobs never changes a number; compare
    # fold metrics with plain scikit-learn under the same setting
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        plain = plain_run()
    plain_1thread_s = time.perf_counter() - t0

    per_head, mismatches = {}, []
    for h in heads:
        mine = ours["heads"][h]["folds"]
        for i, f in enumerate(mine):
            for name in scoring:
                if abs(f[name] - plain[h][f"test_{name}"][i]) > 1e-12:
                    mismatches.append(f"{h} fold {i} {name}: {f[name]} vs {plain[h][f'test_{name}'][i]}")
        per_head[h] = {
            "plain_fit_s": round(float(np.sum(plain[h]["fit_time"])), 2),
            "plain_score_s": round(float(np.sum(plain[h]["score_time"])), 2),
            "accuracy_mean": round(float(np.mean(plain[h]["test_accuracy"])), 4),
        }
    result = {
        "benchmark": "classify",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cores": len(os.sched_getaffinity(0)),
        "jobs": args.jobs,
        "scikit_learn": sklearn.__version__,
        "key": ds.key,
        "rows": int(len(ds.y)),
        "classes": ds.classes,
        "folds": len(folds),
        "grouped_by_subject": True,
        "faceprobe_s": round(ours_s, 2),
        "plain_sklearn_cross_validate_s": round(plain_s, 2),
        "speedup": round(plain_s / ours_s, 2),
        "plain_sklearn_one_blas_thread_s": round(plain_1thread_s, 2),
        "speedup_vs_one_blas_thread": round(plain_1thread_s / ours_s, 2),
        "default_threads_fold_accuracy_differs": sum(
            int(abs(a - b) > 1e-12) for h in heads for a, b in zip(plain_default[h]["test_accuracy"], plain[h]["test_accuracy"])),
        "fold_metrics_identical": not mismatches,
        "mismatches": mismatches[:10],
        "heads": per_head,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    assert not mismatches, mismatches[:3]


if __name__ == "__main__":
    main()
