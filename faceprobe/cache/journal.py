"""Crash-safe result parts: finished batches go to files, each written whole or not at all.

A featurize run appends results here as it goes (a few seconds of batches per part, see
:func:`merge_parts`); :func:`faceprobe.cache.store.commit` folds
them into the HDF5 file atomically and then deletes them. A run killed at any moment leaves
only complete parts, which the next run commits before computing anything.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .layout import DETECTION_COLUMNS, journal_dir

__all__ = ["Part", "write_part", "read_parts", "part_files", "remove_parts", "merge_parts", "part_rows"]


@dataclass
class Part:
    """Results of one batch.

    Attributes
    ----------
    run : dict
        Provenance of the run that computed it (``run_id`` is unique per run).
    images : dict of str -> ndarray
        Image-table rows (columns of ``IMAGE_COLUMNS``) for the batch's images.
    features : dict of str -> dict
        Per feature key: ``spec`` (dict), ``sha256`` (n,), ``vectors`` (n, d) float32,
        ``face`` (n,) int8 and ``box`` (n, 4) int32; with a landmark detector also ``score``
        (n,) and ``landmarks`` (n, 10) float32.
    """

    run: dict
    images: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)


def part_rows(part: Part) -> int:
    """Image rows a part holds."""
    return len(next(iter(part.images.values()), ()))


def merge_parts(parts: list[Part]) -> Part:
    """One part holding the rows of several parts of the same run, in order.

    A run journals a few seconds of batches per file rather than one file per batch: on 2 cores
    a batch of 16 faces takes about 0.15 s, and thousands of small files cost more to write and
    to commit than the rows in them.
    """
    if len(parts) == 1:
        return parts[0]
    runs = {part.run["run_id"] for part in parts}
    if len(runs) != 1:
        raise ValueError(f"parts of {len(runs)} runs cannot be merged")
    images = {col: np.concatenate([part.images[col] for part in parts]) for col in parts[0].images}
    features: dict[str, dict] = {}
    for key in dict.fromkeys(k for part in parts for k in part.features):
        held = [part.features[key] for part in parts if key in part.features]
        features[key] = {"spec": held[0]["spec"], **{col: np.concatenate([h[col] for h in held]) for col in held[0] if col != "spec"}}
    return Part(parts[0].run, images, features)


def part_files(cache: str) -> list[str]:
    """Complete part files of a cache's journal, oldest first."""
    return sorted(glob.glob(os.path.join(journal_dir(cache), "part-*.npz")))


def write_part(cache: str, name: str, part: Part) -> str:
    """Write one part atomically (temporary file, then rename) and return its path.

    The rename makes a part all-or-nothing for a killed process; parts are not fsynced
    (the committed HDF5 file is), so a power cut can lose the last parts, never corrupt them.
    """
    folder = journal_dir(cache)
    os.makedirs(folder, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    keys = sorted(part.features)
    meta = {"run": part.run, "keys": {k: part.features[k]["spec"] for k in keys}, "order": keys}
    arrays["meta"] = np.array(json.dumps(meta))
    for col, values in part.images.items():
        arrays[f"img__{col}"] = np.asarray(values)
    for i, key in enumerate(keys):
        for col in ("sha256", "vectors", "face", "box", *DETECTION_COLUMNS):
            if col in part.features[key]:
                arrays[f"f{i}__{col}"] = np.asarray(part.features[key][col])
    final = os.path.join(folder, f"part-{name}.npz")
    tmp = final + ".tmp"
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, final)
    return final


def read_parts(cache: str) -> list[Part]:
    """Read every complete part; leftovers of interrupted writes (``*.tmp``) are ignored."""
    parts = []
    for path in part_files(cache):
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            images = {k[len("img__"):]: data[k] for k in data.files if k.startswith("img__")}
            features = {}
            for i, key in enumerate(meta["order"]):
                features[key] = {"spec": meta["keys"][key]}
                for col in ("sha256", "vectors", "face", "box", *DETECTION_COLUMNS):
                    if f"f{i}__{col}" in data.files:
                        features[key][col] = data[f"f{i}__{col}"]
        parts.append(Part(meta["run"], images, features))
    return parts


def remove_parts(cache: str) -> None:
    """Delete the journal (after a successful commit)."""
    folder = journal_dir(cache)
    for path in glob.glob(os.path.join(folder, "part-*")):
        os.remove(path)
    try:
        os.rmdir(folder)
    except OSError:
        pass
