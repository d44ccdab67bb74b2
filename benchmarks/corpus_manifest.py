"""Time ``faceprobe corpus manifest`` on a FER-2013-sized image-folder copy (35,887 files).

usage: python benchmarks/corpus_manifest.py WORK_DIR [--train 28709] [--public 3589] [--private 3589] > result.json

Builds (once) WORK_DIR/fer-folders laid out as the image-folder copy of FER-2013 (train/<class>/
Training_N.jpg, test/<class>/PublicTest_N.jpg and PrivateTest_N.jpg; the files hold a few bytes,
as the manifest reads names, not pixels), then times reading it into a manifest and writing the
CSV, three times, and prints the rows by role and the best and median seconds with the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def build(root: Path, counts: dict) -> None:
    if (root / "done").exists():
        return
    n = 0
    for usage, count in counts.items():
        part = "train" if usage == "Training" else "test"
        for i in range(count):
            path = root / part / CLASSES[n % 7] / f"{usage}_{n}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff\xd8\xff")
            n += 1
    (root / "done").write_text("ok")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--train", type=int, default=28709)
    ap.add_argument("--public", type=int, default=3589)
    ap.add_argument("--private", type=int, default=3589)
    a = ap.parse_args()
    from faceprobe.corpora import corpus_manifest, write_manifest
    from faceprobe.featurize.engine.device import cpu_info

    root = Path(a.work) / "fer-folders"
    build(root, {"Training": a.train, "PublicTest": a.public, "PrivateTest": a.private})
    times, m = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        m = corpus_manifest("fer2013", root)
        write_manifest(m, Path(a.work) / "manifest.csv")
        times.append(time.perf_counter() - t0)
    roles = {s: m.columns["split"].count(s) for s in ("Training", "PublicTest", "PrivateTest")}
    print(json.dumps({"cpu": cpu_info()["model"], "files": sum(roles.values()), "rows_by_role": roles, "layout": m.layout,
                      "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}, indent=1))


if __name__ == "__main__":
    main()
