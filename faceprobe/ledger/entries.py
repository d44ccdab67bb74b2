"""What one run leaves in the results store: an :class:`Entry` made from what the run returned.

Pure functions of the run's results and options (no database here): what ran (command, options,
cache and key identities, corpus and protocol, versions, machine, engine and runtime decisions, all
in the provenance) and what came out (every figure per key, head, target, repeat and fold, and each
cell's aggregate with its spread and interval).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import sys
import time
import uuid
from dataclasses import dataclass, field

from .options import RECORDING

__all__ = ["Entry", "classify_entry", "fit_entry", "featurize_entry", "key_identity"]

CELL = -1
"""``repeat`` and ``fold`` of a cell's aggregate figure."""


@dataclass(frozen=True)
class Entry:
    """One run's record: ``run`` (the runs table's columns), ``figures`` (rows of the figures
    table without the run id), ``tags``."""

    run: dict
    figures: list = field(default_factory=list)
    tags: tuple = ()


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def key_identity(spec: dict) -> str:
    """A feature key's identity: the sha256 of its full specification (backbone, weights' sha256,
    layer, crop, preprocessing, view), the first 16 hex digits."""
    return hashlib.sha256(_json(spec).encode()).hexdigest()[:16]


def _given(options) -> dict:
    """The options a run was given that differ from their defaults (what to type to run it again)."""
    if options is None:
        return {}
    if dataclasses.is_dataclass(options):
        return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)  # what resolve derived is not typed
                if getattr(options, f.name) != f.default and f.name not in RECORDING and not f.metadata.get("resolved")}
    return dict(options)


def _dataset(cache: str | None) -> str | None:
    """The cache's content identity: the checksum of its image table (paths, sha256, labels, subjects)."""
    if not cache:
        return None
    try:
        import h5py

        with h5py.File(cache, "r") as f:
            digest = f["images"].attrs.get("sha256") if "images" in f else None
    except (OSError, KeyError):
        return None
    return None if digest is None else str(digest.decode() if isinstance(digest, bytes) else digest)[:16]


def _corpus(cache: str | None) -> str | None:
    if not cache:
        return None
    try:
        from ..cache.store import read_root_attrs

        corpora = read_root_attrs(cache).get("corpora", {})
    except Exception:  # noqa: BLE001 - a cache that cannot be read now names no corpus; the run itself read it
        return None
    return ",".join(sorted(corpora)) if isinstance(corpora, dict) and corpora else None


def _protocol(res: dict) -> tuple[str, bool, bool | None]:
    """The split as words, whether it is a corpus's official protocol, whether it grouped by person."""
    official = res.get("protocol")
    split = res.get("provenance", {}).get("split", {})
    if official:
        return f"official:{official.get('name', '?')}", True, True
    if split.get("fixed"):
        fixed = split["fixed"]
        return f"fixed:{fixed.get('column', fixed) if isinstance(fixed, dict) else fixed}", False, None
    grouped = bool(split.get("group")) or bool(split.get("loso"))
    if split.get("loso"):
        words = "loso"
    elif split.get("holdout"):
        words = f"holdout {split['holdout']} x{split.get('repeats', 1)}"
    else:
        words = f"cv {split.get('cv')}" + (f" x{split['repeats']}" if split.get("repeats", 1) > 1 else "")
    return words + (" by subject" if grouped and not split.get("loso") else ""), False, grouped


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _figures(res: dict) -> list[tuple]:
    out = []
    for c in res.get("cells", []):
        target = c.get("target") or ""
        for metric, s in (c.get("summary") or {}).items():
            if not isinstance(s, dict):
                continue
            ci = s.get("ci") or (None, None)
            out.append((c["key"], c["head"], target, metric, CELL, CELL, _number(s.get("mean")), _number(s.get("std")),
                        _number(ci[0]), _number(ci[1]), s.get("over")))
    metrics = {(c["key"], c["head"], c.get("target") or ""): list(c.get("summary") or {}) for c in res.get("cells", [])}
    for f in res.get("folds", []):
        target = f.get("target") or ""
        for metric in metrics.get((f["key"], f["head"], target), []):
            if metric in f:
                out.append((f["key"], f["head"], target, metric, int(f.get("repeat", 0)), int(f.get("fold", 0)),
                            _number(f[metric]), None, None, None, None))
    return out


def _machine() -> dict:
    from ..machine import cpu_info

    return {"host": platform.node(), "cpu": cpu_info()["model"]}


def _base(kind: str, options, cache: str | None, provenance: dict) -> dict:
    return {"uid": uuid.uuid4().hex, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kind": kind,
            "argv": _json(sys.argv), "faceprobe": provenance.get("versions", {}).get("faceprobe") or _version(),
            "cache": cache, "dataset": _dataset(cache), "corpus": _corpus(cache), "options": _json(_given(options)),
            "provenance": _json(provenance), **_machine()}


def _version() -> str:
    from .._version import __version__

    return __version__


def classify_entry(res: dict, options=None, tags: tuple = ()) -> Entry:
    """The record of a ``classify`` (or study) run from its flat results (:mod:`faceprobe.classify.records`)."""
    prov = res.get("provenance", {})
    protocol, official, grouped = _protocol(res)
    specs = prov.get("feature_spec", {})
    run = {**_base("classify", options, prov.get("cache"), prov), "keys": _json(res.get("keys", [])),
           "key_ids": _json({k: key_identity(specs.get(k, {})) for k in res.get("keys", [])}),
           "heads": _json(res.get("heads", [])), "protocol": protocol, "official": int(official),
           "grouped": None if grouped is None else int(grouped), "metric": res.get("metric"), "gpu": None,
           "seconds": prov.get("seconds"), "note": None}
    if res.get("protocol") and res["protocol"].get("corpus"):
        run["corpus"] = res["protocol"]["corpus"]
    return Entry(run, _figures(res), tuple(tags))


def fit_entry(model: dict, options=None, tags: tuple = ()) -> Entry:
    """The record of a ``fit`` run from the model's record (its cross-validated figures included)."""
    cv = model.get("cv") or {}
    prov = {k: model.get(k) for k in ("key", "feature_spec", "weights", "head", "params", "engine", "versions", "time",
                                      "trained_rows", "classes", "target", "protocol")}
    prov["feature_spec"] = {model.get("key"): model.get("feature_spec") or {}}
    prov["cache"] = getattr(options, "cache", None)
    prov["split"] = model.get("split") or {}
    res = {"keys": [model.get("key")], "heads": [model.get("head")], "provenance": prov, "protocol": model.get("protocol"),
           "metric": model.get("metric", "balanced_accuracy"),
           "cells": [{"key": model.get("key"), "head": model.get("head"), "target": model.get("target") or "",
                      "summary": cv.get("summary") or {}}]}
    entry = classify_entry(res, options, tags)
    return Entry({**entry.run, "kind": "fit", "note": f"model {model.get('output', '')} sha256 {model.get('sha256', '')[:12]}"},
                 entry.figures, entry.tags)


def featurize_entry(summary: dict, options=None, tags: tuple = ()) -> Entry:
    """The record of a ``featurize`` run from its summary (counts, runtimes, timings)."""
    figures = [("", "", "", name, CELL, CELL, _number(summary.get(name)), None, None, None, "run")
               for name in ("images", "computed", "cached", "images_per_second", "steady_images_per_second", "seconds")]
    run = {**_base("featurize", options, summary.get("cache"), {"summary": summary}),
           "keys": _json(summary.get("keys", [])), "key_ids": _json({}), "heads": _json([]), "protocol": None,
           "official": 0, "grouped": None, "metric": None, "gpu": summary.get("device") or None,
           "seconds": summary.get("seconds"), "note": None}
    return Entry(run, figures, tuple(tags))
