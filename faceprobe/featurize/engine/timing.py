"""Timing a forward pass on the run's first batch, and the slice of a batch eager PyTorch runs fastest in."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["timed", "slice_eager", "slice_cost", "halve_while_faster", "SLICE_PROBE", "SLICE_REPAY", "LONG_CALL_S", "FASTER"]

SLICE_PROBE = 8
"""Images on which eager's slice sizes are timed (each size cuts the same images)."""
SLICE_REPAY = 4
"""Eager's slices are timed only for a run of eager at least this many times the timing's cost."""
FASTER = 0.95
"""A smaller slice is kept only where it costs at most this share of the best so far (5% faster)."""
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


def halve_while_faster(cost, start: int, smallest: int, best: float) -> tuple[int | None, float, dict]:
    """Time sizes ``start``, half of it, and so on down to ``smallest`` by ``cost(size)`` (lower is
    faster, comparable with ``best``, the cost of what runs now), going on while each size is at
    least 5% below the best so far.

    Returns the fastest size (None: none beat ``best``), its cost and every tried size's cost."""
    chosen, tried, size = None, {}, start
    while size >= smallest:
        tried[size] = c = cost(size)
        if c > FASTER * best:
            break
        chosen, best = size, c
        size //= 2
    return chosen, best, tried


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

    def per_image(size: int) -> float:
        probe = batch[:max(size, min(n, SLICE_PROBE))]
        runner.chunk = size
        return timed(runner, probe)[0] / probe.shape[0]

    best, best_per_image, _ = halve_while_faster(per_image, n // 2, 1, full_s / max(1, n))
    runner.chunk = best
    if best:
        report.update(slice=best, seconds_per_batch_whole=report["seconds_per_batch"], seconds_per_batch=round(best_per_image * n, 4))
    return best_per_image * n if best else full_s
