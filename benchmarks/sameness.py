"""Fingerprint featurize keys and classify figures on the dev faces, to show a refactor changes no number.

usage: python benchmarks/sameness.py DATA_DIR WORK_DIR > fingerprint.json

Runs a fixed set of featurize commands (crop, alignment, preprocessing, layers, random weights)
into WORK_DIR/features.h5, then a subject-grouped classify grid over its keys; prints JSON with
each key, its provenance-free settings, a sha256 of its vectors in cache order, and every
figure of the grid. Two runs (before and after a change) are compared with `diff`.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

FEATURIZE = [
    ["-b", "efficientnet_lite0", "--crop", "haar"],
    ["-b", "resnet18", "-w", "none", "--crop", "yunet", "--align", "--preprocess", "clahe"],
    ["-b", "resnet18@layer3", "-w", "none", "--crop", "yunet"],
]


def _run(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "faceprobe.cli", *args], check=True,
                   stdout=subprocess.DEVNULL)


def _vectors(cache: Path) -> dict:
    out = {}
    with h5py.File(cache, "r") as f:
        for key in sorted(f["features"]):
            vec = np.asarray(f["features"][key]["vectors"])
            order = np.argsort(f["features"][key]["sha256"].asstr()[()], kind="stable")
            out[key] = {"shape": list(vec.shape),
                        "sha256": hashlib.sha256(np.ascontiguousarray(vec[order]).tobytes()).hexdigest()}
    return out


def main() -> None:
    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "features.h5"
    manifest = data / "manifest.csv"
    for args in FEATURIZE:
        _run(["featurize", str(manifest), "--root", str(data / "images"), "-c", str(cache), "-q", *args])
    result = work / "grid.json"
    with h5py.File(cache, "r") as f:
        keys = sorted(f["features"])
    _run(["classify", "-c", str(cache), *[a for k in keys for a in ("-b", k)], "--head", "logreg,svm,knn",
          "--cv", "5", "--min-count", "10",
          "--json", str(result), "-q", "--engine", "sklearn"])
    figures = json.loads(result.read_text())
    print(json.dumps({"keys": _vectors(cache), "classify": figures_of(figures)}, indent=1, sort_keys=True,
                     default=str))


def figures_of(res: dict) -> dict:
    """The numbers of a classify run (grid, and per key and head every summary, per-class figure,
    confusion matrix and fold metric), whatever the results' layout (flat since issue 23)."""
    if "cells" in res:
        cells = {f"{c['key']} | {c['head']}": c for c in res["cells"]}
        folds = {}
        for f in res["folds"]:
            folds.setdefault(f"{f['key']} | {f['head']}", []).append(f)
    else:
        per_key = res["per_key"] if res.get("study") else {res["provenance"]["key"]: res}
        cells = {f"{k} | {h}": r for k, v in per_key.items() for h, r in v["heads"].items()}
        folds = {name: c["folds"] for name, c in cells.items()}
    metrics = ("accuracy", "balanced_accuracy", "f1_macro", "n_train", "n_test", "params", "confusion")
    return {
        "grid": res["grid"],
        "cells": {name: {k: c[k] for k in ("summary", "per_class", "confusion")} for name, c in cells.items()},
        "folds": {name: [{k: f.get(k) for k in metrics} for f in fs] for name, fs in folds.items()},
    }


if __name__ == "__main__":
    main()
