"""Split the CPU cores between the forward pass and the decode workers."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

__all__ = ["CoreShare", "share_cores", "torch_threads", "usable_cores"]


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class CoreShare:
    """Attributes
    ----------
    workers : int
        DataLoader worker processes (decode, crop, resize); 0 decodes in the main process.
    torch_threads : int or None
        At most this many threads for the forward pass on a CPU (fewer when PyTorch is
        already set lower, e.g. by ``OMP_NUM_THREADS``); None leaves PyTorch's setting (on
        CUDA the GPU computes and the threads only feed it).
    """

    workers: int
    torch_threads: int | None


def share_cores(cuda: bool, detector: bool, cores: int, workers: int | None = None) -> CoreShare:
    """Size the worker pool to the cores the model leaves over, and the model to the rest.

    Measured on the dev faces (2 cores): decoding and resizing a face costs about 1/14 of a
    compiled efficientnet_lite0 forward pass per core, so without a face detector decoding stays in the
    main process (a worker would take a whole core from the model) until there are 16 cores
    per worker. Viola-Jones detection costs about as much as the forward pass, so half the
    cores detect; there one worker plus one model thread ran 1.4x faster than one worker
    beside two model threads, which fight over the same two cores. On CUDA up to 8 workers feed
    the GPU.

    Parameters
    ----------
    cuda : bool
    detector : bool
        The cropper detects faces (its ``detector`` capability).
    cores : int
    workers : int or None
        ``--workers``; None chooses.
    """
    if cuda:
        return CoreShare(min(8, cores) if workers is None else workers, None)
    if workers is None:
        workers = max(1, cores // 2) if detector else cores // 16
    return CoreShare(workers, max(1, cores - workers) if workers else cores)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with PyTorch's intra-op threads capped at ``n`` (None: unchanged); yields
    the thread count in force."""
    import torch

    before = torch.get_num_threads()
    if n is not None and n < before:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
