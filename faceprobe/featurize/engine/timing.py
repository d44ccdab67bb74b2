"""Timing a forward pass on the run's first batch, and the slice of a batch eager PyTorch runs fastest in."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["timed", "slice_eager", "slice_cost", "SLICE_PROBE", "SLICE_REPAY", "LONG_CALL_S"]

SLICE_PROBE = 8
"""Images on which eager's slice sizes are timed (each size cuts the same images)."""
SLICE_REPAY = 4
"""Eager's slices are timed only for a run of eager at least this many times the timing's cost."""
LONG_CALL_S = 1.0
"""A timed call at least this long is taken as it is, not repeated."""


def timed(runner, batch, repeats: int = 2) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` calls of ``runner`` on ``batch`` (seconds) and the last output;
    a call of at least ``LONG_CALL_S`` is not repeated (its time is steady enough, and a second
    one costs as much again: eager on a first batch of 128 faces took 4.9 s a call)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = runner(batch)
        best = min(best, time.perf_counter() - t0)
        if best >= LONG_CALL_S:
            break
    return best, out


def slice_cost(n: int, seconds_per_batch: float) -> float:
    """What :func:`slice_eager` may cost at most for batches of ``n`` taking ``seconds_per_batch``
    whole: every size down to 1, each timed twice on ``SLICE_PROBE`` images."""
    return 2 * max(1, n.bit_length() - 1) * min(n, SLICE_PROBE) * seconds_per_batch / max(1, n)


def slice_eager(runner, batch, full_s: float, report: dict) -> float:
    """Set ``runner.chunk`` to the slice of the batch eager PyTorch forwards fastest; its seconds per batch.

    Each slice size (half the batch, then half again, down to 1) is timed on the batch's first
    ``SLICE_PROBE`` images (or one slice, where larger) cut into slices of that size (twice, the
    faster kept), so the small sizes are timed on the same work and the whole costs about a batch. Halving
    stops at the first size not at least 5% faster per image than the best so far (measured:
    efficientnet_lite0 on 2 AMD EPYC cores ran 1.4 to 2.2x faster in slices of 2 to 4 than in
    batches of 16; on a GPU whole batches are the faster)."""
    n = batch.shape[0]
    best_per_image, best = full_s / max(1, n), None
    size = n // 2
    while size >= 1:
        probe = batch[:max(size, min(n, SLICE_PROBE))]
        runner.chunk = size
        secs, _ = timed(runner, probe)
        if secs / probe.shape[0] > 0.95 * best_per_image:
            break
        best_per_image, best = secs / probe.shape[0], size
        size //= 2
    runner.chunk = best
    if best:
        report.update(slice=best, seconds_per_batch_whole=report["seconds_per_batch"], seconds_per_batch=round(best_per_image * n, 4))
    return best_per_image * n if best else full_s
