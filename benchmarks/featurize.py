"""Benchmark featurize on the real dev faces; prints one JSON object.

Every figure is a ratio to a baseline measured in the same run, on the same machine:

* end-to-end ``featurize()`` on a fresh cache versus the pure forward pass on ready tensors
  (same backbone, batch size and precision);
* bf16 versus fp32 forward speed, and the cosine similarity of their features;
* the cached rerun's time as a fraction of the first run's (in-process, and as a CLI process);
* two backbones in one pass versus two separate runs, without and with Haar face cropping;
* compiled graphs and decoding (``benchmarks/compile.py``, nested under ``"compile"``): eager
  versus each compile mode, pure forward and end to end, warm-up, the per-image loop, and
  decode-only rates. ``--skip-compile`` leaves it out.

End-to-end runs use eager PyTorch (``--compile none``; benchmarks/compile.py covers compiled
graphs) and ``--precision auto``, so they run at the precision featurize picks (bf16
only where it is native and faithful); the pure forward pass is timed at that same precision.
Each figure is the best of ``--repeats`` interleaved runs.

Usage::

    python benchmarks/featurize.py [--data ../shared/data/muxspace-dev] [--limit N] [--out FILE]
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
# ImageNet weights of torchvision models cannot be downloaded here; their speed does not
# depend on the weights' values, so densenet121 runs with random weights.
BACKBONES = {"efficientnet_lite0": "DEFAULT", "densenet121": "none"}


def ready_tensors(loaded, manifest: Path, root: Path, n: int):
    """Decode and preprocess ``n`` dev faces once, outside any timing."""
    import torch

    from faceprobe.featurize.sources.decode import decode_image
    from faceprobe.featurize.engine.transform import to_uint8_chw
    from faceprobe.featurize.sources.read import read_source

    entries = read_source(manifest, root=root).entries[:n]
    return torch.from_numpy(np.stack([to_uint8_chw(decode_image(e.path), loaded.transform) for e in entries]))


def forward_rate(runner, data, batch: int, total: int) -> tuple[float, np.ndarray]:
    """Images/s of the forward pass over ``total`` images cycled from ``data``; plus the features of ``data``."""
    runner(data[:batch])  # warm-up
    if total == 0:
        return 0.0, np.concatenate([runner(data[i:i + batch]) for i in range(0, len(data), batch)])
    t0 = time.perf_counter()
    done = 0
    while done < total:
        start = done % len(data)
        chunk = data[start:start + batch]
        runner(chunk)
        done += len(chunk)
    rate = done / (time.perf_counter() - t0)
    feats = np.concatenate([runner(data[i:i + batch]) for i in range(0, len(data), batch)])
    return rate, feats


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def timed_featurize(cfg) -> tuple[float, object]:
    from faceprobe.featurize.pipeline import run_featurize

    t0 = time.perf_counter()
    summary = run_featurize(cfg)
    return time.perf_counter() - t0, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images of the manifest")
    ap.add_argument("--batch-size", type=int, default=None, help="default: featurize's (16 on CPU, 128 on CUDA)")
    ap.add_argument("--skip-compile", action="store_true", help="leave out the compiled-graph and decode figures")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per figure; the best is kept")
    ap.add_argument("--haar-images", type=int, default=400, help="images for the two-backbone run with --crop haar")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    import torch

    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.engine.device import cpu_info, device_setup
    from faceprobe.featurize.options import FeaturizeOptions, resolve
    from faceprobe.featurize.engine.runner import FeatureRunner

    manifest, root = args.data / "manifest.csv", args.data / "images"
    if args.limit:
        tmp_manifest = Path(tempfile.mkdtemp()) / "manifest.csv"
        lines = manifest.read_text().splitlines()
        tmp_manifest.write_text("\n".join(lines[: args.limit + 1]) + "\n")
        manifest = tmp_manifest
    n_images = len(manifest.read_text().splitlines()) - 1
    plan = device_setup("auto", "auto")
    args.batch_size = args.batch_size or plan.default_batch_size
    work = Path(tempfile.mkdtemp(prefix="faceprobe-bench-"))
    result = {
        "benchmark": "featurize",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu_info(),
        "cores": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": plan.device,
        "precision_auto": plan.precision,
        "images": n_images,
        "batch_size": args.batch_size,
        "backbones": {},
    }
    first_run_seconds = {}
    for name, weights in BACKBONES.items():
        loaded = load_backbone(name, weights)
        data = ready_tensors(loaded, manifest, root, min(256, n_images))
        fp32 = FeatureRunner(loaded, device_setup(plan.device, "fp32"))
        low = FeatureRunner(loaded, plan) if plan.precision != "fp32" else None
        cache = work / f"{name}.h5"
        cfg = resolve(str(manifest), FeaturizeOptions(backbones=[name], weights=[weights], cache=str(cache), root=str(root), batch_size=args.batch_size, progress=False, compile="none"))
        rates: dict[str, list] = {"fp32": [], plan.precision: []}
        firsts, chosen = [], None
        for _ in range(args.repeats):  # interleaved, best of N: the machine is shared and noisy
            rates["fp32"].append(forward_rate(fp32, data, args.batch_size, n_images)[0])
            if low is not None:
                rates[plan.precision].append(forward_rate(low, data, args.batch_size, n_images)[0])
            if cache.exists():
                cache.unlink()
            first, s1 = timed_featurize(cfg)
            assert s1.computed == n_images - len(s1.bad), s1
            firsts.append(first)
            chosen = s1.precision
        rate = {k: max(v) for k, v in rates.items() if v}
        first = min(firsts)
        cos = None
        if low is not None:
            c = cosine_rows(forward_rate(fp32, data, args.batch_size, 0)[1], forward_rate(low, data, args.batch_size, 0)[1])
            cos = {"min": round(float(c.min()), 6), "mean": round(float(c.mean()), 6)}
        reruns = [timed_featurize(cfg) for _ in range(3)]
        assert all(s.forward_passes == 0 for _, s in reruns)
        rerun = min(t for t, _ in reruns)
        cli = [sys.executable, "-m", "faceprobe.cli", "featurize", str(manifest), "--root", str(root), "-b", name, "-w", weights, "--cache", str(cache), "-q"]
        cli_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(cli, check=True, capture_output=True)
            cli_times.append(time.perf_counter() - t0)
        first_run_seconds[name] = first
        result["backbones"][name] = {
            "weights": weights,
            "precision_chosen_by_auto": chosen,
            "pure_forward_img_s": round(rate[chosen], 1),
            "end_to_end_img_s": round(n_images / first, 1),
            "end_to_end_vs_pure_forward": round(n_images / first / rate[chosen], 3),
            "forward_img_s_by_precision": {k: round(v, 1) for k, v in rate.items()},
            f"{plan.precision}_vs_fp32_speed": round(rate[plan.precision] / rate["fp32"], 3) if low is not None else None,
            f"{plan.precision}_vs_fp32_cosine": cos,
            "first_run_s": round(first, 2),
            "cached_rerun_s": round(rerun, 3),
            "cached_rerun_fraction": round(rerun / first, 4),
            "cached_rerun_cli_process_s": round(min(cli_times), 3),
            "cached_rerun_cli_fraction": round(min(cli_times) / first, 4),
        }
    names = list(BACKBONES)
    result["two_backbones"] = {}
    for crop, limit in (("none", n_images), ("haar", min(n_images, args.haar_images))):
        sub = manifest
        if limit < n_images:
            sub = work / f"sub{limit}.csv"
            sub.write_text("\n".join(manifest.read_text().splitlines()[: limit + 1]) + "\n")
        def run(which, tag):
            path = work / f"two-{crop}-{tag}.h5"
            if path.exists():
                path.unlink()
            c = resolve(str(sub), FeaturizeOptions(backbones=which, weights=[BACKBONES[n] for n in which], cache=str(path), root=str(root),
                                crop=crop, batch_size=args.batch_size, progress=False, compile="none"))
            return timed_featurize(c)[0]
        if crop == "none":
            separate = sum(first_run_seconds.values())
        else:
            separate = sum(min(run([n], n) for _ in range(args.repeats)) for n in names)
        both = min(run(names, "both") for _ in range(args.repeats))
        result["two_backbones"][f"crop_{crop}"] = {
            "images": limit,
            "one_pass_s": round(both, 2),
            "separate_runs_s": round(separate, 2),
            "one_pass_vs_separate": round(both / separate, 3),
        }
    if not args.skip_compile:
        import importlib

        sys.path.insert(0, str(HERE))
        compile_bench = importlib.import_module("compile")
        cargs = compile_bench.parser().parse_args(["--data", str(args.data)])
        result["compile"] = compile_bench.measure(cargs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
