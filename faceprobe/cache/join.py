"""The one join of the image table with a feature key: image rows to feature rows by content hash."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import no_face_rows

__all__ = ["row_of", "image_rows", "rows_for_paths", "KeyJoin", "join_key"]


@dataclass(frozen=True)
class KeyJoin:
    """What a load reads of one key from the open cache, before any row is chosen by labels.

    Attributes
    ----------
    key : str
        The resolved feature key.
    fm : FeatureMatrix
        Its rows without the vectors (``dim`` given).
    images : dict of column -> ndarray
        The image table.
    finite : ndarray of bool
        Per row of the key: a usable vector (False for the NaN rows of faces not found).
    img_idx, rows : ndarray of int
        The usable images the key holds (:func:`image_rows`, one per content), in path order.
    views : list of FeatureMatrix
        The key's augmented views (same backbone, weights and preprocessing), without vectors.
    no_face : str
        Why a row may be kept without a vector (:func:`~faceprobe.cache.layout.no_face_rows`), or "".
    """

    key: str
    fm: object
    images: dict
    finite: np.ndarray
    img_idx: np.ndarray
    rows: np.ndarray
    views: list
    no_face: str


def join_key(reader, key: str | None, *, views: bool = False, labelled: bool = True) -> KeyJoin:
    """Resolve ``key`` in the open cache (a :class:`~faceprobe.cache.reader.CacheReader`) and join
    its rows with the image table: everything a load needs of the file but the vectors, which are
    read once the rows are chosen (``reader.vectors_at``). ``labelled``: only labelled images."""
    key = reader.resolve_key(key)
    fm = reader.features(key, vectors=False)
    images = reader.images()
    finite = reader.finite(key)  # in spans: the matrix is never held whole
    img_idx, rows = image_rows(images, fm.sha256, usable=finite, labelled=labelled, one_per_content=True)
    siblings = [reader.features(k, vectors=False) for k in reader.view_keys(fm.spec)] if views else []
    return KeyJoin(key, fm, images, finite, img_idx, rows, siblings, no_face_rows(fm.spec))


def row_of(key_sha256) -> dict[str, int]:
    """Content hash -> row of the feature key."""
    return {str(s): i for i, s in enumerate(key_sha256)}


def image_rows(images: dict, key_sha256, *, usable: np.ndarray | None = None, labelled: bool = False,
               one_per_content: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (image-table index, feature row) of the images with status ok that the key holds.

    Parameters
    ----------
    images : dict of column -> ndarray
        The image table (``read_images``).
    key_sha256 : sequence of str
        The feature key's row hashes.
    usable : ndarray of bool, optional
        Per feature row: False leaves it out (a NaN row of a face not found).
    labelled : bool, default=False
        Leave out images without a label.
    one_per_content : bool, default=False
        An image listed under several paths appears once (its first path in path order), so no
        copy of a test image can sit in training.

    Returns
    -------
    img_idx, rows : ndarray of int
        In path order (deterministic).
    """
    rows_by_sha = row_of(key_sha256)
    seen: set[str] = set()
    pick_img, pick_row = [], []
    for i in np.argsort(np.asarray(images["path"]).astype(str), kind="stable"):
        s = str(images["sha256"][i])
        r = rows_by_sha.get(s)
        if r is None or images["status"][i] != "ok" or (labelled and not images["label"][i]) or s in seen:
            continue
        if usable is not None and not usable[r]:
            continue
        if one_per_content:
            seen.add(s)
        pick_img.append(i)
        pick_row.append(r)
    return np.asarray(pick_img, dtype=np.int64), np.asarray(pick_row, dtype=np.int64)


def rows_for_paths(images: dict, key_sha256, paths: list[str]) -> np.ndarray:
    """Feature row of each path (-1 where the path is not in the table or the key lacks its content)."""
    rows_by_sha = row_of(key_sha256)
    sha_of = {str(p): str(s) for p, s in zip(images["path"], images["sha256"])}
    return np.array([rows_by_sha.get(sha_of.get(p, ""), -1) for p in paths], dtype=np.int64)
