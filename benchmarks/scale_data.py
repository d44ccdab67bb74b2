"""The corpus of ``benchmarks/scale.py``: FER-format 48 x 48 grey faces made from the dev faces.

The dev faces' subjects are split once (seeded) into training people and test people, so no
person is on both sides, as in a grouped protocol. Each training face is drawn many times
with a random crop (80-100 % of the side, random place), a random horizontal flip and
Gaussian noise (sd 4 grey levels); each test face a few times. The rows go into one
FER-2013-format CSV (``emotion,pixels,Usage,subject,tier``): ``Usage`` is ``Training`` for the
first ``--train`` rows (the point the targets are stated at), ``Extra`` for the training rows
beyond it and ``PrivateTest`` for the test rows; ``tier`` is the 5k block a training row falls
in, so nested training sets of 5k, 10k, ... rows are prefixes of one drawn list. The CSV is
featurized once with efficientnet_lite0 into ``WORK/scale.h5``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIDE = 48


def _draw(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One augmented 48 x 48 grey copy of a grey face."""
    from PIL import Image

    h, w = img.shape
    side = int(min(h, w) * rng.uniform(0.8, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(img[y:y + side, x:x + side]).resize((SIDE, SIDE), Image.BILINEAR)
    out = np.asarray(crop, dtype=np.float32)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    out = out + rng.normal(0.0, 4.0, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_corpus(data: Path, csv_path: Path, total_train: int, train_point: int, test_rows: int, seed: int = 0) -> dict:
    """Write the CSV; returns counts. Training and test people are disjoint."""
    from PIL import Image

    rows = list(csv.DictReader(open(data / "manifest.csv")))
    rng = np.random.default_rng(seed)
    people = sorted({r["subject"] for r in rows})
    rng.shuffle(people)
    test_people = set(people[: len(people) // 5])
    faces = {}
    for r in rows:
        faces[r["path"]] = np.asarray(Image.open(data / "images" / r["path"]).convert("L"))
    train = [r for r in rows if r["subject"] not in test_people]
    test = [r for r in rows if r["subject"] in test_people]
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage", "subject", "tier"])
        for i in range(total_train):
            r = train[rng.integers(len(train))]
            px = _draw(faces[r["path"]], rng)
            usage = "Training" if i < train_point else "Extra"
            w.writerow([r["label"], " ".join(map(str, px.ravel())), usage, r["subject"], f"t{i // 5000:02d}"])
        for i in range(test_rows):
            r = test[i % len(test)]
            w.writerow([r["label"], " ".join(map(str, _draw(faces[r["path"]], rng).ravel())), "PrivateTest", r["subject"], "test"])
    return {"train_rows": total_train, "train_point": train_point, "test_rows": test_rows, "train_people": len(people) - len(test_people),
            "test_people": len(test_people), "classes": sorted({r["label"] for r in rows})}


def build(data: Path, work: Path, total_train: int = 40000, train_point: int = 28000, test_rows: int = 3500) -> dict:
    """Write the CSV (once) and featurize it (resumes; a second call computes nothing)."""
    work.mkdir(parents=True, exist_ok=True)
    csv_path, cache = work / "scale.csv", work / "scale.h5"
    meta_path = work / "corpus.json"
    if not meta_path.exists():
        meta = write_corpus(data, csv_path, total_train, train_point, test_rows)
        meta_path.write_text(json.dumps(meta))
    meta = json.loads(meta_path.read_text())
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(csv_path), "-b", "efficientnet_lite0", "-c", str(cache), "-q", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    summary = json.loads(out.stdout)
    meta["featurize"] = {"seconds": round(time.perf_counter() - t0, 1), "computed": summary["computed"],
                         "images_per_second": summary.get("steady_images_per_second")}
    meta["cache"] = str(cache)
    return meta


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    print(json.dumps(build(here.parent.parent / "shared" / "data" / "muxspace-dev", Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/faceprobe-scale"))))
