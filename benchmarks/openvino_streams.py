"""OpenVINO's forward pass: one synchronous request on a latency-compiled model (faceprobe before
issue 44's item 4) against streams of a throughput-compiled model run in slices
(:class:`faceprobe.featurize.engine.streams.StreamedRun`), alone and beside a thread decoding
JPEGs as featurize's decoding thread does.

usage: python benchmarks/openvino_streams.py [--backbone efficientnet_lite0] [--batch 16] [--rounds 5] > streams.json

One process; the configurations are timed in turn, round after round (the median of the rounds
is printed), on the same normalised batch, in float32, on every core this process may use.
Prints one JSON object: img/s per configuration, and each one's ratio to the synchronous request.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

FACE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "muxspace-dev" / "images" / "AJ_Cook_0001.jpg"


def _decoding(stop: threading.Event) -> None:
    """Decode and resize a face over and over (PIL holds the GIL part of the time, as featurize's thread does)."""
    from PIL import Image

    data = FACE.read_bytes() if FACE.is_file() else None
    img = Image.new("RGB", (250, 250), (128, 90, 60))
    while not stop.is_set():
        for _ in range(4):
            src = Image.open(io.BytesIO(data)) if data else img
            np.asarray(src.convert("RGB").resize((224, 224)))
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    import torch

    from faceprobe.featurize.backbones.load import load_outputs
    from faceprobe.featurize.engine.device import device_setup
    from faceprobe.featurize.engine.runner import FeatureRunner
    from faceprobe.featurize.engine.runtimes import _ov_core, exported
    from faceprobe.featurize.engine.streams import StreamedRun, stream_config

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    runner = FeatureRunner(load_outputs([a.backbone], "DEFAULT", seed=0), device_setup("cpu", "fp32"), pad_to=a.batch)
    t = runner.backbone.transform
    x = runner.normalise(torch.randint(0, 256, (a.batch, 3, t.crop, t.crop), dtype=torch.uint8))
    path, _ = exported(runner, x)
    core = _ov_core()
    model = core.read_model(str(path))
    latency = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                                "INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
    streams = StreamedRun(core.compile_model(model, "CPU", stream_config(threads, "f32")))
    xn = x.numpy()
    configs = {"sync whole batch (before)": lambda: latency.infer({0: xn})}
    for size in sorted({a.batch // max(1, streams.requests), 8, 4}, reverse=True):
        configs[f"streams, slices of {size}"] = (lambda s=size: (setattr(streams, "slice", s), streams.forward(xn)))
    from faceprobe.machine import cpu_info

    out: dict = {"cpu": cpu_info()["model"], "threads": threads, "backbone": a.backbone,
                 "batch": a.batch, "streams": streams.streams, "requests": streams.requests, "chosen_slice": None}
    for beside in ("alone", "beside a decoding thread"):
        stop = threading.Event()
        if beside != "alone":
            threading.Thread(target=_decoding, args=(stop,), daemon=True).start()
        for f in configs.values():
            f()
        rounds: dict = {k: [] for k in configs}
        for _ in range(a.rounds):
            for k, f in configs.items():
                t0 = time.perf_counter()
                for _ in range(8):
                    f()
                rounds[k].append(8 * a.batch / (time.perf_counter() - t0))
        stop.set()
        med = {k: float(np.median(v)) for k, v in rounds.items()}
        base = med["sync whole batch (before)"]
        out[beside] = {k: {"img_s": round(v, 1), "over_sync": round(v / base, 3)} for k, v in med.items()}
    streams.choose_slice(xn, repeats=1)
    out["chosen_slice"] = streams.slice
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
