"""Render classify results (the dict that ``classify --json`` writes) as HTML or Markdown."""

from __future__ import annotations

import base64
import html
import json
import os

from ..errors import OptionError

from ..classify.report import ROWS, chosen_params, format_results

__all__ = ["render_html", "render_markdown", "write_report"]


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _summary_cell(v) -> str:
    return "-" if v is None else f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"


def _pooled(res: dict, head: str) -> tuple[list, list]:
    y, s = [], []
    for f in res["heads"][head]["folds"]:
        if "scores" in f and f.get("y_true"):
            y += f["y_true"]
            s += f["scores"]
    return y, s


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right} td:first-child,th:first-child{text-align:left}"
          "pre{background:#f5f5f5;padding:1em;overflow:auto;font-size:12px} .plots img{margin-right:1em;vertical-align:top}"
          "td.best{font-weight:bold;outline:2px solid #222} td.tied{font-style:italic}")


def _page(res: dict, body: list[str]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>faceprobe report</title><style>", _STYLE,
             "</style></head><body>", "<h1>faceprobe classify report</h1>",
             f"<p>{html.escape(format_results(res).splitlines()[0])}</p>"]
    parts += [f"<p><em>note: {html.escape(note)}</em></p>" for note in res.get("notes", [])]
    prov = res.get("provenance", {})
    parts += body + ["<h2>Provenance</h2><pre id='provenance'>" + html.escape(json.dumps(prov, indent=1, sort_keys=True, default=str)) + "</pre>",
                     "</body></html>"]
    return "\n".join(parts)


def render_html(res: dict) -> str:
    """A self-contained page: metrics table, per-class tables, confusion heatmaps, ROC curves, provenance.

    A study (several keys) gets the grid of keys x heads as a heatmap with the best cell and the
    ties marked, a table of contents, then each key's section."""
    if res.get("study"):
        from .study import study_sections

        return _page(res, study_sections(res))
    return _page(res, key_sections(res))


def key_sections(res: dict, level: int = 2) -> list[str]:
    """One key's metrics table, then per head its per-class table, confusion heatmap and ROC curves."""
    from .plots import confusion_png, roc_png

    heads, classes = list(res["heads"]), res["classes"]
    img = lambda png, alt: f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    parts = []
    table = '<table id="metrics">' if level == 2 else "<table class='metrics'>"
    parts.append(f'<h{level}>Metrics (%, mean ± std)</h{level}>{table}<tr><th>metric</th>' + "".join(f"<th>{h}</th>" for h in heads) + "</tr>")
    for name, label in ROWS:
        parts.append(f"<tr><td>{label}</td>" + "".join(f"<td>{_summary_cell(res['heads'][h]['summary'][name])}</td>" for h in heads) + "</tr>")
    parts.append("</table>")
    for h in heads:
        r = res["heads"][h]
        if "error" in r:
            parts.append(f"<h{level}>{h}</h{level}><p class='error'>no results: {html.escape(r['error'])}</p>")
            continue
        if chosen_params(r):
            parts.append(f"<h{level}>{h}</h{level}><p class='chosen'>hyperparameters chosen by inner CV (folds): {html.escape(chosen_params(r))}</p>")
        else:
            parts.append(f"<h{level}>{h}</h{level}>")
        parts.append("<table class='per-class'><tr><th>class</th><th>precision</th><th>recall (sensitivity)</th><th>specificity</th><th>F1</th><th>n</th></tr>")
        for c, v in r["per_class"].items():
            parts.append(f"<tr><td>{html.escape(c)}</td><td>{_pct(v['precision'])}</td><td>{_pct(v['recall'])}</td><td>{_pct(v['specificity'])}</td><td>{_pct(v['f1'])}</td><td>{v['support']}</td></tr>")
        parts.append("</table><div class='plots'>")
        parts.append(img(confusion_png(r["confusion"], classes, f"{h}: confusion (pooled test folds)"), f"{h} confusion matrix"))
        y, s = _pooled(res, h)
        if y:
            parts.append(img(roc_png(y, s, classes, f"{h}: ROC one-vs-rest (pooled)"), f"{h} ROC curves"))
        parts.append("</div>")
    return parts


def render_markdown(res: dict) -> str:
    """The same content as Markdown tables (no images)."""
    if res.get("study"):
        from .study import study_markdown

        return study_markdown(res)
    heads = list(res["heads"])
    out = ["# faceprobe classify report", "", format_results(res).splitlines()[0], ""]
    out += [f"> note: {n}" for n in res.get("notes", [])] + [""]
    out += ["| metric (%) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for name, label in ROWS:
        out.append(f"| {label} | " + " | ".join(_summary_cell(res["heads"][h]["summary"][name]) for h in heads) + " |")
    for h in heads:
        r = res["heads"][h]
        out += ["", f"## {h}", ""]
        if "error" in r:
            out += [f"no results: {r['error']}"]
            continue
        if chosen_params(r):
            out += [f"Hyperparameters chosen by inner CV (folds): {chosen_params(r)}", ""]
        out += ["| class | precision | recall (sensitivity) | specificity | F1 | n |", "|---|---|---|---|---|---|"]
        for c, v in r["per_class"].items():
            out.append(f"| {c} | {_pct(v['precision'])} | {_pct(v['recall'])} | {_pct(v['specificity'])} | {_pct(v['f1'])} | {v['support']} |")
        out += ["", "Confusion matrix (rows true, columns predicted):", "", "| true \\ pred | " + " | ".join(res["classes"]) + " |",
                "|---|" + "---|" * len(res["classes"])]
        out += [f"| {c} | " + " | ".join(map(str, row)) + " |" for c, row in zip(res["classes"], r["confusion"])]
    out += ["", "## Provenance", "", "```json", json.dumps(res.get("provenance", {}), indent=1, sort_keys=True, default=str), "```", ""]
    return "\n".join(out)


REPORT_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md"}


def report_format(out: str, fmt: str | None = None, param: str = "report") -> str:
    """The format of a report file (``fmt``, else from its suffix), checked with its folder before any work.

    Raises
    ------
    OptionError
        For a suffix that is neither HTML nor Markdown, or a folder that does not exist.
    """
    from ..outputs import check_writable

    if fmt is None:
        suffix = os.path.splitext(str(out))[1].lower()
        if suffix not in REPORT_SUFFIXES:
            raise OptionError(param, out, "a report is .html (or .htm) or .md; choose one of those suffixes")
        fmt = REPORT_SUFFIXES[suffix]
    check_writable(out, param)
    return fmt


def write_report(res: dict, out: str, fmt: str | None = None) -> str:
    """Write ``out`` as HTML or Markdown (from ``fmt``, else from the file suffix); return the format."""
    fmt = report_format(out, fmt, "output")
    text = render_markdown(res) if fmt == "md" else render_html(res)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    return fmt
