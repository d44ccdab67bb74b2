"""Benchmark intermediate layers and a timm model on the dev faces; prints one JSON object.

Measured in one run, on the same machine, each figure in a fresh process (alternating the two
sides of every ratio, ``--repeats`` times, best of each kept):

* **layers**: efficientnet_lite0's pooled output alone against the pooled output plus three
  layers (``blocks.7``, ``blocks.10``, ``blocks.14``: ends of stages 4 to 6) from one forward
  pass: the pure forward pass on ready tensors (eager), and end-to-end ``featurize`` with the
  default ``--compile auto`` on a fresh cache (total and steady images/s);
* **timm**: a timm model (default ``timm/efficientnet_b0`` with random weights; the hub is out of
  reach here) through the same machinery: pure forward eager / freeze / inductor with each
  mode's cosine to eager, the bf16 fidelity check, and end-to-end ``featurize --compile auto``.

Usage::

    python benchmarks/layers.py [--data ../shared/data/muxspace-dev] [--out FILE]
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
LAYERS = ["efficientnet_lite0", "efficientnet_lite0@blocks.7", "efficientnet_lite0@blocks.10", "efficientnet_lite0@blocks.14"]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--timm", default="timm/efficientnet_b0")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--requests", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--weights", default="DEFAULT", help=argparse.SUPPRESS)
    return ap


def main() -> None:
    """The whole benchmark (JSON printed, and written to ``--out``), or one child measurement."""
    args = parser().parse_args()
    text = json.dumps(child(args)) if args.child else json.dumps(measure(args), indent=2)
    print(text)
    if args.out and not args.child:
        args.out.write_text(text + "\n")


def fresh(args, what: str, requests: list[str], weights: str) -> dict:
    cmd = [sys.executable, __file__, "--child", what, "--data", str(args.data), "--requests", ",".join(requests), "--weights", weights]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(args, what: str, sides: dict) -> dict:
    """Run every side ``--repeats`` times, alternating; keep each side's best (highest img/s)."""
    runs: dict = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, (requests, weights) in sides.items():
            runs[name].append(fresh(args, what, requests, weights))
    key = "img_s" if what.startswith("pure") else "total_s"
    pick = max if key == "img_s" else min
    return {name: {**pick(r, key=lambda x: x[key]), "all": [x[key] for x in r]} for name, r in runs.items()}


def measure(args) -> dict:
    import torch

    from faceprobe.featurize.engine.device import cpu_info

    result = {"benchmark": "layers", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(),
              "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__}
    sides = {"pooled": (LAYERS[:1], "DEFAULT"), "pooled_plus_3_layers": (LAYERS, "DEFAULT")}
    pure = best_of(args, "pure:none", sides)
    e2e = best_of(args, "e2e:auto", sides)
    result["layers"] = {
        "requests": LAYERS,
        "pure_forward_eager": pure,
        "pure_time_ratio": round(pure["pooled"]["img_s"] / pure["pooled_plus_3_layers"]["img_s"], 3),
        "end_to_end_compile_auto": e2e,
        "end_to_end_time_ratio": round(e2e["pooled_plus_3_layers"]["total_s"] / e2e["pooled"]["total_s"], 3),
        "steady_time_ratio": round(e2e["pooled"]["steady_img_s"] / e2e["pooled_plus_3_layers"]["steady_img_s"], 3),
    }
    t = {"pure:" + m: fresh(args, "pure:" + m, [args.timm], "none") for m in ("none", "freeze", "inductor")}
    t["fidelity:bf16"] = fresh(args, "fidelity:bf16", [args.timm], "none")
    t["e2e:auto"] = fresh(args, "e2e:auto", [args.timm], "none")
    result["timm"] = {"backbone": args.timm, "weights": "none (random; no hub here)", **t}
    return result


def child(args) -> dict:
    """One measurement in this (fresh) process: ``pure:MODE``, ``fidelity:bf16`` or ``e2e:MODE``."""
    import torch

    from faceprobe.featurize.backbones.load import load_outputs
    from faceprobe.featurize.engine.compile import COMPILE_MODES, min_cosine
    from faceprobe.featurize.sources.decode import decode_image
    from faceprobe.featurize.engine.device import device_setup
    from faceprobe.featurize.options import FeaturizeOptions, resolve
    from faceprobe.featurize.pipeline import run_featurize
    from faceprobe.featurize.engine.transform import to_uint8_chw
    from faceprobe.featurize.engine.runner import FeatureRunner
    from faceprobe.featurize.sources.read import read_source

    kind, mode = args.child.split(":")
    requests = args.requests.split(",")
    manifest, root = args.data / "manifest.csv", args.data / "images"
    entries = read_source(manifest, root=root).entries
    if kind == "e2e":
        cache = Path(tempfile.mkdtemp(prefix="faceprobe-bench-")) / "f.h5"
        cfg = resolve(str(manifest), FeaturizeOptions(backbones=requests, weights=[args.weights], cache=str(cache), root=str(root), compile=mode, progress=False))
        t0 = time.perf_counter()
        s = run_featurize(cfg)
        return {"total_s": round(time.perf_counter() - t0, 2), "setup_s": s.setup_seconds, "images": s.computed,
                "compile": {k: v for k, v in s.compile.items() if k != "notes"}, "precision": s.precision,
                "steady_img_s": s.steady_images_per_second, "keys": len(s.keys)}
    loaded = load_outputs(requests, args.weights)
    plan = device_setup("auto", "bf16" if kind == "fidelity" else "fp32")
    batch = plan.default_batch_size
    runner = FeatureRunner(loaded, plan, pad_to=batch)
    data = torch.from_numpy(np.stack([to_uint8_chw(decode_image(e.path), loaded.transform) for e in entries[:256]]))
    batches = [data[i:i + batch] for i in range(0, len(data), batch)]
    if kind == "fidelity":
        t0 = time.perf_counter()
        cos = runner.check_fidelity(batches[0])
        return {"min_cosine_to_fp32": round(cos, 6), "kept": runner.precision == "bf16", "check_s": round(time.perf_counter() - t0, 2)}
    eager = np.concatenate([runner(b) for b in batches])
    out = {"outputs": [o.name for o in loaded.output_list()], "dim": loaded.feature_dim}
    if mode != "none":
        t0 = time.perf_counter()
        runner.set_compiled(mode, COMPILE_MODES.get(mode).build(runner, runner.normalise(batches[0])))
        runner(batches[0])
        out["warmup_s"] = round(time.perf_counter() - t0, 2)
        out["min_cosine_to_eager"] = round(min_cosine(eager, np.concatenate([runner(b) for b in batches]), loaded.bounds()), 7)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for b in batches:
            runner(b)
        best = min(best, time.perf_counter() - t0)
    out["img_s"] = round(len(data) / best, 1)
    return out


if __name__ == "__main__":
    main()
