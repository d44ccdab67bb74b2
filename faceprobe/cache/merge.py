"""Merge caches (shards of one job, or runs on several machines) into one, refusing disagreements."""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import FaceprobeError
from .journal import Part
from .layout import IMAGE_COLUMNS, open_cache
from .store import commit, read_features, read_images, read_root_attrs

__all__ = ["merge_caches"]


def _merged_extra(path: str, image: str, old: str, new: str) -> str:
    """The union of two rows' extra columns; a column the two give different values is refused
    (so ``merge A B`` and ``merge B A`` cannot differ)."""
    a, b = (json.loads(t) if t else {} for t in (str(old), str(new)))
    for col in sorted(set(a) & set(b)):
        if str(a[col]) != str(b[col]):
            raise FaceprobeError(f"{path}: {image} has {col} {b[col]!r}, another cache says {a[col]!r}; not merging "
                                 "(fix the column in one of them)")
    both = {**a, **b}
    return json.dumps(both, sort_keys=True) if both else ""


def _merged_images(paths: list[str]) -> dict[str, list]:
    rows: dict[str, dict] = {}
    for path in paths:
        table = read_images(path)
        for i, p in enumerate(table["path"]):
            new = {c: table[c][i] for c in IMAGE_COLUMNS}
            old = rows.get(str(p))
            if old is None:
                rows[str(p)] = new
                continue
            for col in ("sha256", "label", "subject"):
                if old[col] and new[col] and str(old[col]) != str(new[col]):
                    raise FaceprobeError(f"{path}: {p} has {col} {new[col]!r}, another cache says {old[col]!r}; not merging")
            extra = _merged_extra(path, str(p), old["extra"], new["extra"])
            if old["status"] == "pending" and new["status"] != "pending":
                rows[str(p)] = new
            rows[str(p)]["extra"] = extra
    ordered = sorted(rows)
    return {c: np.asarray([rows[p][c] for p in ordered]) for c in IMAGE_COLUMNS}


def merge_caches(inputs: list[str], output: str) -> dict:
    """Merge faceprobe caches into ``output`` (created, or extended when it exists).

    Parameters
    ----------
    inputs : list of str
        Caches to merge, e.g. the shards of ``featurize --shard i/n``.
    output : str

    Returns
    -------
    dict
        ``keys`` (rows per key after merging) and ``images``.

    Raises
    ------
    FaceprobeError
        When an input is not a faceprobe cache, when two caches give one image path
        different contents, labels or subjects, or when one feature key carries different specs.
    """
    from ..outputs import check_writable

    check_writable(output, "output")
    if not inputs:
        raise FaceprobeError("give at least one cache to merge")
    for path in inputs:
        with open_cache(path):
            pass
        if os.path.abspath(path) == os.path.abspath(output):
            raise FaceprobeError(f"{path}: the output cannot also be an input")
    specs: dict[str, dict] = {}
    parts: list[Part] = []
    resolutions: dict = dict(read_root_attrs(output).get("backbones", {})) if os.path.exists(output) else {}
    for path in inputs:
        resolutions.update(read_root_attrs(path).get("backbones", {}))
        with open_cache(path) as f:
            keys = list(f["features"]) if "features" in f else []
        for key in keys:
            fm = read_features(path, key)
            if key in specs and specs[key] != fm.spec:
                raise FaceprobeError(f"{path}: feature key {key} has a different spec than in another cache; not merging")
            specs[key] = fm.spec
            for r, run in enumerate(fm.runs):
                sel = fm.run == r
                if not sel.any():
                    continue
                block = {"spec": fm.spec, "sha256": fm.sha256[sel].astype(str), "vectors": fm.vectors[sel],
                         "face": fm.face[sel], "box": fm.box[sel]}
                block.update({c: getattr(fm, c)[sel] for c in ("score", "landmarks") if getattr(fm, c) is not None})
                parts.append(Part(run, {}, {key: block}))
    images = _merged_images(inputs + ([output] if os.path.exists(output) else []))
    commit(output, images=images, parts=parts, root_attrs={"backbones": resolutions})
    with open_cache(output) as f:
        rows = {k: int(g["sha256"].shape[0]) for k, g in f["features"].items()} if "features" in f else {}
    return {"keys": rows, "images": int(len(images["path"])), "output": output, "specs": json.loads(json.dumps(specs))}
