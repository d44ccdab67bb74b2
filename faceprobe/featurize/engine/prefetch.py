"""Decode the next batches in a thread while the forward pass runs on the current one.

Without worker processes (a CPU run without a face detector: a worker would take a core from
the model), batches used to be decoded between forward passes, in series with them. Decoding
(Pillow) and the forward pass (PyTorch, onnxruntime, OpenVINO) both release the GIL, so one
background thread overlaps them at no cost in memory beyond ``depth`` batches.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator

__all__ = ["prefetched"]

_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterable, depth: int = 2) -> Iterator:
    """Iterate ``items`` with up to ``depth`` of them made ahead in a background thread.

    The thread stops when the iterator is closed or dropped early (as when ``strict`` stops a
    run); an exception raised while making an item is raised here, at that item.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    made: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(obj) -> bool:
        while not stop.is_set():
            try:
                made.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="faceprobe-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            obj = made.get()
            if obj is _DONE:
                return
            if isinstance(obj, _Failed):
                raise obj.exc
            yield obj
    finally:
        stop.set()
        thread.join()
