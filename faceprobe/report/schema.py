"""What a results file must hold before a report is made of it.

``classify --json`` writes these sections; a file cut short or edited by hand may lack one.
The report refuses it up front, naming the section, instead of failing halfway through a page.
"""

from __future__ import annotations

from ..errors import FaceprobeError

__all__ = ["check_results", "SECTIONS", "CELL_FIELDS"]

SECTIONS = {"heads": list, "keys": list, "classes": list, "cells": list, "folds": list, "class_counts": dict, "notes": list,
            "provenance": dict, "rows": int, "splits": int, "subjects": (int, type(None))}
"""Top-level sections of classify's results and their JSON types."""
REGRESSION_SECTIONS = {"targets": list, "target_summary": dict}
CELL_FIELDS = {"head": str, "key": str, "summary": dict, "confusion": list, "per_class": (dict, list)}
"""Fields of every cell (one head on one key) of a classification."""
REGRESSION_CELL_FIELDS = {"head": str, "key": str, "summary": dict, "target": str}


def _type_words(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {list: "a list", dict: "an object", int: "a number", str: "a text", type(None): "null"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def check_results(res, name: str) -> None:
    """Refuse results that lack a section (or hold the wrong kind of value) the report reads.

    Raises
    ------
    FaceprobeError
        Naming the file and the first section missing or malformed.
    """
    again = "run classify again to write them"
    if not isinstance(res, dict) or not any(section in res for section in SECTIONS):
        raise FaceprobeError(f"{name}: not classify results ({again})")
    if isinstance(res.get("heads"), dict) and "cells" not in res:  # the nested view evaluate() makes in process
        return
    wanted = {**SECTIONS, **(REGRESSION_SECTIONS if res.get("task") == "regression" else {})}
    for section, kind in wanted.items():
        if section not in res:
            raise FaceprobeError(f"{name}: classify results without their {section!r} section (cut short or edited?); {again}")
        if not isinstance(res[section], kind) or isinstance(res[section], bool):
            raise FaceprobeError(f"{name}: the {section!r} section is {type(res[section]).__name__}, not {_type_words(kind)}; {again}")
    if not res["cells"]:
        raise FaceprobeError(f"{name}: the 'cells' section is empty (no head was evaluated); {again}")
    fields = REGRESSION_CELL_FIELDS if res.get("task") == "regression" else CELL_FIELDS
    for i, cell in enumerate(res["cells"]):
        if not isinstance(cell, dict):
            raise FaceprobeError(f"{name}: cell {i} is {type(cell).__name__}, not an object; {again}")
        if "error" in cell and isinstance(cell.get("head"), str):  # a head that failed: its error is what is shown
            continue
        for field, kind in fields.items():
            if not isinstance(cell.get(field), kind):
                what = "lacks" if field not in cell else f"has a {type(cell[field]).__name__} for"
                raise FaceprobeError(f"{name}: cell {i} ({cell.get('head', '?')}) {what} its {field!r} ({_type_words(kind)}); {again}")
