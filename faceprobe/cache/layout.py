"""The HDF5 cache layout: names, format version, feature keys and safe opening.

See docs/cache-format.md for the full description.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager

from ..errors import FaceprobeError, message_line

__all__ = [
    "no_face_rows",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "IMAGE_COLUMNS",
    "feature_key",
    "key_stem",
    "DETECTION_COLUMNS",
    "open_cache",
    "journal_dir",
    "lock_path",
    "real_cache",
]

FORMAT_NAME = "faceprobe-cache"

DETECTION_COLUMNS = {"score": (), "landmarks": (10,)}
"""Optional per-row datasets of a feature key whose cropper gives landmarks: the detector's
confidence (float32) and five (x, y) points in decoded-image pixels (float32, NaN when no face)."""
FORMAT_VERSION = 1

IMAGE_COLUMNS = {
    # name: (kind, fill) -- kind "str" is UTF-8 variable length, else a numpy dtype
    "path": ("str", ""),
    "sha256": ("str", ""),
    "label": ("str", ""),
    "subject": ("str", ""),
    "width": ("int32", -1),
    "height": ("int32", -1),
    "bytes": ("int64", -1),
    "mtime_ns": ("int64", -1),
    "status": ("str", ""),
    "reason": ("str", ""),
    "extra": ("str", ""),
    "dhash": ("str", ""),
}
"""Columns of ``/images``, one row per image path. ``extra`` holds the source's other columns
of the row as a JSON object ("" when none); ``dhash`` the decoded image's 64-bit difference hash
(16 hex digits; near-identical pictures differ in few bits), "" when not computed. Caches
written before a column existed read it as "".
"""


def no_face_rows(spec: dict) -> str:
    """Why a key's rows may hold NaN with ``face`` 0 ("" when they may not): the cropper found no
    face and ``no_face`` is ``skip``, or the backbone finds the face itself (geometry keys) and
    found none."""
    if spec.get("detects"):
        return f"{spec['backbone']} found no face"
    if spec.get("crop", {}).get("no_face") == "skip":
        return "the cropper found no face (`no_face=skip`)"
    return ""


def feature_key(spec: dict) -> str:
    """Name of the feature matrix for a full preprocessing spec.

    ``<backbone>.<crop method>.<view>.<10 hex of sha256(spec)>`` (``timm/NAME`` as ``timm-NAME``;
    a layer request keeps its ``@LAYER``): readable, and different
    whenever anything that changes a number differs (weights hash, transform, crop, view).
    """
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{key_stem(spec['backbone'])}.{spec['crop']['method']}.{spec['view']}.{digest}"


def key_stem(backbone: str) -> str:
    """A backbone request as it starts a feature key: ``/`` (``timm/NAME``), which HDF5 reads as
    a group separator, becomes ``-``."""
    return backbone.replace("/", "-")


def real_cache(cache: str | os.PathLike) -> str:
    """The cache's real path: a symlinked cache is written (and locked, and journaled) at its target."""
    return os.path.realpath(os.fspath(cache))


def journal_dir(cache: str | os.PathLike) -> str:
    """Folder of not-yet-committed result parts of a cache (next to its real file)."""
    return real_cache(cache) + ".journal"


def lock_path(cache: str | os.PathLike) -> str:
    """Lock file held by the one writer of a cache (next to its real file, so a link and its
    target share one lock)."""
    return real_cache(cache) + ".lock"


@contextmanager
def open_cache(path: str | os.PathLike, mode: str = "r"):
    """Open a faceprobe cache with h5py, refusing unreadable or foreign files with one line.

    Parameters
    ----------
    path : path
        The cache file.
    mode : str, default="r"
        h5py mode.

    Yields
    ------
    h5py.File
    """
    import h5py

    path = os.fspath(path)
    if mode == "r" and not os.path.exists(path):
        raise FaceprobeError(f"{path}: no such cache; run featurize first")
    if os.path.isdir(path):
        raise FaceprobeError(f"{path}: is a folder, not a cache file")
    try:
        handle = h5py.File(path, mode)
    except OSError as exc:
        raise FaceprobeError(
            f"{path}: not a readable HDF5 cache ({message_line(exc)}); it may be truncated or corrupt: "
            "move it away and featurize again"
        ) from None
    with handle:
        if mode == "r" or len(handle.attrs) or len(handle):
            name = handle.attrs.get("format")
            if name != FORMAT_NAME:
                raise FaceprobeError(f"{path}: an HDF5 file but not a faceprobe cache (no format={FORMAT_NAME!r} attribute)")
            version = int(handle.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise FaceprobeError(
                    f"{path}: cache format version {version}, this faceprobe reads {FORMAT_VERSION}; "
                    "featurize into a new cache file"
                )
        if mode != "r":
            yield handle
            return
        try:
            yield handle
        except OSError as exc:  # HDF5 read errors: a chunk failing its checksum, a damaged header
            raise FaceprobeError(f"{path}: damaged data ({message_line(exc)}); faceprobe cache verify lists what is damaged; restore a "
                                 "copy, or featurize again into a new cache") from None
