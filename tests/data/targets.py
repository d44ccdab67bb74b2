"""Continuous targets made reproducibly from face images, for regression tests, the demo set's
``brightness`` column and benchmarks (no face set at hand has pain scores).

``brightness``: mean luminance (0-100) of the central half of the image, where the face is.
``score``: brightness / 10 plus a per-subject offset (normal, sd 2, drawn in sorted subject
order from seed 0) plus noise (sd 0.5, one draw per row in order): a target where a person's
baseline dominates, as in pain intensity, so ``--normalize subject`` and grouping matter.

Run as a script to rewrite the demo manifest's brightness column:
``python tests/data/targets.py faceprobe/demo/data``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def brightness(path) -> float:
    """Mean luminance (0-100) of the central half (each side) of the image."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    h, w = grey.shape
    centre = grey[h // 4: h - h // 4, w // 4: w - w // 4]
    return round(float(centre.mean()) / 255 * 100, 3)


def with_targets(rows: list[dict], image_root: Path) -> list[dict]:
    """``rows`` (path, label, subject, ...) with ``brightness`` and ``score`` added."""
    subjects = sorted({r["subject"] for r in rows})
    rng = np.random.default_rng(0)
    offset = dict(zip(subjects, rng.normal(0, 2.0, len(subjects))))
    noise = rng.normal(0, 0.5, len(rows))
    out = []
    for r, e in zip(rows, noise):
        b = brightness(image_root / r["path"])
        out.append({**r, "brightness": b, "score": round(b / 10 + offset[r["subject"]] + e, 4)})
    return out


def main(folder: str) -> None:
    manifest = Path(folder) / "manifest.csv"
    rows = list(csv.DictReader(manifest.open(encoding="utf-8")))
    done = [{k: v for k, v in r.items() if k != "score"} for r in with_targets(rows, Path(folder) / "images")]
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        w = csv.DictWriter(handle, ["path", "label", "subject", "brightness"], lineterminator="\n")
        w.writeheader()
        w.writerows({k: r[k] for k in ("path", "label", "subject", "brightness")} for r in done)


if __name__ == "__main__":
    main(sys.argv[1])
