"""Benchmark ONNX backbones against the same network in eager PyTorch on the CPU; prints one JSON object.

For each network (random-weight resnet18, and efficientnet_lite0 with its installed ImageNet
weights when the ``lite`` extra is there): export it to ONNX, then time the forward pass of
batches of 16 normalised 224 x 224 images, eager PyTorch (float32, ``torch.no_grad``) against
faceprobe's ONNX backbone (onnxruntime's CPU provider through ``onnx:PATH``), each side in a
fresh process, alternating, ``--repeats`` times, best of each kept. Threads: every core of the
process on both sides. Also the smallest cosine between the two sides' vectors.

Usage::

    python benchmarks/onnx_speed.py [--repeats 3] [--batches 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETWORKS = ("resnet18", "efficientnet_lite0")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    return ap


def _network(name: str):
    import torch

    from faceprobe.featurize.backbones import load_backbone

    with torch.random.fork_rng():
        torch.manual_seed(0)
        weights = "none" if name == "resnet18" else "DEFAULT"
        return load_backbone(name, weights).model.eval()


def export(name: str, folder: Path) -> Path:
    """The network's pooled model as ONNX (taking normalised input), with its sidecar."""
    import torch

    path = folder / f"{name}.onnx"
    torch.onnx.export(_network(name), torch.zeros(1, 3, 224, 224), str(path), input_names=["image"], output_names=["pooled"],
                      dynamic_axes={"image": {0: "n"}, "pooled": {0: "n"}}, dynamo=False)
    # normalisation happens in faceprobe's runner; the graph takes normalised input, so identity here
    (folder / f"{name}.onnx.json").write_text(json.dumps({"input_size": 224, "mean": [0, 0, 0], "std": [1, 1, 1]}))
    return path


def child(side: str, name: str, path: str, batches: int) -> dict:
    import numpy as np
    import torch

    model = _network(name) if side == "torch" else _onnx_model(path)
    x = torch.randn(16, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        model(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(batches):
            model(x)
        seconds = time.perf_counter() - t0
    return {"images_per_second": round(16 * batches / seconds, 2), "vectors": np.asarray(out).tolist(),
            "threads": torch.get_num_threads()}


def _onnx_model(path: str):
    from faceprobe.featurize.backbones import load_backbone

    return load_backbone(f"onnx:{path}").model


def measure(args) -> dict:
    import numpy as np

    from faceprobe.featurize.engine.device import cpu_info

    out = {"benchmark": "onnx", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": cpu_info(), "batch": 16,
           "batches": args.batches, "repeats": args.repeats, "networks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in NETWORKS:
            try:
                path = export(name, Path(tmp))
            except Exception as exc:  # noqa: BLE001 -- e.g. the lite extra missing
                out["networks"][name] = {"skipped": f"{type(exc).__name__}: {exc}"}
                continue
            best, vectors = {"torch": 0.0, "onnx": 0.0}, {}
            for _ in range(args.repeats):
                for side in ("torch", "onnx"):
                    proc = subprocess.run([sys.executable, __file__, "--batches", str(args.batches), "--child", side, name, str(path)],
                                          capture_output=True, text=True, check=True)
                    got = json.loads(proc.stdout.strip().splitlines()[-1])
                    best[side] = max(best[side], got["images_per_second"])
                    vectors[side] = np.asarray(got["vectors"])
            a, b = vectors["onnx"], vectors["torch"]
            cos = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())
            out["networks"][name] = {"torch_eager_img_s": best["torch"], "onnx_img_s": best["onnx"],
                                     "ratio_onnx_to_eager": round(best["onnx"] / best["torch"], 3), "min_cosine": round(cos, 8),
                                     "threads": got["threads"]}
    return out


def main() -> None:
    args = parser().parse_args()
    if args.child:
        side, name, path = args.child
        print(json.dumps(child(side, name, path, args.batches)))
        return
    text = json.dumps(measure(args), indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
