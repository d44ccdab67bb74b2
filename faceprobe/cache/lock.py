"""One writer per cache: an advisory lock file that the kernel releases when the holder dies."""

from __future__ import annotations

import fcntl
import os
import stat
from contextlib import contextmanager

from ..errors import FaceprobeError
from .layout import lock_path, real_cache

__all__ = ["writer_lock", "lock_holder"]


@contextmanager
def writer_lock(cache: str):
    """Hold the cache's writer lock for the duration of the block.

    Raises
    ------
    FaceprobeError
        ``locked by PID N`` when another live process holds it. A lock left by a killed
        process is free again: ``flock`` locks die with their process.
    """
    real = real_cache(cache)
    if os.path.isfile(real) and not os.stat(real).st_mode & stat.S_IWUSR:
        raise FaceprobeError(f"{cache}: the cache is read-only; make it writable (chmod u+w) to add to it, or give another cache")
    path = lock_path(cache)
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        raise FaceprobeError(f"{cache}: cannot write in {folder} (no permission); give a cache in a writable folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(fd)
            raise FaceprobeError(f"{cache}: locked by PID {holder}, another featurize is writing it; wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _pid_in(fd: int) -> str:
    """The PID the lock's holder wrote into the lock file."""
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


def lock_holder(cache: str) -> str | None:
    """The PID of the live process writing ``cache`` now (None: no writer). Takes the lock for
    an instant to test it, never waits."""
    path = lock_path(cache)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)

