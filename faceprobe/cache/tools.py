"""Inspect, check and export a feature cache: what ``faceprobe cache ls|info|verify|export`` do."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import FaceprobeError, OptionError, first_line, message_line
from ..outputs import csv_safe
from .journal import part_files
from .layout import IMAGE_COLUMNS, no_face_rows, open_cache
from .reader import extra_columns, list_keys, read_features, read_images, read_table, resolve_key
from .lock import lock_holder
from .store import stale_copies

__all__ = ["list_keys", "cache_info", "verify", "Verdict", "verify_cache", "export_key", "resolve_key"]


INFO_VALUES = 12
"""``cache info`` lists the values of an extra column with at most this many; else their count."""


def cache_info(path: str) -> dict:
    """Summary of a cache: format, images by status and label, extra columns (their values, or
    how many distinct ones), keys, provenance."""
    with open_cache(path) as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items() if k != "backbones"}
        attrs = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in attrs.items()}
    images = read_images(path)
    status = Counter(str(s) for s in images["status"])
    labels = Counter(str(lab) for lab, s in zip(images["label"], images["status"]) if s == "ok" and lab)
    unlabelled = sum(1 for lab, s in zip(images["label"], images["status"]) if s == "ok" and not lab)
    subjects = {str(s) for s in images["subject"] if s}
    bad = [(str(p), str(r)) for p, s, r in zip(images["path"], images["status"], images["reason"]) if s == "bad"]
    ok = np.flatnonzero(np.asarray(images["status"]).astype(str) == "ok")
    columns = {}
    for name, values in extra_columns(images, ok).items():
        counts = Counter(values.tolist())
        columns[name] = dict(sorted(counts.items())) if len(counts) <= INFO_VALUES else {"distinct values": len(counts)}
    return {
        "path": os.path.abspath(path),
        "bytes": os.path.getsize(path),
        "attrs": attrs,
        "images": len(images["path"]),
        "status": dict(status),
        "labels": dict(sorted(labels.items())),
        "unlabelled": unlabelled,
        "subjects": len(subjects),
        "columns": columns,
        "bad": bad,
        "keys": list_keys(path),
        "journal_parts": len(part_files(path)),
    }


def _verify_key(key: str, g, known: set) -> list[str]:
    """Problems of one feature key: missing or misaligned datasets, duplicates, orphans, bad values, checksums."""
    need = ("sha256", "vectors", "face", "box", "run")
    absent = [d for d in need if d not in g]
    if absent:
        return [f"{key}: missing datasets {', '.join(absent)}"]
    n = g["sha256"].shape[0]
    if any(g[d].shape[0] != n for d in need):
        return [f"{key}: datasets differ in length"]
    try:
        spec = json.loads(g.attrs["spec"])
        runs = json.loads(g.attrs["runs"])
    except (KeyError, ValueError):
        return [f"{key}: spec or runs attribute missing or not JSON"]
    try:
        data = {d: g[d][()] for d in need}
    except OSError as exc:  # HDF5's Fletcher-32 filter found a chunk whose bytes changed on disk
        return [f"{key}: stored data fail their checksum ({message_line(exc)}): the file is corrupted; featurize again "
                "into a fresh cache"]
    problems = []
    if not g["vectors"].fletcher32:
        problems.append(f"{key}: no checksums (written before faceprobe stored them); corrupted values cannot be detected")
    sha = np.asarray(data["sha256"]).astype(str)
    if len(set(sha)) != n:
        problems.append(f"{key}: {n - len(set(sha))} duplicate rows")
    orphans = len(set(sha) - known)
    if orphans:
        problems.append(f"{key}: {orphans} rows whose image is not in /images")
    if n and int(data["run"].max()) >= len(runs):
        problems.append(f"{key}: rows point to unknown runs")
    bad_rows = ~np.isfinite(data["vectors"]).all(axis=1)
    allowed = data["face"] == 0 if no_face_rows(spec) else np.zeros(n, bool)
    if np.any(bad_rows & ~allowed):
        problems.append(f"{key}: {int(np.sum(bad_rows & ~allowed))} rows with NaN or infinite values")
    return problems


def _verify_table(f) -> list[str]:
    if "images" not in f:
        return ["no /images table"]
    lengths = {c: f["images"][c].shape[0] for c in IMAGE_COLUMNS if c in f["images"]}
    missing = sorted(set(IMAGE_COLUMNS) - set(lengths))
    problems = [f"/images lacks columns: {', '.join(missing)}"] if missing else []
    if len(set(lengths.values())) > 1:
        problems.append(f"/images columns differ in length: {lengths}")
    elif not missing:
        try:
            read_table(f["images"])
        except FaceprobeError as exc:
            problems.append("/images: " + str(exc).split(": ", 1)[1])
        if "sha256" not in f["images"].attrs:
            problems.append("/images: no checksum (written before faceprobe stored one); edited labels or statuses cannot be detected")
    return problems


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``problems`` (empty when sound), the PID of a featurize writing the
    cache now (``writer``, None when none) and how many of its result parts wait to be committed."""

    problems: list
    writer: int | None = None
    waiting_parts: int = 0


def verify(path: str) -> Verdict:
    """Check a cache thoroughly, reading once whether a featurize is writing it now.

    Never raises for a damaged file: an unreadable file is itself reported as a problem. A live
    writer's result parts are its work in progress, not a problem.
    """
    writer = lock_holder(path)
    problems = _problems(path, writer)
    return Verdict(problems, writer, len(part_files(path)) if writer is not None else 0)


def verify_cache(path: str) -> list[str]:
    """Check a cache thoroughly; return the problems found (empty when it is sound; see :func:`verify`)."""
    return verify(path).problems


def _problems(path: str, writer: int | None) -> list[str]:
    problems: list[str] = []
    try:
        with open_cache(path) as f:
            problems += _verify_table(f)
            known = set(f["images"]["sha256"].asstr()[()]) if "images" in f and "sha256" in f["images"] else set()
            for key, g in (f["features"].items() if "features" in f else []):
                problems += _verify_key(key, g, known)
    except FaceprobeError as exc:
        return [str(exc).removeprefix(f"{path}: ")]
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        problems.append(f"unreadable data: {first_line(exc)}")
    parts = part_files(path)
    if parts and writer is None:
        problems.append(f"{len(parts)} uncommitted result parts from an interrupted run; run featurize again to commit them")
    stale = stale_copies(path)
    if stale:
        size = sum(os.path.getsize(t) for t in stale if os.path.exists(t))
        problems.append(f"{len(stale)} temporary copies ({size / 1e6:.1f} MB) left by an interrupted commit: {', '.join(stale)}; "
                        "the next featurize removes them")
    return problems


def export_key(path: str, key: str | None, out: str, fmt: str | None = None) -> dict:
    """Write one feature key with labels, subjects and paths to ``.npz`` or ``.csv``.

    Rows are the images with status ok that the key holds a vector for, sorted by path; an
    image listed under several paths appears once per path. ``fmt`` None: from the suffix of
    ``out``. Columns are ``f0``, ``f1``... except where a key's columns have names (a geometry
    key's blendshapes and pose: ``jawOpen``, ``yaw_deg``); ``.npz`` holds them as ``columns``.
    Text cells a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``) get a ``'``.
    """
    suffix = os.path.splitext(str(out))[1].lower().lstrip(".")
    if fmt is None:
        if suffix not in ("npz", "csv"):
            raise OptionError("output", out, "ends in neither .npz nor .csv; give one of those suffixes, or `format`")
        fmt = suffix
    elif suffix in ("npz", "csv") and suffix != fmt:
        raise OptionError("format", fmt, f"does not match the output {out}; use the same on both")
    from ..outputs import check_writable

    check_writable(out, "output")
    key = resolve_key(path, key)
    fm = read_features(path, key)
    images = read_images(path)
    row_of = {s: i for i, s in enumerate(fm.sha256)}
    sel = [(i, row_of[s]) for i, (s, st) in enumerate(zip(images["sha256"], images["status"])) if st == "ok" and s in row_of]
    finite = [(i, r) for i, r in sel if np.isfinite(fm.vectors[r]).all()]
    no_vector, sel = len(sel) - len(finite), finite
    img_idx = np.asarray([i for i, _ in sel], dtype=int)
    rows = np.asarray([r for _, r in sel], dtype=int)
    X = fm.vectors[rows] if len(rows) else np.zeros((0, fm.vectors.shape[1]), np.float32)
    cols = {c: np.asarray(images[c][img_idx]).astype(str) for c in ("path", "label", "subject", "sha256")}
    extra = {n: v for n, v in extra_columns(images, img_idx).items() if n not in cols and n != "X"}
    from ..facial_actions import NAMED_COLUMNS

    named = NAMED_COLUMNS.get(fm.spec.get("backbone", ""), ())  # a geometry key's columns by their meaning (yaw_deg, jawOpen)
    names = list(named) if len(named) == X.shape[1] else [f"f{j}" for j in range(X.shape[1])]
    if fmt == "npz":
        np.savez_compressed(out, X=X, key=np.array(key), spec=np.array(json.dumps(fm.spec)), columns=np.array(names), **cols,
                            **({"extra_columns": np.array(list(extra)), **{f"extra.{n}": v for n, v in extra.items()}} if extra else {}))
    elif fmt == "csv":
        with open(out, "w", newline="", encoding="utf-8") as handle:
            w = csv.writer(handle)
            w.writerow(["path", "label", "subject", "sha256", *map(csv_safe, extra), *map(csv_safe, names)])
            for j in range(len(rows)):
                text = [cols["path"][j], cols["label"][j], cols["subject"][j], cols["sha256"][j], *(v[j] for v in extra.values())]
                w.writerow([*map(csv_safe, text),
                            *(f"{v:.8g}" for v in X[j])])
    else:
        raise OptionError("format", fmt, "choose from: npz, csv")
    return {"key": key, "rows": int(len(rows)), "dim": int(X.shape[1]), "out": out, "no_vector": no_vector,
            **({"no_vector_reason": no_face_rows(fm.spec) or "non-finite values"} if no_vector else {})}
