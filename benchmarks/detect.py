"""Benchmark face detectors and alignment on the dev faces; prints one JSON object.

Measured in one run, on the same machine:

* **detection alone**, one thread, on the same decoded images: faces found and images/s for
  ``haar``, ``yunet``, ``mediapipe`` (with the geometry extra) and, when the dlib extra is installed, ``dlib`` (HOG) and ``dlib_mmod``
  (the CNN detector, on the first ``MMOD_IMAGES`` images only: about a second per image);
* **end to end** ``featurize -b efficientnet_lite0`` on a fresh cache, each in a fresh process
  with the default cores and ``--compile auto``: ``--crop none``, ``haar``, ``yunet``,
  ``yunet --align``, ``yunet --align --preprocess clahe`` (and ``dlib --align``): total seconds
  and images/s; with the geometry extra ``mediapipe --align``; with the dlib extra also ``-b dlib/face_resnet --crop yunet --align`` (the face
  descriptor, for the study);
* **determinism**: ``--crop yunet --align`` with 0 and 2 workers gives identical vectors,
  landmarks and scores (asserted).

The caches are kept in ``--keep DIR`` (merged into ``DIR/crops.h5``) for the accuracy study in
docs/evaluation.md.

Usage::

    python benchmarks/detect.py [--data ../shared/data/muxspace-dev] [--keep DIR] [--out FILE]
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

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "muxspace-dev"
CONFIGS = {
    "none": [],
    "haar": ["--crop", "haar"],
    "yunet": ["--crop", "yunet"],
    "yunet_align": ["--crop", "yunet", "--align"],
    "yunet_align_clahe": ["--crop", "yunet", "--align", "--preprocess", "clahe"],
}
DLIB_CONFIGS = {
    "dlib_align": ["--crop", "dlib", "--align"],
    "face_resnet_yunet_align": ["-b", "dlib/face_resnet", "--crop", "yunet", "--align"],
}
MEDIAPIPE_CONFIGS = {"mediapipe_align": ["--crop", "mediapipe", "--align"]}
MMOD_IMAGES = 100


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--keep", type=Path, default=None, help="folder for the caches (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--detection-only", action="store_true", help="only the one-thread detection comparison")
    return ap


def detection_alone(data: Path) -> dict:
    """Faces found and images/s of each detector on one thread, same decoded images."""
    from faceprobe.featurize.faces import dlib_models
    from faceprobe.featurize.faces.crop import CropSpec, crop_face
    from faceprobe.featurize.sources.decode import decode_image
    from faceprobe.featurize.sources.read import read_source

    os.environ["OMP_NUM_THREADS"] = "1"  # this benchmark process only: one thread for every detector
    entries = read_source(data / "manifest.csv", root=data / "images").entries
    images = [decode_image(e.path) for e in entries]
    specs = {"haar": (CropSpec("haar"), images), "yunet": (CropSpec("yunet"), images)}
    from faceprobe.featurize.faces import landmarker

    if landmarker.available():
        specs["mediapipe"] = (CropSpec("mediapipe"), images)
    if dlib_models.available():
        specs["dlib"] = (CropSpec("dlib"), images)
        specs["dlib_mmod"] = (CropSpec("dlib", params=(("detector", "mmod"),)), images[:MMOD_IMAGES])
    out = {"images": len(images)}
    for method, (spec, some) in specs.items():
        crop_face(some[0], spec)  # load the model once
        t0 = time.perf_counter()
        found = sum(crop_face(img, spec).face == 1 for img in some)
        secs = time.perf_counter() - t0
        out[method] = {"images": len(some), "found": int(found), "found_pct": round(100 * found / len(some), 2),
                       "img_s": round(len(some) / secs, 1)}
    return out


def featurize_run(data: Path, cache: Path, extra: list[str], workers: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(data / "manifest.csv"), "--root", str(data / "images"),
           "-c", str(cache), "-q", "--json", *(extra if "-b" in extra else ["-b", "efficientnet_lite0", *extra])] + (["--workers", workers] if workers else [])
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    s = json.loads(out.stdout)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "img_s": round(s["computed"] / wall, 1), "steady_img_s": s["steady_images_per_second"],
            "setup_s": s["setup_seconds"], "no_face": s["no_face"], "compile": s["compile"], "key": s["keys"][0]}


def determinism(data: Path, folder: Path) -> dict:
    from faceprobe.cache.store import read_features

    got = []
    for workers in ("0", "2"):
        cache = folder / f"det-w{workers}.h5"
        r = featurize_run(data, cache, ["--crop", "yunet", "--align", "--compile", "none", "--precision", "fp32"], workers)
        fm = read_features(str(cache), r["key"])
        order = np.argsort(fm.sha256)
        got.append([fm.vectors[order], fm.landmarks[order], fm.score[order]])
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(*got))
    assert same, "yunet --align differs between 0 and 2 workers"
    return {"workers_0_vs_2_identical": same, "images": int(len(got[0][0]))}


def main() -> None:
    args = parser().parse_args()
    from faceprobe.featurize.engine.device import cpu_info

    folder = args.keep or Path(tempfile.mkdtemp(prefix="faceprobe-detect-"))
    folder.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "detect", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(),
              "cores": len(os.sched_getaffinity(0)), "detection_one_thread": detection_alone(args.data)}
    from faceprobe.featurize.faces import dlib_models, landmarker

    if args.detection_only:
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return
    configs = {**CONFIGS, **(DLIB_CONFIGS if dlib_models.available() else {}),
               **(MEDIAPIPE_CONFIGS if landmarker.available() else {})}
    e2e = {name: featurize_run(args.data, folder / f"{name}.h5", extra) for name, extra in configs.items()}
    e2e["yunet_align_vs_haar_img_s"] = round(e2e["yunet_align"]["img_s"] / e2e["haar"]["img_s"], 3)
    result["end_to_end"] = e2e
    result["determinism"] = determinism(args.data, folder)
    merged = folder / "crops.h5"
    subprocess.run([sys.executable, "-m", "faceprobe.cli", "cache", "merge", *[str(folder / f"{n}.h5") for n in configs], "-o", str(merged)],
                   check=True, capture_output=True)
    result["study_cache"] = str(merged)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
