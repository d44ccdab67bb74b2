"""Benchmark compiled graphs and decoding on the dev faces; prints one JSON object.

Measured in one run, on the same machine:

* the pure forward pass on ready tensors: eager, ``freeze`` and ``inductor`` (images/s, warm-up);
* end-to-end ``featurize`` with ``--compile none|freeze|inductor|auto`` on a fresh cache: total
  time, setup (loading, checks, compiling) and the steady images/s after it;
* the plain per-image loop users write (open, transform, forward one image);
* decoding on one thread: Pillow versus torchvision.io (libjpeg-turbo), decode only and
  decode plus resize to the backbone's input, each checked to give identical pixels.

Each forward and end-to-end figure runs in a fresh process: tracing with ``torch.jit.freeze``
was seen to speed up later eager runs in the same process (70 -> 92 img/s), which would
flatter the eager baseline of anything measured after it.

``benchmarks/featurize.py`` runs this too and nests its result under ``"compile"``.

Usage::

    python benchmarks/compile.py [--data ../shared/data/muxspace-dev] [--backbone efficientnet_lite0] [--out FILE]
    python benchmarks/compile.py --backbone resnet50 --weights none --precision fp16 --batch-size 256   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "muxspace-dev"


def best_rate(fn, n_images: int, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_images / best


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--weights", default="DEFAULT")
    ap.add_argument("--precision", default="fp32", help="fp32: what --precision auto keeps for efficientnet_lite0 here")
    ap.add_argument("--batch-size", type=int, default=None, help="default: featurize's (16 on CPU, 128 on CUDA)")
    ap.add_argument("--loop-images", type=int, default=300)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return ap


def main() -> None:
    args = parser().parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    text = json.dumps(measure(args), indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def measure(args) -> dict:
    """All figures of this benchmark, as a dict (see the module docstring)."""
    import subprocess
    import sys

    def fresh(what: str) -> dict:
        cmd = [sys.executable, __file__, "--child", what, "--data", str(args.data), "--backbone", args.backbone,
               "--weights", args.weights, "--precision", args.precision, "--batch-size", str(args.batch_size)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    import torch

    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.engine.device import cpu_info, device_setup
    from faceprobe.featurize.sources.read import read_source

    manifest, root = args.data / "manifest.csv", args.data / "images"
    entries = read_source(manifest, root=root).entries
    n = len(entries)
    plan = device_setup("auto", args.precision)
    args.batch_size = args.batch_size or plan.default_batch_size
    loaded = load_backbone(args.backbone, args.weights)
    result = {"benchmark": "compile", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(),
              "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__, "device": plan.device,
              "device_name": torch.cuda.get_device_name() if plan.is_cuda else None, "backbone": args.backbone,
              "precision": plan.precision, "batch_size": args.batch_size, "images": n}

    forward = {mode: fresh(f"pure:{mode}") for mode in ("none", "freeze", "inductor")}
    eager_rate = forward["none"]["img_s"]
    for mode in ("freeze", "inductor"):
        if "img_s" in forward[mode]:
            forward[mode]["vs_eager"] = round(forward[mode]["img_s"] / eager_rate, 3)
    result["pure_forward"] = forward
    e2e = {mode: fresh(f"e2e:{mode}") for mode in ("none", "freeze", "inductor", "auto")}
    for v in e2e.values():
        v["steady_vs_eager_pure_forward"] = round(v["steady_img_s"] / eager_rate, 3)
        v["total_img_s"] = round(n / v["total_s"], 1)
    result["end_to_end"] = e2e

    # the per-image loop people write: open, torchvision-style transform, forward one image
    from PIL import Image

    t = loaded.transform
    mean = torch.tensor(t.mean, device=plan.device).view(3, 1, 1)
    std = torch.tensor(t.std, device=plan.device).view(3, 1, 1)
    model = loaded.model.eval().to(plan.device)

    def loop():
        with torch.inference_mode():
            for e in entries[: args.loop_images]:
                img = Image.open(e.path).convert("RGB")
                w, h = img.size
                s = t.resize / min(w, h)
                img = img.resize((round(w * s), round(h * s)), Image.BILINEAR)
                left, top = (img.width - t.crop) // 2, (img.height - t.crop) // 2
                img = img.crop((left, top, left + t.crop, top + t.crop))
                x = (torch.from_numpy(np.asarray(img).copy()).to(plan.device).permute(2, 0, 1).float() / 255 - mean) / std
                model(x[None]).cpu()

    loop_rate = best_rate(loop, args.loop_images, repeats=1)
    result["per_image_loop_img_s"] = round(loop_rate, 1)
    best_e2e = max(v["steady_img_s"] for v in e2e.values())
    result["best_end_to_end_vs_per_image_loop"] = round(best_e2e / loop_rate, 2)

    result["decode_one_thread"] = decode_rates(entries[:400], t)
    return result


def decode_rates(entries, t) -> dict:
    """Images/s on one thread: Pillow versus torchvision.io, decode only and decode + resize.

    Each pair is asserted to give identical pixels: torchvision's decode_jpeg (libjpeg-turbo)
    with EXIF orientation applied, and for the resize faceprobe's exact port of Pillow's
    resampling (the --decode device path, here on the CPU).
    """
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    from faceprobe.featurize.sources.decode import decode_image
    from faceprobe.featurize.engine.devdecode import decode_on_device, jpeg_for_device
    from faceprobe.featurize.engine.transform import to_uint8_chw

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    files = [e.path for e in entries]
    blobs = {f: jpeg_for_device(f, (t.resize, t.resize)) for f in files}
    files = [f for f in files if blobs[f] is not None]  # plain JPEGs (the set has one WebP)
    tensors = [torch.from_numpy(blobs[f]) for f in files]

    def pillow_decode():
        return [np.asarray(decode_image(f)) for f in files]

    def tv_decode():
        return [decode_jpeg(b, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=True) for b in tensors]

    def pillow_resize():
        return [to_uint8_chw(decode_image(f, draft_size=(t.resize, t.resize)), t) for f in files]

    def tv_resize():
        return [decode_on_device([blobs[f]], [t], "cpu")[0][2][0] for f in files]

    for a, b in zip(pillow_decode(), tv_decode()):
        b = b.numpy()
        assert np.array_equal(a, b[0] if b.shape[0] == 1 else b.transpose(1, 2, 0)), "decoders disagree"
    for a, b in zip(pillow_resize(), tv_resize()):
        assert np.array_equal(a, b.numpy()), "resizers disagree"
    out = {"images": len(files),
           "decode_only": {"pillow": round(best_rate(pillow_decode, len(files)), 1),
                           "torchvision_io": round(best_rate(tv_decode, len(files)), 1)},
           "decode_and_resize": {"pillow": round(best_rate(pillow_resize, len(files)), 1),
                                 "torchvision_io_plus_exact_pillow_resize_in_torch": round(best_rate(tv_resize, len(files)), 1)},
           "identical_pixels": True}
    torch.set_num_threads(threads)
    return out


def child(args) -> dict:
    """One measurement in this (fresh) process: ``pure:MODE`` or ``e2e:MODE``."""
    import torch

    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.engine.compile import COMPILE_MODES, min_cosine
    from faceprobe.featurize.sources.decode import decode_image
    from faceprobe.featurize.engine.device import device_setup
    from faceprobe.featurize.options import FeaturizeOptions, resolve
    from faceprobe.featurize.pipeline import run_featurize
    from faceprobe.featurize.engine.transform import to_uint8_chw
    from faceprobe.featurize.engine.runner import FeatureRunner
    from faceprobe.featurize.sources.read import read_source

    kind, mode = args.child.split(":")
    manifest, root = args.data / "manifest.csv", args.data / "images"
    entries = read_source(manifest, root=root).entries
    n = len(entries)
    if kind == "e2e":
        cache = Path(tempfile.mkdtemp(prefix="faceprobe-bench-")) / "f.h5"
        cfg = resolve(str(manifest), FeaturizeOptions(backbones=[args.backbone], weights=[args.weights], cache=str(cache), root=str(root),
                              precision=args.precision, batch_size=args.batch_size, compile=mode, progress=False))
        t0 = time.perf_counter()
        s = run_featurize(cfg)
        return {"total_s": round(time.perf_counter() - t0, 2), "setup_s": s.setup_seconds,
                "chosen": s.compile.get(args.backbone, "none"), "steady_img_s": s.steady_images_per_second}
    loaded = load_backbone(args.backbone, args.weights)
    plan = device_setup("auto", args.precision)
    args.batch_size = args.batch_size or plan.default_batch_size
    runner = FeatureRunner(loaded, plan, pad_to=args.batch_size)
    data = torch.from_numpy(np.stack([to_uint8_chw(decode_image(e.path), loaded.transform) for e in entries[:256]]))
    batches = [data[i:i + args.batch_size] for i in range(0, len(data), args.batch_size)]
    reps = int(np.ceil(n / len(data)))
    eager = np.concatenate([runner(b) for b in batches])
    out = {}
    if mode != "none":
        t0 = time.perf_counter()
        try:
            runner.set_compiled(mode, COMPILE_MODES.get(mode).build(runner, runner.normalise(batches[0])))
            runner(batches[0])
        except Exception as exc:
            return {"failed": f"{type(exc).__name__}: {exc}"[:200]}
        out["warmup_s"] = round(time.perf_counter() - t0, 2)
        out["min_cosine_to_eager"] = round(min_cosine(eager, np.concatenate([runner(b) for b in batches])), 7)
    out["img_s"] = round(best_rate(lambda: [runner(b) for _ in range(reps) for b in batches], reps * len(data)), 1)
    return out


if __name__ == "__main__":
    main()
