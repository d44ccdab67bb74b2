"""Split groups of a dataset: by subject, by another column, or none."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import OptionError
from .dataset import Dataset

__all__ = ["with_groups"]


def with_groups(ds: Dataset, mode: str) -> tuple[Dataset, bool]:
    """The dataset with its split groups (by subject, or by the column ``mode`` names), and whether
    splits are grouped; a note says which. With some values unknown, each image without one is its
    own group (it cannot share a person with another image that we know of) and the note counts
    them; with none known, ``auto`` does not group."""
    if mode == "none":
        return ds, False
    column = "subject" if mode in ("auto", "subject") else mode
    if column not in ds.columns:
        raise OptionError("group", mode, f"not auto, subject, none or a column; the cache has: {', '.join(ds.columns)}")
    groups = np.asarray(ds.columns[column]).astype(str)
    known = groups != ""
    if not known.any():
        if mode != "auto":
            raise OptionError("group", mode, f"no image has a {column}; give them (a manifest column), or use none")
        note = "subjects unknown: splits are not grouped, so one person can be in training and test"
        return replace(ds, groups=groups, notes=[note, *ds.notes]), False
    n_groups = len(set(groups[known]))
    plural = "subjects" if column == "subject" else f"{column} values"
    note = f"splits grouped by {column} ({n_groups} {plural}); `group=none` for random splits"
    if not known.all():
        missing = int((~known).sum())
        groups = groups.astype(object)
        groups[~known] = [f"(no {column}) {p}" for p in ds.paths[~known]]
        groups = groups.astype(str)
        note = (f"splits grouped by {column} ({n_groups} {plural}); {missing} images without a {column} are each "
                "their own group; `group=none` for random splits")
    return replace(ds, groups=groups, notes=[note, *ds.notes]), True
