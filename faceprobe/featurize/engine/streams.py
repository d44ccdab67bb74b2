"""OpenVINO's forward pass in streams: a batch cut into slices, run by asynchronous inference
requests on the streams of a throughput-compiled model, the slice size chosen by measurement.

Measured on 2 AMD EPYC cores in float32 (efficientnet_lite0, batches of 16; docs/benchmarks.md):
two streams in slices of 4 ran 1.09x one synchronous request of the whole batch on a
latency-compiled model, and 1.19x beside a thread decoding JPEGs; in a whole featurize run of
8,000 faces the forward pass was 1.10x faster. Small slices keep both streams busy to the end
of a batch; too small ones pay a request's overhead. A batch is never one request on a model of
several streams (it would run on one stream's threads); on one thread there is one stream, and
this is one request of the whole batch.
"""

from __future__ import annotations

import numpy as np

from .timing import halve_while_faster, timed

__all__ = ["StreamedRun", "STREAM_SLICE_MIN", "STREAM_PROBE", "stream_config"]

STREAM_SLICE_MIN = 2
"""Smallest slice timed (a request per image costs more than it balances)."""
STREAM_PROBE = 32
"""Images of the first batch the slice sizes are timed on: a batch of 256 timed whole at every
size would cost seconds (1.5 s a call for efficientnet_lite0 on 2 cores)."""


def stream_config(threads: int, precision_hint: str) -> dict:
    """Compile properties: a throughput model on ``threads`` threads (its streams, as many as
    OpenVINO finds best for them), computing in ``precision_hint`` (``f32`` or ``bf16``)."""
    return {"INFERENCE_PRECISION_HINT": precision_hint, "INFERENCE_NUM_THREADS": max(1, threads),
            "PERFORMANCE_HINT": "THROUGHPUT" if threads > 1 else "LATENCY"}


class StreamedRun:
    """``run(x)`` for a compiled OpenVINO model: a float NCHW torch batch in, float32 torch out.

    Parameters
    ----------
    compiled : openvino.CompiledModel

    Attributes
    ----------
    requests : int
        Inference requests (OpenVINO's optimal number for the compiled model's streams).
    slice : int or None
        Images per request; None: a request's share of the batch (until :meth:`choose_slice`;
        one request of the whole batch on one thread's single stream).
    details : dict
        What the run's report records of it (streams, requests, slice).
    """

    host_layout = True  # takes NCHW as it is

    def __init__(self, compiled):
        self.compiled = compiled
        self.requests = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.streams = int(compiled.get_property("NUM_STREAMS"))
        self._requests = [compiled.create_infer_request() for _ in range(self.requests)]
        self.slice: int | None = None

    @property
    def details(self) -> dict:
        return {"streams": self.streams, "requests": self.requests, "slice": self.slice}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x`` (float32 NCHW) through the model, in slices of ``self.slice`` images (None: a
        request's share of the batch), each slice on the next free request. No Python callback
        runs on OpenVINO's threads: a callback waits for the GIL, which the run's decoding thread
        holds, and stalls the stream (measured: the forward pass of 8,000 48 x 48 faces took
        twice as long with an AsyncInferQueue callback)."""
        n = x.shape[0]
        step = min(self.slice or -(-n // self.requests), n)
        starts = range(0, n, step)
        out: list = [None] * len(starts)
        busy: dict = {}  # request's number -> the slice it runs
        for index, i in enumerate(starts):
            r = index % self.requests
            if r in busy:
                self._collect(r, busy.pop(r), out)
            self._requests[r].start_async({0: x[i:i + step]})  # the slice is copied in: x may go
            busy[r] = index
        for r, index in busy.items():
            self._collect(r, index, out)
        return (out[0] if len(out) == 1 else np.concatenate(out)).reshape(n, -1)

    def _collect(self, r: int, index: int, out: list) -> None:
        request = self._requests[r]
        request.wait()
        out[index] = request.get_output_tensor(0).data.copy()

    def __call__(self, x):
        import torch

        return torch.from_numpy(self.forward(x.detach().float().contiguous().cpu().numpy())).to(x.device)

    def choose_slice(self, x: np.ndarray, repeats: int = 2) -> dict:
        """Time the batch ``x`` (its first :data:`STREAM_PROBE` images) in a request's share each,
        then in slices halved down to :data:`STREAM_SLICE_MIN` while each size is at least 5%
        faster; keep the fastest (a batch larger than the probe keeps the probe's share when that won).

        Returns the seconds per probe of each size tried (the first: a request's share)."""
        probe = x[:STREAM_PROBE]
        share = -(-probe.shape[0] // self.requests)
        self.slice = None
        if self.requests < 2 or share < 2 * STREAM_SLICE_MIN:
            return {}
        self.forward(probe)  # the first inference warms the requests up
        first = self._time(probe, None, repeats)
        best, _, tried = halve_while_faster(lambda size: self._time(probe, size, repeats), share // 2, STREAM_SLICE_MIN, first)
        self.slice = best or (share if x.shape[0] > probe.shape[0] else None)
        return {share: round(first, 4), **{size: round(secs, 4) for size, secs in tried.items()}}

    def _time(self, x: np.ndarray, size: int | None, repeats: int) -> float:
        self.slice = size
        return timed(self.forward, x, repeats)[0]
