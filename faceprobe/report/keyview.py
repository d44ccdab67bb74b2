"""One feature key's results as report sections: HTML (tables, confusion heatmaps, ROC curves) or Markdown."""

from __future__ import annotations

import base64
import html

from .text import ROWS, chosen_params, extra_tables, summary_cell
from .curves import curve_html, curve_markdown
from .words import chance_line, chosen_by

__all__ = ["key_sections", "key_markdown", "pct", "summary_cell"]


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _pooled(res: dict, head: str) -> tuple[list, list]:
    y, s = [], []
    for f in res["heads"][head]["folds"]:
        if "scores" in f and f.get("y_true"):
            y += f["y_true"]
            s += f["scores"]
    return y, s


def key_sections(res: dict, level: int = 2) -> list[str]:
    """One key's metrics table, then per head its per-class table, confusion heatmap and ROC curves."""
    from .plots import class_codes, confusion_png, roc_png

    heads, classes = list(res["heads"]), res["classes"]
    img = lambda png, alt: f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    parts = []
    table = '<table id="metrics">' if level == 2 else "<table class='metrics'>"
    fixed = bool(res.get("provenance", {}).get("split", {}).get("fixed"))
    what = "value [95 % bootstrap interval]" if fixed else "mean ± std"
    parts.append(f'<h{level}>Metrics (%, {what})</h{level}>{table}<tr><th>metric</th>' + "".join(f"<th>{html.escape(h)}</th>" for h in heads) + "</tr>")
    for name, label in ROWS:
        parts.append(f"<tr><td>{label}</td>" + "".join(f"<td>{summary_cell(res['heads'][h]['summary'][name])}</td>" for h in heads) + "</tr>")
    parts.append("</table>")
    for title, rows in extra_tables(res, heads):
        parts.append(f"<p class='extra'>{html.escape(title)}</p><table class='metrics'><tr><th>metric</th>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in heads) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows] + ["</table>"]
    chance = chance_line(res["heads"], res.get("metric") or "balanced_accuracy")
    if chance:
        parts.append(f"<p class='chance'>{html.escape(chance)}</p>")
    parts += curve_html(res["heads"], img)
    for h in heads:
        r = res["heads"][h]
        if "error" in r:
            parts.append(f"<h{level}>{html.escape(h)}</h{level}><p class='error'>no results: {html.escape(r['error'])}</p>")
            continue
        if chosen_params(r):
            by = chosen_by(res.get("provenance", {}).get("split", {}))
            parts.append(f"<h{level}>{html.escape(h)}</h{level}><p class='chosen'>hyperparameters chosen {html.escape(by)}: "
                         f"{html.escape(chosen_params(r))}</p>")
        else:
            parts.append(f"<h{level}>{html.escape(h)}</h{level}>")
        parts.append("<table class='per-class'><tr><th>class</th><th>precision</th><th>recall (sensitivity)</th><th>specificity</th><th>F1</th><th>n</th></tr>")
        for c, v in r["per_class"].items():
            parts.append(f"<tr><td>{html.escape(c)}</td><td>{pct(v['precision'])}</td><td>{pct(v['recall'])}</td><td>{pct(v['specificity'])}</td><td>{pct(v['f1'])}</td><td>{v['support']}</td></tr>")
        parts.append("</table><div class='plots'>")
        parts.append(img(confusion_png(r["confusion"], classes, f"{h}: confusion (pooled test folds)"), f"{h} confusion matrix"))
        y, s = _pooled(res, h)
        if y:
            parts.append(img(roc_png(y, s, classes, f"{h}: ROC one-vs-rest (pooled)"), f"{h} ROC curves"))
        parts.append("</div>")
        if class_codes(classes)[1]:
            parts.append("<p class='legend'>classes by number: " + "; ".join(f"{i + 1} = {html.escape(str(c))}" for i, c in enumerate(classes))
                         + "</p>")
    return parts


def key_markdown(res: dict, level: int = 2) -> list[str]:
    """One key's metrics table, then per head its per-class table and confusion matrix, as Markdown lines."""
    heads, hashes = list(res["heads"]), "#" * level
    out = ["| metric (%) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for name, label in ROWS:
        out.append(f"| {label} | " + " | ".join(summary_cell(res["heads"][h]["summary"][name]) for h in heads) + " |")
    for title, rows in extra_tables(res, heads):
        out += ["", f"{title}:", "", "| metric (%) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
    chance = chance_line(res["heads"], res.get("metric") or "balanced_accuracy")
    if chance:
        out += ["", chance]
    out += curve_markdown(res["heads"])
    for h in heads:
        r = res["heads"][h]
        out += ["", f"{hashes} {h}", ""]
        if "error" in r:
            out += [f"no results: {r['error']}"]
            continue
        if chosen_params(r):
            out += [f"Hyperparameters chosen {chosen_by(res.get('provenance', {}).get('split', {}))}: {chosen_params(r)}", ""]
        out += ["| class | precision | recall (sensitivity) | specificity | F1 | n |", "|---|---|---|---|---|---|"]
        for c, v in r["per_class"].items():
            out.append(f"| {c} | {pct(v['precision'])} | {pct(v['recall'])} | {pct(v['specificity'])} | {pct(v['f1'])} | {v['support']} |")
        out += ["", "Confusion matrix (rows true, columns predicted):", "", "| true \\ pred | " + " | ".join(res["classes"]) + " |",
                "|---|" + "---|" * len(res["classes"])]
        out += [f"| {c} | " + " | ".join(map(str, row)) + " |" for c, row in zip(res["classes"], r["confusion"])]
    return out
