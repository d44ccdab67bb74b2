"""Does ``--engine auto`` predict what it chooses? Predicted against actual seconds per head; prints JSON.

Each head is evaluated with ``engine="auto"`` on a fresh machine memory (an empty engines.json,
so every decision is timed, not remembered), then the same head with ``engine="sklearn"``. For
each head the decision's predicted seconds for the run's work on the chosen engine (where it
timed one) is printed beside the seconds the folds actually took (``actual_seconds``, recorded
with every decision), and auto's whole run against scikit-learn's.

Usage::

    python benchmarks/calibration.py [--data ../shared/data/muxspace-dev] [--cache FILE] [--split-col Usage] [--out FILE]

``--cache`` with ``--split-col`` (a FER-format cache such as benchmarks/scale_data.py's) runs a
fixed split (``--train Training --test PrivateTest``) instead of 10 subject-grouped folds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from dev_cache import DEFAULT_DATA, dev_cache


def _run(cache: Path, head: str, engine: str, args) -> tuple[float, dict]:
    from faceprobe.classify.options import ClassifyOptions
    from faceprobe.classify.run import run_classify

    split = (dict(split_col=args.split_col, train=("Training",), test=("PrivateTest",)) if args.split_col
             else dict(cv=10, min_count=10))
    t0 = time.perf_counter()
    res = run_classify(ClassifyOptions(cache=str(cache), head=head, engine=engine, progress=False, record=False, **split))
    seconds = time.perf_counter() - t0
    plan = res["provenance"].get("engine_plan", {})
    decision = next(iter(plan.values()), {}).get(head, {})
    return seconds, decision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--split-col", default=None)
    ap.add_argument("--heads", default="logreg,svm,knn,mlp,dnn")
    ap.add_argument("--also", default="", help="other engines to run each head on by name (e.g. onedal), for the fastest measured")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from faceprobe.machine import cpu_info

    cache = dev_cache(args.data, args.cache)
    memo = Path(tempfile.mkdtemp(prefix="faceprobe-engines-")) / "engines.json"
    rows = []
    with mock.patch("faceprobe.classify.fitting.calibrate.calibrations_path", lambda: memo):
        _run(cache, "knn", "sklearn", args)  # the fold processes started and warm before anything is timed
        for head in args.heads.split(","):
            memo.unlink(missing_ok=True)
            auto_s, d = _run(cache, head, "auto", args)
            sk_s, _ = _run(cache, head, "sklearn", args)
            predicted = d.get("predicted", {}).get(d.get("engine"))
            actual = d.get("actual_seconds")
            others = {f"{e}_run_s": round(_run(cache, head, e, args)[0], 2) for e in filter(None, args.also.split(","))}
            rows.append({"head": head, "engine": d.get("engine"), "rows": d.get("rows"), "predicted_s": predicted, **others,
                         "actual_s": actual, "predicted_over_actual": None if not (predicted and actual) else round(predicted / actual, 3),
                         "calibration_s": d.get("seconds"), "auto_run_s": round(auto_s, 2), "sklearn_run_s": round(sk_s, 2),
                         "auto_over_sklearn_time": round(auto_s / sk_s, 3), "reason": d.get("reason")})
    result = {"cpu": cpu_info()["model"], "flags": cpu_info()["flags"], "cores": len(os.sched_getaffinity(0)),
              "cache": str(cache), "split": args.split_col or "cv 10 by subject", "heads": rows}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
