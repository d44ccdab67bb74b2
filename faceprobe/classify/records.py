"""The one shape of classify's results: flat records, the same for one key or a grid of keys.

``flatten`` turns what :func:`~faceprobe.classify.evaluate.evaluate` returned for each key into

- ``cells``: one record per (key, head): ``summary`` (mean and std per metric), pooled
  ``per_class`` and ``confusion``, the engines and cost, and ``error``, ``clips`` or the fixed
  split's figures where they apply;
- ``folds``: one record per (key, head, repeat, fold): its metrics, sizes, chosen parameters,
  engine, cores, seconds and memory; its predictions (``test_paths``, ``y_true``, ``y_pred``,
  ``scores``) only when they were asked for.

Everything that needs predictions (pooled confusion, McNemar's test, clip figures, bootstrap
intervals) is computed before they are dropped. ``nested`` gives the per-key view the text
tables and reports are laid out from.
"""

from __future__ import annotations

__all__ = ["PREDICTION_FIELDS", "flatten", "nested", "layout_view", "cell", "fold_records"]

PREDICTION_FIELDS = ("test_paths", "y_true", "y_pred", "scores", "test_subjects")


def flatten(per_key: dict, heads: list[str], keep_predictions: bool) -> dict:
    """``{key: evaluate(...)}`` -> the flat results (without ``grid``, ``metric`` and ``provenance``)."""
    keys = list(per_key)
    first = per_key[keys[0]]
    cells, folds = [], []
    for key, res in per_key.items():
        for head in heads:
            r = res["heads"][head]
            cells.append({"key": key, "head": head, **{k: v for k, v in r.items() if k != "folds"}})
            for f in r["folds"]:
                kept = f if keep_predictions else {k: v for k, v in f.items() if k not in PREDICTION_FIELDS}
                folds.append({"key": key, **kept})
    notes = list(first["notes"])
    for key in keys[1:]:
        notes += [n for n in per_key[key]["notes"] if n not in notes]
    return {"keys": keys, "heads": list(heads), "classes": first["classes"], "rows": first["rows"],
            "subjects": first["subjects"], "class_counts": first["class_counts"], "splits": first["splits"],
            "notes": notes, "predictions": keep_predictions, "cells": cells, "folds": folds}


def cell(res: dict, head: str, key: str | None = None, target: str | None = None) -> dict:
    """The (key, head) record of flat results (``key`` None: the first key; ``target`` None: the
    first target of a regression run)."""
    key = res["keys"][0] if key is None else key
    if target is None and res.get("targets"):
        target = res["targets"][0]
    for c in res["cells"]:
        if c["key"] == key and c["head"] == head and c.get("target") == target:
            return c
    raise KeyError(f"no results for head {head!r} on key {key!r}" + (f" for target {target!r}" if target else ""))


def fold_records(res: dict, head: str | None = None, key: str | None = None, target: str | None = None) -> list[dict]:
    """The fold records of flat results, for one head, key and/or target when given."""
    return [f for f in res["folds"] if (head is None or f["head"] == head) and (key is None or f["key"] == key)
            and (target is None or f.get("target") == target)]


def nested(res: dict) -> dict:
    """Flat results as a per-key view for layout: ``per_key[key]["heads"][head]`` holds the cell
    with its ``folds``; ``study`` says whether there are several keys."""
    per_key = {}
    for key in res["keys"]:
        heads = {}
        for head in res["heads"]:
            c = {k: v for k, v in cell(res, head, key).items() if k not in ("key", "head")}
            heads[head] = {**c, "folds": [{k: v for k, v in f.items() if k != "key"} for f in fold_records(res, head, key)]}
        per_key[key] = {**{k: res[k] for k in ("classes", "rows", "subjects", "class_counts", "splits", "notes")},
                        "heads": heads, "metric": res.get("metric"), "provenance": res.get("provenance", {})}
    view = dict(per_key[res["keys"][0]]) if len(res["keys"]) == 1 else {}
    view.update({k: v for k, v in res.items() if k not in ("cells", "folds", "heads")})
    view["study"] = len(res["keys"]) > 1
    view["provenance"] = {**res.get("provenance", {}), "key": res["keys"][0] if not view["study"] else list(res["keys"])}
    for key in res["keys"]:
        per_key[key]["provenance"] = {**view["provenance"], "key": key}
    view["per_key"] = per_key
    if not view["study"]:
        view["heads"] = per_key[res["keys"][0]]["heads"]
    return view


def layout_view(res: dict) -> dict:
    """:func:`nested` for flat results; a view already nested passes through."""
    return nested(res) if "cells" in res else res
