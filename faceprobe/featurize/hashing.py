"""Content hashes of image files, reusing stored hashes of files that have not changed."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = ["FileHash", "hash_files"]


@dataclass(frozen=True)
class FileHash:
    """sha256 of a file's bytes with the stat it was taken at; ``error`` when unreadable."""

    sha256: str
    size: int
    mtime_ns: int
    error: str = ""


def _hash_one(path: str, known: dict[str, tuple[str, int, int]]) -> FileHash:
    try:
        st = os.stat(path)
    except OSError as exc:
        return FileHash("", -1, -1, f"cannot read: {exc.strerror or exc}")
    if os.path.isdir(path):
        return FileHash("", -1, st.st_mtime_ns, "is a directory, not an image file")
    prev = known.get(path)
    if prev and prev[0] and prev[1] == st.st_size and prev[2] == st.st_mtime_ns:
        return FileHash(prev[0], st.st_size, st.st_mtime_ns)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return FileHash("", st.st_size, st.st_mtime_ns, f"cannot read: {exc.strerror or exc}")
    return FileHash(digest.hexdigest(), st.st_size, st.st_mtime_ns)


def hash_files(paths: list[str], known: dict[str, tuple[str, int, int]] | None = None, *, threads: int = 4) -> list[FileHash]:
    """Hash files in parallel threads.

    Parameters
    ----------
    paths : list of str
    known : dict path -> (sha256, size, mtime_ns), optional
        Hashes from the cache; reused when size and modification time are unchanged.
    threads : int, default=4

    Returns
    -------
    list of FileHash
        In the order of ``paths``.
    """
    known = known or {}
    if len(paths) < 64:
        return [_hash_one(p, known) for p in paths]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda p: _hash_one(p, known), paths, chunksize=64))
