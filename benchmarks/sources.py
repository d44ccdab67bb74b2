"""Benchmark the non-file sources against files of the same pixels; prints one JSON object.

Measured in one run, on the same machine, from the dev faces:

* **FER-2013 CSV**: the 1,730 faces as a FER-2013-format CSV (48 x 48 grey pixel strings)
  against the same 48 x 48 faces as PNG files: ``featurize -b efficientnet_lite0`` on a fresh
  cache in a fresh process (default cores, ``--compile auto``), the two alternating, twice;
  the best run of each counts. Also the reading alone (listing + fingerprints).
* **video**: ``--frames`` of an MPEG-4 video (OpenCV's ``mp4v``) of the faces at 352 x 352
  against the same decoded frames as JPEG files (quality 90): decoding alone, in order, one
  process (images/s), and ``featurize`` end to end as above.

Targets (issue 17): CSV >= 0.9x the images/s of the PNG files; video frames >= 0.8x the
images/s of the JPEG files.

Usage::

    python benchmarks/sources.py [--data ../shared/data/muxspace-dev] [--out FILE] [--images N]
"""

from __future__ import annotations

import argparse
import csv
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
VIDEO_SIDE = 352


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--images", type=int, default=None, help="use the first N faces (default: all)")
    return ap


def _faces(data: Path, limit: int | None) -> list[tuple[str, str]]:
    rows = list(csv.DictReader(open(data / "manifest.csv")))
    return [(r["path"], r["label"]) for r in rows[:limit]]


def write_inputs(data: Path, faces, folder: Path) -> dict:
    """The FER CSV and PNG folder (48 px grey), the video and JPEG folder (352 px colour)."""
    import cv2
    from PIL import Image

    labels = sorted({lab for _, lab in faces})
    fer, png, jpg = folder / "fer.csv", folder / "png", folder / "jpg"
    out = cv2.VideoWriter(str(folder / "faces.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (VIDEO_SIDE, VIDEO_SIDE))
    with open(fer, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (path, lab) in enumerate(faces):
            img = Image.open(data / "images" / path)
            small = np.asarray(img.convert("L").resize((48, 48), Image.BILINEAR))
            w.writerow([lab, " ".join(map(str, small.ravel())), "Training"])
            (png / lab).mkdir(parents=True, exist_ok=True)
            Image.fromarray(small).save(png / lab / f"{i:05d}.png")
            out.write(np.asarray(img.convert("RGB").resize((VIDEO_SIDE, VIDEO_SIDE), Image.BILINEAR))[:, :, ::-1].copy())
    out.release()
    # the JPEG files hold the video's decoded frames, so both sides decode the same pictures
    cap = cv2.VideoCapture(str(folder / "faces.mp4"))
    (jpg / "x").mkdir(parents=True)
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        Image.fromarray(bgr[:, :, ::-1]).save(jpg / "x" / f"{i:05d}.jpg", quality=90)
        i += 1
    (folder / "video" / "x").mkdir(parents=True)
    os.replace(folder / "faces.mp4", folder / "video" / "x" / "faces.mp4")
    return {"fer": fer, "png": png, "jpg": jpg, "video": folder / "video", "labels": labels, "frames": i}


def decode_alone(source: Path) -> dict:
    """List and fingerprint a source, then open every image in order, one process."""
    from faceprobe.featurize.sources.hashing import hash_files
    from faceprobe.featurize.sources.read import read_source

    t0 = time.perf_counter()
    entries = read_source(source).entries
    hash_files(entries)
    listed = time.perf_counter() - t0
    t0 = time.perf_counter()
    for e in entries:
        e.open()
    secs = time.perf_counter() - t0
    return {"images": len(entries), "list_and_hash_s": round(listed, 3), "decode_img_s": round(len(entries) / secs, 1)}


def featurize_run(source: Path, cache: Path) -> dict:
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(source), "-b", "efficientnet_lite0", "-c", str(cache), "-q", "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    s = json.loads(out.stdout)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "img_s": round(s["computed"] / wall, 1), "steady_img_s": s["steady_images_per_second"],
            "computed": s["computed"], "bad": len(s["bad"])}


def best_of(pair: dict, folder: Path, rounds: int = 2) -> dict:
    """Each source featurized ``rounds`` times, alternating, on fresh caches; the best run of each."""
    runs: dict[str, list] = {name: [] for name in pair}
    for r in range(rounds):
        for name, source in pair.items():
            runs[name].append(featurize_run(source, folder / f"{name}-{r}.h5"))
    return {name: max(rs, key=lambda x: x["img_s"]) for name, rs in runs.items()}


def main() -> None:
    args = parser().parse_args()
    from faceprobe.featurize.engine.device import cpu_info

    folder = Path(tempfile.mkdtemp(prefix="faceprobe-sources-"))
    faces = _faces(args.data, args.images)
    inputs = write_inputs(args.data, faces, folder)
    result = {"benchmark": "sources", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(),
              "cores": len(os.sched_getaffinity(0)), "images": len(faces), "video_frames": inputs["frames"]}
    result["decode_alone"] = {name: decode_alone(inputs[name]) for name in ("fer", "png", "video", "jpg")}
    e2e = {**best_of({"fer": inputs["fer"], "png": inputs["png"]}, folder), **best_of({"video": inputs["video"], "jpg": inputs["jpg"]}, folder)}
    e2e["fer_vs_png_img_s"] = round(e2e["fer"]["img_s"] / e2e["png"]["img_s"], 3)
    e2e["video_vs_jpg_img_s"] = round(e2e["video"]["img_s"] / e2e["jpg"]["img_s"], 3)
    d = result["decode_alone"]
    result["decode_video_vs_jpg"] = round(d["video"]["decode_img_s"] / d["jpg"]["decode_img_s"], 3)
    result["decode_fer_vs_png"] = round(d["fer"]["decode_img_s"] / d["png"]["decode_img_s"], 3)
    result["end_to_end"] = e2e
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
