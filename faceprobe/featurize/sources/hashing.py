"""Content hashes of image files, reusing stored hashes of files that have not changed."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ...hashes import file_sha256

__all__ = ["FileHash", "hash_file", "hash_files"]


@dataclass(frozen=True)
class FileHash:
    """sha256 of a file's bytes with the stat it was taken at; ``error`` when unreadable."""

    sha256: str
    size: int
    mtime_ns: int
    error: str = ""


def hash_file(path: str, known: dict[str, tuple[str, int, int]]) -> FileHash:
    """sha256 of one file with its stat, reusing ``known[path]`` when size and mtime are unchanged."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return FileHash("", -1, -1, f"cannot read: {exc.strerror or exc}")
    if os.path.isdir(path):
        return FileHash("", -1, st.st_mtime_ns, "is a directory, not an image file")
    prev = known.get(path)
    if prev and prev[0] and prev[1] == st.st_size and prev[2] == st.st_mtime_ns:
        return FileHash(prev[0], st.st_size, st.st_mtime_ns)
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return FileHash("", st.st_size, st.st_mtime_ns, f"cannot read: {exc.strerror or exc}")
    return FileHash(digest, st.st_size, st.st_mtime_ns)


def hash_files(refs: list, known: dict[str, tuple[str, int, int]] | None = None, *, threads: int = 4) -> list[FileHash]:
    """Fingerprint images in parallel threads.

    Parameters
    ----------
    refs : list of ImageRef (or of file paths)
    known : dict path -> (sha256, size, mtime_ns), optional
        Hashes from the cache; reused when size and modification time are unchanged.
    threads : int, default=4

    Returns
    -------
    list of FileHash
        In the order of ``refs``.
    """
    known = known or {}

    def one(ref):
        return hash_file(ref, known) if isinstance(ref, str) else ref.fingerprint(known)

    if len(refs) < 64:
        return [one(r) for r in refs]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, refs, chunksize=64))
