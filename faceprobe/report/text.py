"""Text tables of classify results, laid out like published ones (heads as columns)."""

from __future__ import annotations

from ..classify.records import layout_view
from .words import chance_line, chosen_by, chosen_params, group_column, grouped_words, protocol_words as _protocol, reference_lines, text_table as _table, within_tables

__all__ = ["format_results", "chosen_params", "summary_cell", "extra_tables"]

ROWS = [
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("precision_macro", "precision (macro)"),
    ("recall_macro", "recall (macro)"),
    ("f1_macro", "F1 (macro)"),
    ("roc_auc_ovr", "ROC AUC (ovr)"),
]


def summary_cell(v) -> str:
    """A summary figure in %: mean ± std over folds or repeats, or a fixed split's value [95 % CI]."""
    if v is None:
        return "-"
    if "ci" in v:  # a fixed split: the value and its bootstrap 95 % interval
        return f"{100 * v['mean']:.1f} [{100 * v['ci'][0]:.1f}, {100 * v['ci'][1]:.1f}]"
    return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"


def format_results(res: dict) -> str:
    """Metrics table (mean ± std in %), then per head the per-class table and confusion matrix.

    A study (several keys) prints the grid of keys x heads with its significance marks, then
    each key's tables; under a corpus's official protocol, its published figures follow.
    """
    return "\n".join([_format(res), *reference_lines(res)])


def _format(res: dict) -> str:
    if res.get("task") == "regression":
        from .regression import format_regression

        return format_regression(res)
    res = layout_view(res)
    if res.get("study"):
        return _format_study(res)
    heads = list(res["heads"])
    prov = res.get("provenance", {})
    split = prov.get("split", {})
    lines = []
    if prov:
        proto, grouped = _protocol(split, group_column(prov)), grouped_words(prov)
        lines.append(f"{prov.get('key')}: {res['rows']} images, {len(res['classes'])} classes, {proto}, {grouped}, seed {split.get('seed')}")
    for note in res.get("notes", []):
        lines.append(f"note: {note}")
    lines.append("")
    rows = [[label] + [summary_cell(res["heads"][h]["summary"][name]) for h in heads] for name, label in ROWS]
    lines += _table(["metric (%)" + (" [95% CI]" if split.get("fixed") else "")] + heads, rows)
    for title, rows in extra_tables(res, heads):
        ci = split.get("fixed") and not title.startswith("within")  # a corpus's own CV gives mean ± std
        lines += ["", title] + _table(["metric (%)" + (" [95% CI]" if ci else "")] + heads, rows)
    chance = chance_line(res["heads"], res.get("metric") or "balanced_accuracy")
    if chance:
        lines += ["", chance]
    from .curves import curve_table

    curve = curve_table(res["heads"])
    if curve:
        lines += ["", curve[0]] + _table(curve[1], curve[2])
    if split.get("loso"):  # folds of one subject are small: the pooled figures are the ones to report
        pooled = [[label] + [_pct(res["heads"][h].get("pooled", {}).get(name)) for h in heads] for name, label in ROWS if name != "roc_auc_ovr"]
        lines += ["", "pooled over all test predictions (one fold per subject; above: mean ± std of the per-subject folds)"]
        lines += _table(["metric (%)"] + heads, pooled)
    for h in heads:
        r = res["heads"][h]
        if "error" in r:
            lines += ["", f"{h}: no results: {r['error']}"]
            continue
        if chosen_params(r):
            lines += ["", f"{h}: hyperparameters chosen {chosen_by(split)}: {chosen_params(r)}"]
        lines += ["", f"{h}: per class (pooled over test folds)"]
        pc = [[c, f"{100 * v['precision']:.1f}", _pct(v["recall"]), _pct(v["specificity"]), _pct(v["f1"]), str(v["support"])]
              for c, v in r["per_class"].items()]
        lines += _table(["class", "precision", "recall/sens.", "specificity", "F1", "n"], pc)
        lines += _confusion_lines(h, res["classes"], r["confusion"])
    return "\n".join(lines)


def _confusion_lines(head: str, classes: list[str], confusion: list) -> list[str]:
    """The confusion matrix as a text table: class numbers head the columns when the names are
    many or long (:func:`~faceprobe.report.plots.class_codes`), so a line stays readable."""
    from .plots import class_codes

    codes, coded = class_codes(classes)
    def short(name: str) -> str:
        return name if len(name) <= 32 else name[:31] + "…"

    rows = [[f"{code} {short(c)}" if coded else c] + [str(v) for v in row] for code, c, row in zip(codes, classes, confusion)]
    title = f"{head}: confusion matrix (rows true, columns predicted" + (", by class number)" if coded else ")")
    return ["", title] + _table(["true \\ pred"] + codes, rows)


def extra_tables(res: dict, heads: list[str]) -> list[tuple[str, list[list[str]]]]:
    """Tables beside the main one, as (title, rows with the metric label first): a fixed split's
    figures without the twins of training images, and clip-level figures (``--aggregate``)."""
    out = []
    twins = {h: res["heads"][h].get("without_twins") for h in heads}
    if any(twins.values()):
        n = next(p["test_images"] for p in twins.values() if p)
        rows = [[label] + [summary_cell(twins[h].get(name)) if twins[h] else "-" for h in heads] for name, label in ROWS if name != "roc_auc_ovr"]
        out.append((f"without the twins of training images ({n} test images left)", rows))
    clips = {h: res["heads"][h].get("clips") for h in heads}
    first = next((p for p in clips.values() if p), None)
    if first is not None:
        mixed = f"; {first['mixed_label_clips']} clips have frames of different labels (their most common label counts)" \
            if first["mixed_label_clips"] else ""
        rows = [[label] + [summary_cell(clips[h]["summary"].get(name)) if clips[h] else "-" for h in heads] for name, label in ROWS if name != "roc_auc_ovr"]
        out.append((f"per {first['column']} ({first['clips']} test clips; each frame's scores averaged over its clip){mixed}", rows))
    out += within_tables({h: res["heads"][h] for h in heads}, ROWS, summary_cell)
    return out


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _format_study(res: dict) -> str:
    from .tables import grid_lines

    prov = res.get("provenance", {})
    split = prov.get("split", {})
    lines = [f"{len(res['keys'])} feature keys x {len(res['grid']) // max(1, len(res['keys']))} heads on the same folds: {res['rows']} images, "
             f"{len(res['classes'])} classes, {_protocol(split, group_column(prov))}, {grouped_words(prov)}, seed {split.get('seed')}"]
    lines += [f"note: {n}" for n in res.get("notes", [])] + [""]
    lines += grid_lines(res)
    for key in res["keys"]:
        sub = {**res["per_key"][key], "provenance": {**prov, "key": key}, "notes": []}
        lines += ["", "=" * 8 + f" {key} " + "=" * 8] + format_results(sub).splitlines()[1:]
    return "\n".join(lines)
