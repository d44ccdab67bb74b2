"""Read the HDF5 feature cache: path functions for one look, and :class:`CacheReader`, one open
file that hands out the image table, the keys and the matrices of a load.

A load (:func:`~faceprobe.classify.data.dataset.load_dataset`, :func:`faceprobe.load_features`)
opens the cache once with a reader instead of once per table it reads; provenance is read
without the vectors (``vectors=False``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import FaceprobeError, OptionError
from .layout import DETECTION_COLUMNS, IMAGE_COLUMNS, key_stem, no_face_rows, open_cache

__all__ = ["CacheReader", "FeatureMatrix", "STATUSES", "read_images", "read_table", "read_feature_hashes", "read_features",
           "read_root_attrs", "table_digest", "extra_columns", "list_keys", "resolve_key"]


@dataclass
class FeatureMatrix:
    """One feature key's rows, as stored.

    Attributes
    ----------
    key : str
    spec : dict
        What produced the numbers (backbone, weights sha256, transform, crop, view).
    sha256 : ndarray of str, shape (n,)
        Content hash of each row's source image.
    vectors : ndarray of float32, shape (n, d), or None
        NaN rows for images skipped under ``--no-face skip``; None when read without them.
    face : ndarray of int8, shape (n,)
        1 face found, 0 none found, -1 no detector.
    box : ndarray of int32, shape (n, 4)
    runs : list of dict
        Provenance of each run that added rows; ``run`` indexes it.
    run : ndarray of int32, shape (n,)
    dim : int
        Feature dimension ``d``.
    """

    key: str
    spec: dict
    sha256: np.ndarray
    vectors: np.ndarray
    face: np.ndarray
    box: np.ndarray
    runs: list
    run: np.ndarray
    dim: int = 0
    score: np.ndarray | None = None
    landmarks: np.ndarray | None = None


STATUSES = ("ok", "bad", "pending", "")
READ_BLOCK_BYTES = 8 << 20
"""Bytes of vectors read at once where a key is read in spans (:meth:`CacheReader.finite`, :meth:`CacheReader.vectors_at`)."""
"""Values of the image table's ``status`` column."""


def table_digest(columns: dict) -> str:
    """sha256 of the image table's values, column by column (stored with the table, checked on
    every read: HDF5's checksums do not cover variable-length strings)."""
    import hashlib

    h = hashlib.sha256()
    for name in IMAGE_COLUMNS:
        values = columns[name]
        h.update(name.encode() + b"\x1d" + "\x1e".join(map(str, np.asarray(values).tolist())).encode("utf-8", "surrogatepass") + b"\x1c")
    return h.hexdigest()


def read_table(group, check: bool = True) -> dict[str, np.ndarray]:
    cols = {}
    n = len(group["path"])
    for name, (kind, fill) in IMAGE_COLUMNS.items():
        if name not in group:  # a column added after the cache was written
            cols[name] = np.full(n, fill, dtype=object if kind == "str" else kind)
            continue
        ds = group[name]
        try:
            cols[name] = np.asarray(ds.asstr()[()], dtype=object) if kind == "str" else ds[()]
        except UnicodeDecodeError:
            cols[name] = None
    where = group.file.filename
    stored = group.attrs.get("sha256")
    damaged = [c for c, v in cols.items() if v is None or len(v) != n]
    if not damaged and check and stored is not None and table_digest(cols) != stored:
        damaged = ["its values"]
    if not damaged and any(str(s) not in STATUSES for s in cols["status"]):
        damaged = ["status"]
    if damaged:
        raise FaceprobeError(f"{where}: the image table (labels, subjects, statuses) was changed outside faceprobe "
                             f"({', '.join(damaged)} do not match its checksum); restore a copy, or featurize again into a new cache")
    return cols


def _root_attrs(f) -> dict:
    out = {}
    for k, v in f.attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, str) and v[:1] in "{[":
            v = json.loads(v)
        out[k] = v
    return out


def read_root_attrs(path: str) -> dict:
    """The cache's root attributes, JSON values decoded."""
    with open_cache(path) as f:
        return _root_attrs(f)


def _images(f) -> dict[str, np.ndarray]:
    if "images" not in f:
        return {name: np.array([], dtype=object if kind == "str" else kind) for name, (kind, _) in IMAGE_COLUMNS.items()}
    return read_table(f["images"])


def read_images(path: str) -> dict[str, np.ndarray]:
    """The ``/images`` table as columns (empty columns when none is stored yet)."""
    with open_cache(path) as f:
        return _images(f)


def extra_columns(images: dict, idx=None) -> dict[str, np.ndarray]:
    """The ``extra`` column of image-table rows (all, or ``idx``) as one string array per name
    (sorted by name; "" where a row lacks it)."""
    raw = np.asarray(images.get("extra", np.full(len(images["path"]), "", dtype=object)))
    rows = [json.loads(t) if t else {} for t in (raw if idx is None else raw[idx])]
    names = sorted({k for r in rows for k in r})
    return {n: np.asarray([str(r.get(n, "")) for r in rows], dtype=str) for n in names}


def read_feature_hashes(path: str) -> dict[str, set[str]]:
    """For each feature key, the set of image hashes it holds rows for."""
    with open_cache(path) as f:
        if "features" not in f:
            return {}
        return {key: set(grp["sha256"].asstr()[()]) for key, grp in f["features"].items()}


def _span_rows(data) -> int:
    """Rows of ``data`` in :data:`READ_BLOCK_BYTES` (at least one)."""
    return max(1, READ_BLOCK_BYTES // max(1, data.shape[1] * data.dtype.itemsize))


def _group(f, path: str, key: str):
    if "features" not in f or key not in f["features"]:
        have = sorted(f["features"]) if "features" in f else []
        raise FaceprobeError(f"{path}: no feature key {key!r}; the cache holds: {', '.join(have) or 'none'}")
    return f["features"][key]


def _features(f, path: str, key: str, vectors: bool) -> FeatureMatrix:
    g = _group(f, path, key)
    return FeatureMatrix(
        key=key,
        spec=json.loads(g.attrs["spec"]),
        sha256=np.asarray(g["sha256"].asstr()[()], dtype=object),
        vectors=g["vectors"][()].astype(np.float32, copy=False) if vectors else None,
        face=g["face"][()],
        box=g["box"][()],
        runs=json.loads(g.attrs["runs"]),
        run=g["run"][()],
        dim=int(g["vectors"].shape[1]),
        **{c: g[c][()] for c in DETECTION_COLUMNS if c in g},
    )


def read_features(path: str, key: str, *, vectors: bool = True) -> FeatureMatrix:
    """Load one feature key completely (vectors as float32), or all but its vectors
    (``vectors=False``: ``vectors`` is None, ``dim`` still given)."""
    with open_cache(path) as f:
        return _features(f, path, key, vectors)


def _keys(f) -> list[dict]:
    out = []
    for key, g in (f["features"].items() if "features" in f else []):
        spec = json.loads(g.attrs["spec"])
        runs = json.loads(g.attrs["runs"])
        n = g["vectors"].shape[0]
        why = no_face_rows(spec)
        skipped = int(np.count_nonzero(g["face"][()] == 0)) if why else 0
        out.append({
            "key": key,
            "backbone": spec["backbone"],
            "view": spec["view"],
            "crop": spec["crop"]["method"],
            "rows": n - skipped,
            "skipped_no_face": skipped,
            **({"no_face_reason": why} if skipped else {}),
            "dim": int(g.attrs["feature_dim"]),
            "precision": sorted({r.get("precision_by_backbone", {}).get(spec["backbone"], r.get("precision", "?")) for r in runs}),
            "devices": sorted({r.get("device", "?") for r in runs}),
        })
    return sorted(out, key=lambda r: r["key"])


def list_keys(path: str) -> list[dict]:
    """One dict per feature key: key, backbone, view, crop, rows, dim, precision(s)."""
    with open_cache(path) as f:
        return _keys(f)


def _resolve(path: str, keys: list[str], key: str | None) -> str:
    if not keys:
        raise FaceprobeError(f"{path}: the cache holds no features yet")
    if key is None:
        originals = [k for k in keys if ".orig." in k]
        if len(originals) == 1:
            return originals[0]
        raise OptionError("key", None, f"{path} holds several feature keys; choose one: {', '.join(keys)}")
    if key in keys:
        return key
    key = key_stem(key)
    if key in keys:
        return key
    matches = [k for k in keys if k.startswith(key + ".")]
    originals = [k for k in matches if ".orig." in k]
    if len(matches) == 1 or len(originals) == 1:
        return matches[0] if len(matches) == 1 else originals[0]
    if matches:
        raise FaceprobeError(f"feature key {key!r} is ambiguous: {', '.join(matches)}")
    raise FaceprobeError(f"unknown feature key {key!r}; the cache holds: {', '.join(keys)}")


def resolve_key(path: str, key: str | None) -> str:
    """Accept a full key, a unique prefix of one (``efficientnet_lite0``), or None when there is one key."""
    return _resolve(path, [r["key"] for r in list_keys(path)], key)


class CacheReader:
    """One open cache, read-only: the image table, the keys and the matrices of one load.

    Use it as a context manager (``with CacheReader(path) as cache:``); the file is closed on
    leaving. The image table and the key list are read once and kept.

    Parameters
    ----------
    path : str
        The cache file.
    """

    def __init__(self, path: str):
        self.path = str(path)
        self._opened = open_cache(self.path)
        self._file = None
        self._images = None
        self._keys = None

    def __enter__(self) -> "CacheReader":
        self._file = self._opened.__enter__()
        return self

    def __exit__(self, *exc):
        self._file = None
        return self._opened.__exit__(*exc)

    def images(self) -> dict[str, np.ndarray]:
        """The image table's columns (read once)."""
        if self._images is None:
            self._images = _images(self._file)
        return self._images

    def keys(self) -> list[dict]:
        """What :func:`list_keys` gives (read once)."""
        if self._keys is None:
            self._keys = _keys(self._file)
        return self._keys

    def resolve_key(self, key: str | None) -> str:
        """As :func:`resolve_key`."""
        return _resolve(self.path, [r["key"] for r in self.keys()], key)

    def features(self, key: str, *, vectors: bool = True) -> FeatureMatrix:
        """As :func:`read_features`."""
        return _features(self._file, self.path, key, vectors)

    def spec(self, key: str) -> dict:
        """The key's spec (what produced its numbers), without reading its rows."""
        return json.loads(_group(self._file, self.path, key).attrs["spec"])

    def view_keys(self, spec: dict) -> list[str]:
        """Keys of the augmented views made with the same backbone, weights and preprocessing as ``spec``."""
        def base(s: dict) -> dict:
            return {k: v for k, v in s.items() if k not in ("view", "view_params")}

        return [info["key"] for info in self.keys()
                if info["view"] != "orig" and info["backbone"] == spec["backbone"] and base(self.spec(info["key"])) == base(spec)]

    def vectors(self, key: str) -> np.ndarray:
        """The key's vectors alone, as float32."""
        return _group(self._file, self.path, key)["vectors"][()].astype(np.float32, copy=False)

    def finite(self, key: str) -> np.ndarray:
        """Per row of the key: every value finite (False for the NaN rows of faces not found).

        Read in spans of :data:`READ_BLOCK_BYTES`: the matrix is never held whole.
        """
        data = _group(self._file, self.path, key)["vectors"]
        block_rows = _span_rows(data)
        out = np.zeros(data.shape[0], dtype=bool)
        for lo in range(0, data.shape[0], block_rows):
            out[lo:lo + block_rows] = np.isfinite(data[lo:lo + block_rows]).all(axis=1)
        return out

    def vectors_at(self, key: str, rows: np.ndarray) -> np.ndarray:
        """The key's vectors at ``rows`` (any order), as float32.

        The file is read in ascending spans of :data:`READ_BLOCK_BYTES` and each span's wanted
        rows are put in place, so memory holds the result and one span, never the matrix twice.
        """
        data = _group(self._file, self.path, key)["vectors"]
        block_rows = _span_rows(data)
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), data.shape[1]), dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        disk = rows[order]
        for lo in range(0, data.shape[0], block_rows):
            a, b = np.searchsorted(disk, [lo, lo + block_rows])
            if a < b:
                out[order[a:b]] = data[lo:lo + block_rows][disk[a:b] - lo]
        return out
