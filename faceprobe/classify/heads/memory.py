"""Memory of heads: what a fit will need (checked before work) and what it took (reported).

:func:`head_need` estimates the working memory of one head's fit and prediction from the
fold's size, on top of the feature matrix that :func:`~faceprobe.classify.data.diskrows.choose_memory`
already counts (a head registered by a plug-in gets a generic estimate). :class:`PeakRSS`
samples the process's resident memory while a head runs, for ``peak_rss_bytes`` in results.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["PeakRSS", "head_need", "rss_bytes"]

_LIBSVM_CACHE = 200 << 20
"""Kernel cache of libsvm and oneDAL's SVC (scikit-learn's ``cache_size`` default, 200 MB)."""


def rss_bytes() -> int:
    """Resident memory of this process now (0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the lifetime peak: an upper bound


class PeakRSS:
    """The highest resident memory of this process while the block runs (sampled every 5 ms).

    Attributes
    ----------
    start, peak : int
        Bytes at entry and the highest seen; ``added`` is their difference.
    """

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.seconds = time.perf_counter() - self._t0
        return False

    @property
    def added(self) -> int:
        return max(0, self.peak - self.start)


def head_need(head: str, engine: str, n: int, m: int, d: int, k: int, cores: int) -> int:
    """Bytes one fit and prediction of ``head`` needs beyond the loaded features.

    Parameters
    ----------
    head, engine : str
    n, m, d, k : int
        Training rows, test rows, dimensions (after PCA), classes.
    cores : int
        Threads of the fit (each holds its own working copies).
    """
    x64 = n * d * 8
    if head == "svm":
        pair_rows = min(n, 2 * n // max(k, 2) * 2)  # two classes; allow for unbalanced ones
        if engine == "sklearn":
            return 2 * x64 + cores * (pair_rows * d * 8 + _LIBSVM_CACHE + 2 * 512 * n * 8)
        return 3 * x64 + _LIBSVM_CACHE + cores * 2 * 512 * n * 8
    if head == "knn":
        return 2 * x64 + cores * 2 * 256 * n * 8 + m * 16
    if head == "logreg":
        return 3 * x64 + n * k * 8 * 6
    if head in ("mlp", "dnn"):
        return n * d * 4 * 2 + n * 1024 * 4 * 3
    return 2 * x64 + m * d * 8
