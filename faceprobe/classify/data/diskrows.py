"""Feature rows left in the HDF5 cache and read in blocks, and the memory plan that decides it.

When a key's feature matrix (with the copies that cross-validation makes of it) does not fit
the memory budget, classify keeps it on disk: a :class:`DiskMatrix` maps the dataset's rows to
rows of the cache's ``vectors`` dataset, and :class:`RowSet` streams any selection of them in
blocks of ascending disk rows, so each pass reads the file sequentially and holds one block.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...cache.layout import open_cache
from ...errors import OptionError
from ...machine import available_memory

__all__ = ["DiskMatrix", "RowSet", "MemoryChoice", "parse_size", "format_size", "choose_memory", "available_memory"]

MIN_BLOCK_ROWS = 64
MAX_BLOCK_ROWS = 65536
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

MAX_ROWS = 12000
"""Largest fold (training + test rows) the in-memory fast path gives an n x n float64 matrix (about 1.1 GB)."""


def parse_size(text: str) -> int | None:
    """``"auto"`` -> None; ``"512M"``, ``"1.5G"``, ``"64k"``, ``"1000"`` -> bytes (binary units)."""
    text = str(text).strip().lower()
    if text == "auto":
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", text)
    if not m or float(m.group(1)) <= 0:
        raise OptionError("max_memory", text, "expected auto or a size such as 512M, 8G")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@dataclass(frozen=True)
class MemoryChoice:
    """Whether the feature matrix is loaded, and why.

    Attributes
    ----------
    in_memory : bool
    need : int
        Estimated bytes for the in-memory evaluation: the matrix and its views, plus per
        parallel fold a float32 and a float64 copy of the rows and the fold's distance
        matrices (n x n in float64 up to 12,000 rows, else scikit-learn's 1 GiB of chunks).
    budget : int
        ``--max-memory`` in bytes (auto: half the available memory).
    block_rows : int
        Rows per block read from disk when not in memory.
    matrix_bytes : int
    """

    in_memory: bool
    need: int
    budget: int
    block_rows: int
    matrix_bytes: int

    def describe(self, n: int, d: int) -> str:
        return (f"{n} x {d} float32 ({format_size(self.matrix_bytes)}; about {format_size(self.need)} to evaluate "
                f"in memory) is over `max_memory={format_size(self.budget)}`")


def choose_memory(n: int, d: int, *, views: int = 0, jobs: int = 1, budget: int | None = None) -> MemoryChoice:
    """Decide between an in-memory and a block-streamed evaluation.

    Parameters
    ----------
    n, d : int
        Rows and dimensions of the feature matrix.
    views : int
        Augmented views loaded with it.
    jobs : int
        Parallel folds (each holds its own copies).
    budget : int or None
        Bytes; None for half of :func:`available_memory`.
    """
    budget = available_memory() // 2 if budget is None else budget
    jobs = max(1, jobs if jobs > 0 else (os.cpu_count() or 1))
    matrix = n * d * 4
    # gram, distances, their root and the indexed fold blocks in float64 on the fast path; past it, scikit-learn's
    # pairwise chunks (its working_memory, 1 GiB by default)
    pair = n**2 * 8 * 4 if n <= MAX_ROWS else 1 << 30
    need = matrix * (1 + views) + jobs * (n * (1 + views) * d * 12 + pair)
    per_job = budget // jobs
    # a block in float64, its transformed copies, and knn's block x block distances with their indices
    block = min(per_job // (d * 8 * 6), math.isqrt(per_job // 32))
    block = int(min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, block)))
    return MemoryChoice(in_memory=need <= budget, need=need, budget=budget, block_rows=block, matrix_bytes=matrix)


@dataclass
class DiskMatrix:
    """One feature key's rows, left in the cache.

    Attributes
    ----------
    cache, key : str
    rows : ndarray of int64, shape (n,)
        Row of ``/features/<key>/vectors`` for each dataset row; -1 where the key has none
        (a view not computed for that image).
    dim : int
    block_rows : int
        Largest span of disk rows read at once.
    """

    cache: str
    key: str
    rows: np.ndarray
    dim: int
    block_rows: int

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), self.dim)

    def blocks(self, idx: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions into idx, float64 rows)`` for every present, finite row of ``idx``.

        Disk rows are visited in ascending order in spans of at most ``block_rows``.
        """
        disk = self.rows[idx]
        pos = np.flatnonzero(disk >= 0)
        order = pos[np.argsort(disk[pos], kind="stable")]
        if not len(order):
            return
        with open_cache(self.cache) as f:
            vectors = f["features"][self.key]["vectors"]
            start = 0
            while start < len(order):
                lo = disk[order[start]]
                stop = int(np.searchsorted(disk[order], lo + self.block_rows, side="left"))
                stop = max(stop, start + 1)
                take = order[start:stop]
                hi = disk[take[-1]] + 1
                block = vectors[lo:hi][disk[take] - lo].astype(np.float64)
                ok = np.isfinite(block).all(axis=1)
                yield (take[ok], block[ok]) if not ok.all() else (take, block)
                start = stop


@dataclass
class RowSet:
    """An ordered selection of rows from one or more disk matrices (original rows, then views).

    Attributes
    ----------
    parts : list of (DiskMatrix, ndarray of int)
        Dataset row indices taken from each matrix, in order.
    """

    parts: list

    def __len__(self) -> int:
        return sum(len(idx) for _, idx in self.parts)

    def offsets(self) -> np.ndarray:
        return np.cumsum([0] + [len(idx) for _, idx in self.parts])

    def subset(self, pos: np.ndarray) -> "RowSet":
        """The rows at positions ``pos`` (ascending) of this set."""
        pos = np.asarray(pos)
        if len(pos) > 1 and not (np.diff(pos) > 0).all():
            raise ValueError("RowSet.subset needs ascending positions")
        off = self.offsets()
        parts = []
        for i, (mat, idx) in enumerate(self.parts):
            sel = pos[(pos >= off[i]) & (pos < off[i + 1])] - off[i]
            parts.append((mat, idx[sel]))
        return RowSet(parts)

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions in this set, float64 rows)``; rows missing or non-finite are skipped."""
        off = self.offsets()
        for i, (mat, idx) in enumerate(self.parts):
            for pos, block in mat.blocks(idx):
                yield pos + off[i], block
