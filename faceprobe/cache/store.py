"""Commit new results to the HDF5 feature cache atomically (the read side is :mod:`faceprobe.cache.reader`,
whose functions are named here too).

Commits never modify the live file in place: they write a copy next to it and rename it over
the original, so a reader (or a process killed mid-commit) only ever sees a complete file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time

import numpy as np

from .._version import __version__
from ..errors import FaceprobeError
from .journal import Part, part_files, read_parts, remove_parts
from .layout import DETECTION_COLUMNS, FORMAT_NAME, FORMAT_VERSION, IMAGE_COLUMNS, open_cache, real_cache
from .reader import (STATUSES, FeatureMatrix, extra_columns, read_feature_hashes, read_features, read_images,  # noqa: F401
                     read_root_attrs, read_table, table_digest)

__all__ = ["FeatureMatrix", "STATUSES", "commit", "commit_journal", "recover_journal", "stale_copies", "remove_stale_copies", "read_images", "read_table", "read_feature_hashes",
           "read_features", "read_root_attrs", "table_digest"]

CHUNK_ROWS = 512


# ------------------------------------------------------------------ commit


def _write_table(f, columns: dict[str, np.ndarray]) -> None:
    import h5py

    if "images" in f:
        del f["images"]
    grp = f.create_group("images")
    n = len(columns["path"])
    stored = {}
    for name, (kind, fill) in IMAGE_COLUMNS.items():
        values = columns.get(name)
        if values is None:
            values = [fill] * n
        if kind == "str":
            stored[name] = np.asarray([str(v) for v in values], dtype=object)
            grp.create_dataset(name, data=stored[name], dtype=h5py.string_dtype())
        else:
            stored[name] = np.asarray(values, dtype=kind)
            grp.create_dataset(name, data=stored[name])
    grp.attrs["sha256"] = table_digest(stored)  # of the values as written, which are what a read gives back


def _merge_images(old: dict[str, np.ndarray] | None, updates: list[dict[str, np.ndarray]], forget: set) -> dict[str, list]:
    rows: dict[str, dict] = {}
    for table in ([old] if old is not None else []) + updates:
        if table is None or not len(table.get("path", [])):
            continue
        names = [c for c in IMAGE_COLUMNS if c in table]
        for i, p in enumerate(table["path"]):
            row = rows.setdefault(str(p), {c: fill for c, (_, fill) in IMAGE_COLUMNS.items()})
            for c in names:
                row[c] = table[c][i]
    ordered = sorted(p for p in rows if p not in forget)
    return {c: [rows[p][c] for p in ordered] for c in IMAGE_COLUMNS}


def _feature_group(f, key: str, spec: dict, dim: int):
    """The group of a feature key, created empty (resizable, chunked datasets) when missing."""
    import h5py

    feats = f.require_group("features")
    if key in feats:
        return feats[key]
    g = feats.create_group(key)
    g.attrs["spec"] = json.dumps(spec, sort_keys=True)
    g.attrs["feature_dim"] = dim
    g.attrs["runs"] = "[]"
    g.create_dataset("sha256", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype("ascii", 64), chunks=(4096,), fletcher32=True)
    g.create_dataset("vectors", shape=(0, dim), maxshape=(None, dim), dtype="float32", chunks=(CHUNK_ROWS, dim), fletcher32=True)
    g.create_dataset("face", shape=(0,), maxshape=(None,), dtype="int8", chunks=(4096,), fletcher32=True)
    g.create_dataset("box", shape=(0, 4), maxshape=(None, 4), dtype="int32", chunks=(4096, 4), fletcher32=True)
    g.create_dataset("run", shape=(0,), maxshape=(None,), dtype="int32", chunks=(4096,), fletcher32=True)
    return g


def _append_rows(g, block: dict, run_index: int, have: set) -> int:
    """Append a block's rows whose image hash is not in ``have`` (updated); return how many."""
    sha = np.asarray(block["sha256"]).astype(str)
    keep = []
    for i, h in enumerate(sha):
        if h not in have:
            have.add(h)
            keep.append(i)
    if not keep:
        return 0
    idx = np.asarray(keep)
    n0, n = g["sha256"].shape[0], len(idx)
    for name, values in (
        ("sha256", sha[idx].astype("S64")),
        ("vectors", np.asarray(block["vectors"], dtype=np.float32)[idx]),
        ("face", np.asarray(block["face"], dtype=np.int8)[idx]),
        ("box", np.asarray(block["box"], dtype=np.int32)[idx]),
        ("run", np.full(n, run_index, dtype=np.int32)),
        *((c, np.asarray(block[c], dtype=np.float32)[idx]) for c in DETECTION_COLUMNS if c in block),
    ):
        if name not in g:  # a detection column new to this key: earlier rows have none (NaN)
            shape = DETECTION_COLUMNS[name]
            g.create_dataset(name, data=np.full((n0, *shape), np.nan, np.float32), maxshape=(None, *shape),
                             chunks=(4096, *shape), fletcher32=True)
        g[name].resize(n0 + n, axis=0)
        g[name][n0:] = values
    return n


def _run_index(group, run: dict) -> int:
    runs = json.loads(group.attrs["runs"])
    for i, r in enumerate(runs):
        if r.get("run_id") == run.get("run_id"):
            return i
    runs.append(run)
    group.attrs["runs"] = json.dumps(runs, sort_keys=True)
    return len(runs) - 1


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_copies(path: str) -> list[str]:
    """Temporary copies a killed commit left next to the cache (``<cache>.tmp-<pid>``)."""
    import glob

    return sorted(glob.glob(glob.escape(real_cache(path)) + ".tmp-*"))


def remove_stale_copies(path: str) -> tuple[int, int]:
    """Remove them (the caller holds the writer lock, so no commit is running); return (count, bytes)."""
    n = size = 0
    for tmp in stale_copies(path):
        try:
            size += os.path.getsize(tmp)
            os.remove(tmp)
            n += 1
        except OSError:
            pass
    return n, size


_ROW_CHUNKS = {"sha256": (4096, 64), "face": (4096, 1), "box": (4096, 16), "run": (4096, 4), "score": (4096, 4),
               "landmarks": (4096, 40)}
"""Per-row datasets of a feature key besides ``vectors``: (rows per chunk, bytes per row)."""


def _chunk_bytes(rows_before: int, rows_after: int, per_chunk: int, row_bytes: int) -> int:
    """What HDF5 allocates to grow a chunked dataset: whole chunks, however few rows they hold."""
    chunks = -(-rows_after // per_chunk) - -(-rows_before // per_chunk)
    return chunks * per_chunk * row_bytes


def _held_rows(path: str) -> dict[str, tuple[int, int]]:
    """Per feature key of an existing cache: (rows, dim)."""
    if not os.path.exists(path):
        return {}
    with open_cache(path) as f:
        feats = f["features"] if "features" in f else {}
        return {k: (int(g["vectors"].shape[0]), int(g["vectors"].shape[1])) for k, g in feats.items()}


def _needed_bytes(path: str, parts: list) -> int:
    """A commit copies the cache, grows each key by whole chunks (a 512 x 1280 float32 chunk is
    2.6 MB even for 5 rows) and rewrites the image table; plus HDF5's metadata and a margin."""
    size = os.path.getsize(path) if os.path.exists(path) else 0
    held = _held_rows(path)
    new: dict[str, tuple[int, int]] = {}
    for p in parts:
        for key, b in p.features.items():
            n, dim = new.get(key, (0, np.asarray(b["vectors"]).shape[1]))
            new[key] = (n + len(b["sha256"]), dim)
    grow = 0
    for key, (n, dim) in new.items():
        before = held.get(key, (0, dim))[0]
        grow += _chunk_bytes(before, before + n, CHUNK_ROWS, dim * 4)
        grow += sum(_chunk_bytes(before, before + n, per, row) for per, row in _ROW_CHUNKS.values())
        grow += 0 if key in held else 64 << 10  # a new group's headers, B-trees and attributes
    rows = len({str(x) for p in parts if p.images for x in p.images.get("path", [])})
    table = 400 * rows  # the image table is rewritten: its strings, heap and index
    return int(1.1 * (size + grow + table)) + (2 << 20)


def _space_message(path: str, need: int) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    free = shutil.disk_usage(folder).free
    return (f"{path}: committing needs about {need / 1e6:.1f} MB free in {folder}, {free / 1e6:.1f} MB are free; free some space "
            "and run the same command again (the computed results wait in the journal)")


def _check_space(path: str, parts: list) -> None:
    need = _needed_bytes(path, parts)
    if shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < need:
        raise FaceprobeError(_space_message(path, need))


def commit(path: str, *, images: dict[str, np.ndarray] | None = None, parts: list[Part] = (), root_attrs: dict | None = None,
           forget: set | None = None) -> int:
    """Fold image rows and result parts into the cache, atomically.

    Parameters
    ----------
    path : str
        Cache file; created when missing.
    images : dict of column -> array, optional
        Image rows to insert or update (by path), e.g. the labels of this run's source.
    parts : list of Part
        Results from the journal. Rows whose image hash a key already holds are dropped, so
        committing a part twice never duplicates a row.
    root_attrs : dict, optional
        Root attributes to set (dicts are stored as JSON).
    forget : set of str, optional
        Paths whose image rows are removed (rows of files that no longer exist).

    Returns
    -------
    int
        Number of feature rows added.
    """
    path = real_cache(path)  # through a symlink to its target: the link stays a link
    tmp = f"{path}.tmp-{os.getpid()}"
    _check_space(path, parts)
    if os.path.exists(path):
        shutil.copyfile(path, tmp)
        mode = "a"
    else:
        mode = "w"
    added = 0
    try:
        with open_cache(tmp, mode) as f:
            if mode == "w":
                f.attrs["format"] = FORMAT_NAME
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            f.attrs["faceprobe_version"] = __version__
            old = read_table(f["images"]) if "images" in f else None
            updates = [p.images for p in parts] + ([images] if images is not None else [])
            _write_table(f, _merge_images(old, updates, forget or set()))
            held: dict[str, set] = {}
            for part in parts:
                for key, block in part.features.items():
                    grp = _feature_group(f, key, block["spec"], np.asarray(block["vectors"]).shape[1])
                    if key not in held:
                        held[key] = set(grp["sha256"].asstr()[()])
                    added += _append_rows(grp, block, _run_index(grp, part.run), held[key])
            for k, v in (root_attrs or {}).items():
                f.attrs[k] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise FaceprobeError(_space_message(path, _needed_bytes(path, parts))) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return added


def commit_journal(path: str, with_parts=None) -> tuple[int, list[Part]]:
    """Commit the cache's journal and remove it: the one way a run's (or a killed run's) parts
    reach the cache.

    Parameters
    ----------
    path : str
    with_parts : callable (parts) -> dict, optional
        What else to commit with these parts (``images``, ``root_attrs``, ``forget``), decided
        from them (the statuses they learnt). An empty dict with no parts commits nothing.

    Returns
    -------
    (int, list of Part)
        Feature rows added, and the parts committed.
    """
    parts = read_parts(path) if part_files(path) else []
    more = with_parts(parts) if with_parts is not None else {}
    if not parts and not more:
        return 0, parts
    added = commit(path, parts=parts, **more)
    remove_parts(path)
    return added, parts


def recover_journal(path: str, listed: set) -> tuple[int, list[str]]:
    """Before a run plans: commit what a killed run left in the journal and remove the copies an
    interrupted commit left; return the feature rows added and what was done, as notes.
    ``listed``: the paths the new run's source lists (recovered rows of other paths are noted)."""
    notes = []
    stale, stale_bytes = remove_stale_copies(path)
    if stale:
        notes.append(f"removed {stale} temporary copies ({stale_bytes / 1e6:.1f} MB) left by an interrupted commit")
    if not part_files(path):
        return 0, notes
    added, parts = commit_journal(path)
    other = sorted({str(p) for part in parts for p in part.images.get("path", ())} - listed)
    if other:
        notes.append(f"committed {len(other)} images an interrupted run had computed for a source this one does not list (e.g. "
                     f"{other[0]}): their vectors are kept, unlabelled until that source is featurized again (which computes "
                     "nothing twice)")
    return added, notes
