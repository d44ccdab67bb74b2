"""The image table's columns as classify sees them: ``subject`` and every extra column a source gave
(a manifest's ``view``, ``sequence``, FER-2013's ``Usage``), for row filters (``--where``),
grouping (``--group COL``) and fixed splits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...errors import OptionError

__all__ = ["Where", "parse_where", "image_columns", "apply_where"]

_WHERE = re.compile(r"^\s*([^=!]+?)\s*(!=|=)(.*)$")


@dataclass(frozen=True)
class Where:
    """One row filter: ``column`` equals (``keep`` True) or differs from one of ``values``."""

    column: str
    values: tuple[str, ...]
    keep: bool = True

    def __str__(self) -> str:
        return f"{self.column}{'=' if self.keep else '!='}{','.join(self.values)}"


def parse_where(specs) -> list[Where]:
    """``["view=front", "Usage!=PublicTest,PrivateTest"]`` -> filters (a comma separates values;
    ``\\,`` is a comma inside a value)."""
    out = []
    for spec in specs or ():
        m = _WHERE.match(spec)
        if not m or not m.group(1):
            raise OptionError("where", spec, "expected COLUMN=VALUE[,VALUE...] or COLUMN!=VALUE[,VALUE...]")
        values = tuple(v.replace("\\,", ",").strip() for v in re.split(r"(?<!\\),", m.group(3)))
        out.append(Where(m.group(1), values, m.group(2) == "="))
    return out


def image_columns(images: dict, idx: np.ndarray) -> dict[str, np.ndarray]:
    """``subject`` and the extra columns of the image-table rows ``idx`` (strings; "" where a row
    lacks a column)."""
    from ...cache.store import extra_columns

    cols = {"subject": np.asarray(images["subject"][idx]).astype(str)}
    for name, values in extra_columns(images, idx).items():
        cols.setdefault(name, values)
    return cols


def apply_where(columns: dict[str, np.ndarray], filters: list[Where], notes: list) -> np.ndarray:
    """Rows every filter keeps (a note says how many each left out)."""
    n = len(next(iter(columns.values()))) if columns else 0
    keep = np.ones(n, dtype=bool)
    for f in filters:
        if f.column not in columns:
            raise OptionError("where", str(f), f"no column {f.column!r}; the cache has: {', '.join(columns)}")
        hit = np.isin(columns[f.column], list(f.values))
        before = int(keep.sum())
        keep &= hit if f.keep else ~hit
        notes.append(f"`where={f}`: kept {int(keep.sum())} of {before} rows")
    return keep
