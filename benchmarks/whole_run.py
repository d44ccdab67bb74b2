"""Featurize's whole process against its own forward pass, with the per-stage breakdown.

usage: python benchmarks/whole_run.py [--source dev|fer] [--images N] [--backbone efficientnet_lite0] > whole.json

One run, on one machine, in this order:

1. ``featurize --runtime auto`` on the first ``--prime`` faces (default 2,000: all of the dev
   faces), in a fresh ``FACEPROBE_HOME``: it tries every runtime (inductor too, on a run long
   enough to repay its compile), exports the graph and remembers its choice (the one-time cost
   on a machine, reported as the first run).
2. The whole process: ``featurize`` as a user types it (fresh cache, choice remembered), timed
   from the process's start to its end; its ``stages`` and ``stage_shares`` from ``--json``.
3. The pure forward pass of the runtime that run chose, in this process: ready normalised
   batches of the run's batch size, the run's thread count, no decoding, no cache; img/s; and
   eager PyTorch's the same way (what the first run is held against), whole and in slices of
   8, 4, 2 and 1 images (the first run is also held against the fastest of those).
4. The same command again on the now full cache (the cached rerun), timed the same way.

``--source dev`` uses the dev faces (``../shared/data/muxspace-dev``, 250 x 250 JPEGs);
``--source fer`` writes a FER-2013-format CSV of ``--images`` 48 x 48 grey faces drawn from
them (``benchmarks/scale_data.py``; 35,887 is FER-2013's size). Prints one JSON object.
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

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "muxspace-dev"


def _source(kind: str, data: Path, n: int | None, tmp: Path) -> tuple[Path, list[str], int]:
    """The source file, the flags it needs and its image count."""
    if kind == "fer":
        sys.path.insert(0, str(HERE))
        from scale_data import write_corpus

        n = n or 35887
        test = max(1, n // 10)
        path = tmp / "fer.csv"
        write_corpus(data, path, total_train=n - test, train_point=n - test, test_rows=test)
        return path, [], n
    rows = list(csv.DictReader(open(data / "manifest.csv")))[:n]
    path = tmp / "manifest.csv"
    with open(path, "w", newline="") as handle:
        w = csv.DictWriter(handle, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path, ["--root", str(data / "images")], len(rows)


def _head(path: Path, n: int, tmp: Path) -> Path:
    """The first ``n`` rows of the source, for the priming run."""
    out = tmp / f"head{path.suffix}"
    with open(path) as src, open(out, "w") as dst:
        for i, line in enumerate(src):
            if i > n:
                break
            dst.write(line)
    return out


def _featurize(source: Path, flags: list, backbone: str, cache: Path, home: Path, *extra: str) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(source), *flags, "-b", backbone, "-c", str(cache),
           "--json", "-q", *extra]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "FACEPROBE_HOME": str(home)})
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout), wall


def _pure_forward(backbone: str, mode: str, batch: int, threads: int, seconds: float = 10.0, chunk: int | None = None) -> float:
    """img/s of the run's chosen runtime (or PyTorch mode) on ready normalised batches (eager:
    forwarded in slices of ``chunk`` where given)."""
    import torch

    from faceprobe.featurize.backbones.load import load_outputs
    from faceprobe.featurize.engine.device import device_setup
    from faceprobe.featurize.engine.runner import FeatureRunner
    from faceprobe.featurize.engine.runtimes import RUNTIMES

    torch.set_num_threads(threads)
    runner = FeatureRunner(load_outputs([backbone], "DEFAULT", seed=0), device_setup("cpu", "fp32"), pad_to=batch)
    runner.chunk = chunk
    t = runner.backbone.transform
    x = runner.normalise(torch.randint(0, 256, (batch, 3, t.crop, t.crop), dtype=torch.uint8))
    name, _, precision = mode.partition("-")
    if name in RUNTIMES and RUNTIMES.get(name).build is not None:
        built = RUNTIMES.get(name).build(runner, x, precision or "fp32")
        if hasattr(built, "choose_slice"):  # OpenVINO's streams: in the slice a run would choose
            built.choose_slice(x.numpy())
        runner.set_compiled(mode, built)
    elif mode != "none":
        raise SystemExit(f"pure forward of PyTorch mode {mode!r} is measured by benchmarks/compile.py")
    for _ in range(3):
        runner.forward_float(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        runner.forward_float(x)
        n += batch
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", choices=("dev", "fer"), default="dev")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--prime", type=int, default=2000, help="faces of the first run, which tries every runtime")
    a = ap.parse_args()
    import faceprobe
    import torch

    from faceprobe.featurize.engine.device import cpu_info

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        source, flags, n = _source(a.source, Path(a.data), a.images, tmp)
        head = _head(source, a.prime, tmp)
        prime, prime_wall = _featurize(head, flags, a.backbone, tmp / "prime.h5", home)
        whole, wall = _featurize(source, flags, a.backbone, tmp / "run.h5", home)
        rerun, rerun_wall = _featurize(source, flags, a.backbone, tmp / "run.h5", home)
        mode = next(iter(whole["compile"].values()), "none")
        batch = 16
        forward = _pure_forward(a.backbone, mode, batch, len(os.sched_getaffinity(0)))
        threads = len(os.sched_getaffinity(0))
        eager = _pure_forward(a.backbone, "none", batch, threads)
        sliced = {size: _pure_forward(a.backbone, "none", batch, threads, 5.0, size) for size in (8, 4, 2, 1)}
    images = whole["computed"]
    result = {
        "cpu": cpu_info()["model"], "cores": len(os.sched_getaffinity(0)), "faceprobe": faceprobe.__version__,
        "torch": torch.__version__, "source": a.source, "images": n, "backbone": a.backbone, "runtime": mode,
        "first_run": {"images": prime["computed"], "wall_s": round(prime_wall, 2), "checks_s": prime["stages"].get("checks"),
                      "img_s": round(prime["computed"] / prime_wall, 1), "compile": prime["compile"],
                      "over_eager_pure_forward": round(prime["computed"] / prime_wall / eager, 3),
                      "over_eager_best_slice": round(prime["computed"] / prime_wall / max(sliced.values()), 3)},
        "whole": {"wall_s": round(wall, 2), "img_s": round(images / wall, 1), "in_process_s": whole["seconds"],
                  "stages": whole["stages"], "stage_shares": whole["stage_shares"]},
        "pure_forward_img_s": round(forward, 1),
        "eager_pure_forward_img_s": round(eager, 1),
        "eager_sliced_pure_forward_img_s": {size: round(v, 1) for size, v in sliced.items()},
        "whole_over_forward": round(images / wall / forward, 3),
        "steady_img_s": whole.get("steady_images_per_second"),
        "steady_over_forward": round((whole.get("steady_images_per_second") or 0) / forward, 3),
        "cached_rerun": {"wall_s": round(rerun_wall, 2), "share_of_first": round(rerun_wall / wall, 4),
                         "computed": rerun["computed"]},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
