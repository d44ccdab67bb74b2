"""``--engine auto`` against every engine on the same work, small and large; prints one JSON object.

Cases (each engine of a case runs in a fresh process, one after another, on a quiet machine):

* ``sweep``: the dev faces sweep of issue 36 on one key: svm C 4 x gamma 3, knn k 4 values and
  logreg over 10 subject-grouped folds with a 3-fold grouped inner CV (nested grids), ``jobs``
  parallel folds. Plain scikit-learn (``GridSearchCV`` per fold, benchmarks/study.py) runs the
  same work once for the "x plain" ratio.
* ``svm28k`` and ``logreg28k``: the fixed split of the scale corpus (benchmarks/scale_data.py:
  28,000 training rows x 1,280, 3,500 test rows), one head each.

Engines per case: ``auto`` with nothing remembered (its calibration included: a fresh
``FACEPROBE_HOME``), ``auto`` again (the decision remembered), ``sklearn`` and ``onedal``. Each
run records its wall time, each head's fit time and engine, and auto's decisions.

Usage::

    python benchmarks/engines.py --dev-cache FEATURES.h5 --key KEY [--scale-cache /tmp/faceprobe-scale/scale.h5]
        [--cases sweep,svm28k,logreg28k] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SWEEP = {"svm.C": [0.1, 1, 10, 100], "svm.gamma": ["scale", 0.0001, 0.001], "knn.k": [1, 5, 11, 21]}


def _case(name: str, args) -> dict:
    if name == "sweep":
        return {"cache": args.dev_cache, "key": args.key, "head": ["svm", "knn", "logreg"], "cv": 10, "min_count": 10,
                "params": SWEEP, "jobs": args.jobs}
    head = name.replace("28k", "")
    return {"cache": args.scale_cache, "head": [head], "split_col": "Usage", "train": "Training", "test": "PrivateTest",
            "jobs": args.jobs}


def one(kwargs: dict, engine: str) -> dict:
    """Run one evaluation in this process; its wall time, per head fit seconds and engines, and auto's plan."""
    import faceprobe

    cache = kwargs.pop("cache")
    t0 = time.perf_counter()
    res = faceprobe.evaluate(cache, engine=engine, **kwargs).raw
    wall = time.perf_counter() - t0
    heads = {c["head"]: {"engine": c["engine"], "fit_seconds": c.get("seconds"), "balanced_accuracy": c["summary"]["balanced_accuracy"]["mean"]}
             for c in res["cells"]}
    plan = {h: {k: d[k] for k in ("engine", "reason", "timed", "predicted", "seconds", "remembered")}
            for per_key in res["provenance"]["engine_plan"].values() for h, d in per_key.items()}
    return {"engine": engine, "wall_s": round(wall, 2), "heads": heads, "plan": plan}


def _child(case: dict, engine: str, home: str) -> dict:
    env = {**os.environ, "FACEPROBE_HOME": home}
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(case), engine], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _plain_sweep(case: dict) -> float:
    """Seconds of plain scikit-learn doing the sweep (benchmarks/study.py's GridSearchCV per fold)."""
    sys.path.insert(0, str(HERE))
    from study import plain_study

    from faceprobe.classify.protocols.splits import SplitSpec, make_splits
    from faceprobe.classify.study import load_study

    datasets = load_study(case["cache"], [case["key"]], min_count=case["min_count"])
    splits = make_splits(datasets[0].y, datasets[0].groups, SplitSpec(cv=10, group=True, seed=0))
    return plain_study(datasets, splits, 0, case["jobs"])[1]


def run_case(name: str, args) -> dict:
    case = _case(name, args)
    Path(case["cache"]).read_bytes()  # in the page cache before any run is timed
    runs = []
    engines = args.engines.split(",")
    if "auto" in engines:
        with tempfile.TemporaryDirectory() as home:
            runs.append({**_child(case, "auto", home), "run": "auto, first (calibrating)"})
            runs.append({**_child(case, "auto", home), "run": "auto, remembered"})
    for engine in (e for e in engines if e != "auto"):
        with tempfile.TemporaryDirectory() as home:
            runs.append({**_child(case, engine, home), "run": engine})
    wall = {r["run"]: r["wall_s"] for r in runs}
    out = {"case": name, "settings": {k: v for k, v in case.items() if k != "cache"}, "runs": runs}
    for run in wall:
        if run != "sklearn" and "sklearn" in wall:
            out[f"speed of {run} / sklearn"] = round(wall["sklearn"] / wall[run], 3)
    if name == "sweep" and not args.no_plain and "auto" in engines:
        plain = _plain_sweep(case)
        out.update(plain_s=round(plain, 2), auto_remembered_vs_plain=round(plain / wall["auto, remembered"], 2))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev-cache", default=None)
    ap.add_argument("--key", default=None)
    ap.add_argument("--scale-cache", default="/tmp/faceprobe-scale/scale.h5")
    ap.add_argument("--cases", default="sweep,svm28k,logreg28k")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--no-plain", action="store_true", help="skip plain scikit-learn's sweep")
    ap.add_argument("--engines", default="auto,sklearn,onedal", help="runs per case (auto: first and remembered)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--one", nargs=2, metavar=("CASE_JSON", "ENGINE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(json.loads(args.one[0]), args.one[1])))
        return {}
    import sklearn

    from faceprobe.classify.engines import engine_status
    from faceprobe.machine import cpu_info

    result = {"benchmark": "engines", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(),
              "cores": len(os.sched_getaffinity(0)), "jobs": args.jobs,
              "versions": {"scikit-learn": sklearn.__version__, "scikit-learn-intelex": engine_status("onedal")[0]}, "cases": []}
    for name in args.cases.split(","):
        result["cases"].append(run_case(name, args))
        print(json.dumps(result["cases"][-1]), file=sys.stderr, flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
