"""sha256 of a file's bytes: content addressing of images and integrity of model files."""

from __future__ import annotations

import hashlib

__all__ = ["file_sha256", "BLOCK"]

BLOCK = 1 << 20


def file_sha256(path: str) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB blocks (``OSError`` when unreadable)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
