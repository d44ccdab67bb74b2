"""Benchmark classify with the feature matrix in memory versus read from disk in blocks; prints JSON.

A synthetic cache shaped like a large set's features (default 30,000 rows of 1,280 dims, the
size of efficientnet_lite0's vectors; 6 classes, 4 images per subject, class and subject
offsets plus noise) is written once. ``classify --head knn,logreg --cv 3`` then runs in a fresh
process per figure, once in memory (``--max-memory`` large) and once from disk with a budget
well below the matrix, recording wall time, peak resident memory (``ru_maxrss``) and whether
every fold's predictions agree. The ratios are disk / memory in the same run.

Usage::

    python benchmarks/outofcore.py [--rows 30000] [--dim 1280] [--budget 64M] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = {"backbone": "synthetic", "weights_sha256": "0" * 64, "transform": {}, "output": "pooled",
        "crop": {"method": "none", "equalize": False}, "view": "orig", "view_params": {}}

RUN = r"""
import json, sys, time
from faceprobe.cli import cli
t = time.perf_counter()
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mib": int(hwm) / 1024}), file=sys.stderr)
"""


def write_cache(path: Path, rows: int, dim: int, seed: int = 0) -> None:
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    rng = np.random.default_rng(seed)
    classes = np.array(["anger", "disgust", "fear", "happiness", "neutral", "sadness"])
    label = classes[rng.integers(0, len(classes), rows)]
    subject = np.arange(rows) // 4
    centres = rng.normal(0, 1, (len(classes), dim)).astype(np.float32)
    offsets = rng.normal(0, 1.5, (subject.max() + 1, dim)).astype(np.float32)
    X = centres[np.searchsorted(classes, label)] * 0.4 + offsets[subject]
    X += rng.normal(0, 2.0, X.shape).astype(np.float32)
    sha = np.array([f"{i:064x}" for i in range(rows)])
    images = {"path": np.array([f"/synthetic/{i:07d}.jpg" for i in range(rows)]), "sha256": sha, "label": label,
              "subject": np.array([f"s{s}" for s in subject]), "status": np.full(rows, "ok")}
    features = {"synthetic.none.orig.0000000000": {"spec": SPEC, "sha256": sha, "vectors": X,
                                                   "face": np.full(rows, -1, np.int8), "box": np.full((rows, 4), -1, np.int32)}}
    commit(str(path), images=images, parts=[Part({"run_id": "synthetic"}, {}, features)])


def run_classify(cache: Path, budget: str, out: Path) -> dict:
    args = [sys.executable, "-c", RUN, "classify", "-c", str(cache), "--head", "knn,logreg", "--cv", "3", "-q",
            "--max-memory", budget, "--predictions", "--json", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stderr.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="ascii"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--budget", default="64M", help="--max-memory for the on-disk run")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="faceprobe-ooc-"))
    cache = work / "features.h5"
    t0 = time.perf_counter()
    write_cache(cache, args.rows, args.dim)
    write_s = time.perf_counter() - t0
    mem = run_classify(cache, "1T", work / "mem.json")
    disk = run_classify(cache, args.budget, work / "disk.json")
    a, b = (json.loads((work / n).read_text()) for n in ("mem.json", "disk.json"))
    agree = {}
    for head in ("knn", "logreg"):
        pa = [p for f in a["folds"] if f["head"] == head for p in f["y_pred"]]
        pb = [p for f in b["folds"] if f["head"] == head for p in f["y_pred"]]
        agree[head] = float(np.mean([x == y for x, y in zip(pa, pb)]))
    bacc = {name: {c["head"]: c["summary"]["balanced_accuracy"]["mean"] for c in r["cells"]} for name, r in (("a", a), ("b", b))}
    summary = {h: {"in_memory": bacc["a"][h], "on_disk": bacc["b"][h]} for h in ("knn", "logreg")}
    result = {
        "benchmark": "outofcore",
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "rows": args.rows, "dim": args.dim,
        "matrix_mib": round(args.rows * args.dim * 4 / 2**20, 1),
        "cache_mib": round(cache.stat().st_size / 2**20, 1),
        "write_cache_s": round(write_s, 1),
        "in_memory": {k: round(v, 2) for k, v in mem.items()},
        "on_disk": {**{k: round(v, 2) for k, v in disk.items()}, "budget": args.budget,
                    "block_rows": b["provenance"]["memory"]["block_rows"]},
        "estimated_in_memory_need_mib": round(b["provenance"]["memory"]["need_bytes"] / 2**20, 1),
        "time_ratio_disk_over_memory": round(disk["seconds"] / mem["seconds"], 2),
        "rss_ratio_disk_over_memory": round(disk["peak_rss_mib"] / mem["peak_rss_mib"], 3),
        "prediction_agreement": agree,
        "balanced_accuracy": summary,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
