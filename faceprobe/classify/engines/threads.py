"""One way to spread independent pieces of one fit over threads, with results that do not depend on how many."""

from __future__ import annotations

__all__ = ["thread_map"]


def thread_map(fn, items: list, threads: int) -> list:
    """``[fn(i) for i in items]``, on ``threads`` threads when more than one (BLAS on one thread in
    each, so every piece computes as it would alone)."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, items))
