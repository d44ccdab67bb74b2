"""Peak memory of ``faceprobe fit`` against the training matrix it fits (FER-2013's training-set shape).

usage: python benchmarks/fit_memory.py WORK_DIR [--rows 28709] [--dim 1280] [--head logreg] [--max-memory auto] > result.json

Writes a synthetic cache of ROWS x DIM float32 vectors (7 classes, 500 subjects) into WORK_DIR
once, then runs ``faceprobe.fit`` in a fresh process with one job and records the process's peak
resident memory (VmHWM) and its resident memory after imports, before the fit. The figure the
target speaks of is (peak - after imports) / matrix bytes. To compare two versions, run it from
outside both checkouts (the child process would otherwise import the current folder's faceprobe)
with PYTHONPATH pointing at the other one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys
def hwm(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
import faceprobe.api, sklearn.linear_model, sklearn.svm, sklearn.preprocessing, sklearn.pipeline, h5py
before = hwm("VmRSS")
model = faceprobe.api.fit(sys.argv[1], sys.argv[2], sys.argv[3], jobs=1, cv=2, progress=False, max_memory=sys.argv[4])
print(json.dumps({"rss_after_imports": before, "peak": hwm("VmHWM"), "trained_rows": model["trained_rows"]}))
"""


def make_cache(path: Path, rows: int, dim: int) -> None:
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    rng = np.random.default_rng(0)
    labels = np.array(["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
    y = labels[rng.integers(0, 7, rows)]
    centres = rng.normal(0, 1, (7, dim)).astype(np.float32)
    vectors = centres[np.searchsorted(labels, y, sorter=np.argsort(labels))] + rng.normal(0, 2, (rows, dim)).astype(np.float32)
    sha = np.array([f"{i:064x}" for i in range(rows)])
    images = {"path": np.array([f"/x/{i}.png" for i in range(rows)]), "sha256": sha, "label": y,
              "subject": np.array([f"s{i % 500}" for i in range(rows)]), "status": np.full(rows, "ok")}
    spec = {"backbone": "synthetic", "weights": "none", "view": "orig", "crop": {"method": "none", "no_face": "keep"}}
    features = {"synthetic.none.orig.0000000000": {"spec": spec, "sha256": sha, "vectors": vectors.astype(np.float32),
                                                   "face": np.full(rows, -1, np.int8), "box": np.full((rows, 4), -1, np.int32)}}
    commit(str(path), images=images, parts=[Part({"run_id": "bench"}, {}, features)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--rows", type=int, default=28709)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--head", default="logreg")
    ap.add_argument("--max-memory", default="auto", help="faceprobe's max_memory: a size streams the rows from the cache")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / f"fit-{a.rows}x{a.dim}.h5"
    if not cache.exists():
        make_cache(cache, a.rows, a.dim)
    out = subprocess.run([sys.executable, "-c", CHILD, str(cache), a.head, str(work / "model.skops"), a.max_memory], check=True,
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    matrix = a.rows * a.dim * 4
    print(json.dumps({"rows": a.rows, "dim": a.dim, "head": a.head, "max_memory": a.max_memory, "matrix_bytes": matrix, **r,
                      "peak_over_matrix": round((r["peak"] - r["rss_after_imports"]) / matrix, 3),
                      "faceprobe": os.environ.get("PYTHONPATH", "installed")}, indent=1))


if __name__ == "__main__":
    main()
