"""Two recorded runs side by side: every figure that moved, a paired test where their folds are the
same images, and what differs in what ran (options, versions, data, provenance) when numbers differ."""

from __future__ import annotations

import json
import math

from ..errors import OptionError
from .query import get_run

__all__ = ["compare_runs", "VOLATILE"]

VOLATILE = ("time", "seconds", "argv", "peak_rss_bytes", "added_rss_bytes", "remembered", "timed", "predicted", "cores",
            "budget_bytes", "stages", "stage_shares", "images_per_second", "steady_images_per_second", "setup_seconds",
            "actual_seconds", "predicted_over_actual", "reason")
"""Provenance fields that change from one run of the same command to the next (clocks, memory,
timings, and the engine decision's reason, which quotes timings; the engine chosen is compared):
never reported as a difference."""

_TOLERANCE = 1e-12


def _flat(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE:
                continue
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(value, sort_keys=True, default=str)}


def _what_ran(run: dict) -> dict:
    return _flat({"options": run["options"], "faceprobe": run["faceprobe"], "dataset": run["dataset"], "keys": run["key_ids"],
                  "cpu": run["cpu"], "provenance": run["provenance"]})


def _cells(run: dict) -> dict:
    return {(c["key"], c["head"], c["target"], c["metric"]): c for c in run["cells"]}


def _folds(run: dict) -> dict:
    out: dict = {}
    for f in run["folds"]:
        out.setdefault((f["key"], f["head"], f["target"], f["metric"]), {})[(f["repeat"], f["fold"])] = f["value"]
    return out


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= _TOLERANCE * max(1.0, abs(a), abs(b))


def _paired_p(a: dict, b: dict, ratio: float | None) -> float | None:
    """Nadeau and Bengio's corrected paired t-test over the same folds (or None: folds differ)."""
    if not a or set(a) != set(b) or len(a) < 2 or ratio is None:
        return None
    import numpy as np

    from ..significance import corrected_t_test

    order = sorted(a)
    x, y = np.array([a[k] for k in order], float), np.array([b[k] for k in order], float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    p = corrected_t_test(x, y, ratio)
    return None if p is None or math.isnan(p) else float(p)


def _test_train_ratio(run: dict) -> float | None:
    split = run["provenance"].get("split", {})
    if split.get("holdout"):
        return float(split["holdout"]) / (1 - float(split["holdout"]))
    if isinstance(split.get("cv"), int):
        return 1 / (split["cv"] - 1)
    return None


def compare_runs(path, a: str, b: str) -> dict:
    """Compare run ``a`` with run ``b`` figure by figure.

    Returns
    -------
    dict
        ``a`` and ``b`` (their ids), ``figures`` (every cell figure in either run: both values, the
        difference, and ``p`` of the paired test where both ran the same folds of the same images),
        ``moved`` (how many differ), ``only_a``/``only_b`` (cells one run lacks), ``paired`` (whether
        folds could be paired and why not), and ``provenance`` (each field of what ran that differs:
        options, versions, data identity, key identities, CPU, the rest of the provenance).
    """
    ra, rb = get_run(path, a), get_run(path, b)
    if "featurize" in (ra["kind"], rb["kind"]) and ra["kind"] != rb["kind"]:
        raise OptionError("run", b, f"run {rb['id']} is a {rb['kind']} run and run {ra['id']} a {ra['kind']} run: their figures "
                                    "are of different things; compare two featurize runs, or two classify or fit runs")
    ca, cb, fa, fb = _cells(ra), _cells(rb), _folds(ra), _folds(rb)
    same_images = ra["dataset"] is not None and ra["dataset"] == rb["dataset"] and \
        ra["provenance"].get("split") == rb["provenance"].get("split")
    ratio = _test_train_ratio(ra) if same_images else None
    figures = []
    for at in sorted(set(ca) & set(cb)):
        va, vb = ca[at]["value"], cb[at]["value"]
        p = _paired_p(fa.get(at, {}), fb.get(at, {}), ratio) if not _same(va, vb) else None
        figures.append({"key": at[0], "head": at[1], "target": at[2], "metric": at[3], "a": va, "b": vb,
                        "difference": None if va is None or vb is None else vb - va, "moved": not _same(va, vb), "p": p})
    wa, wb = _what_ran(ra), _what_ran(rb)
    differs = [{"field": k, "a": wa.get(k), "b": wb.get(k)} for k in sorted(set(wa) | set(wb)) if wa.get(k) != wb.get(k)]
    why_unpaired = None if same_images else ("different images" if ra["dataset"] != rb["dataset"] else "different splits")
    return {"a": ra["id"], "b": rb["id"], "figures": figures, "moved": sum(f["moved"] for f in figures),
            "only_a": [list(k) for k in sorted(set(ca) - set(cb))], "only_b": [list(k) for k in sorted(set(cb) - set(ca))],
            "paired": {"folds": same_images and ratio is not None, "why_not": why_unpaired}, "provenance": differs}
