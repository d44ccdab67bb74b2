"""Render classify results (the dict that ``classify --json`` writes) as HTML or Markdown."""

from __future__ import annotations

from ..classify.records import layout_view

import html
import json
import os

from .text import format_results
from ..errors import OptionError
from .keyview import key_markdown, key_sections
from .study import study_markdown, study_sections
from ..outputs import md_text

__all__ = ["render_html", "render_markdown", "write_report"]


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right} td:first-child,th:first-child{text-align:left}"
          "pre{background:#f5f5f5;padding:1em;overflow:auto;font-size:12px} .plots img{margin-right:1em;vertical-align:top}"
          "td.best{font-weight:bold;outline:2px solid #222} td.tied{font-style:italic}"
          "figure.face{display:inline-block;margin:2px;text-align:center;font-size:10px} div.pair p{margin:4px 0}")


def _page(res: dict, body: list[str]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>faceprobe report</title><style>", _STYLE,
             "</style></head><body>", "<h1>faceprobe classify report</h1>",
             f"<p>{html.escape(format_results(res).splitlines()[0])}</p>"]
    parts += [f"<p><em>note: {html.escape(note)}</em></p>" for note in res.get("notes", [])]
    prov = res.get("provenance", {})
    parts += body + ["<h2>Provenance</h2><pre id='provenance'>" + html.escape(json.dumps(prov, indent=1, sort_keys=True, default=str)) + "</pre>",
                     "</body></html>"]
    return "\n".join(parts)


def _html_references(res: dict) -> list[str]:
    """The corpus's published figures as a table (none without an official protocol)."""
    from .words import REFERENCE_HEADER, reference_rows

    corpus, rows = reference_rows(res)
    if not rows:
        return []
    head = "".join(f"<th>{h}</th>" for h in REFERENCE_HEADER)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return [f"<h2>Published on {html.escape(corpus)}</h2><p>As published, not computed here; the training column says how "
            f"each network learnt (frozen features compare with frozen).</p><table id='references'><tr>{head}</tr>{body}</table>"]


def render_html(res: dict) -> str:
    """A self-contained page: metrics table, per-class tables, confusion heatmaps, ROC curves, provenance.

    A study (several keys) gets the grid of keys x heads as a heatmap with the best cell and the
    ties marked, a table of contents, then each key's section."""
    from .insight import insight_sections

    if res.get("task") == "regression":
        from .regression import regression_sections

        return _page(res, regression_sections(res) + insight_sections(res) + _html_references(res))
    extra = insight_sections(res) + _html_references(res)
    res = layout_view(res)
    if res.get("study"):
        return _page(res, study_sections(res) + extra)
    return _page(res, key_sections(res) + extra)


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
    from .schema import check_results

    fmt = report_format(out, fmt, "output")
    check_results(res, "results")
    text = render_markdown(res) if fmt == "md" else render_html(res)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    return fmt


def md_safe(obj):
    """``obj`` with every string (dict keys too) HTML-escaped and ``|`` escaped, for Markdown;
    the provenance is left as it is (it goes into a fenced code block)."""
    if isinstance(obj, dict):
        return {md_safe(k): (v if k == "provenance" else md_safe(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [md_safe(v) for v in obj]
    if isinstance(obj, str):
        return md_text(obj)
    return obj


def render_markdown(res: dict) -> str:
    """The same content as Markdown tables (no images); a study gets its grid first. Every text
    that came from the data (labels, subjects, keys, heads, notes) has its HTML escaped and its
    table bars escaped, so a label such as ``<script>`` shows as text."""
    regression = res.get("task") == "regression"
    from .tables import md_references

    references = md_references(md_safe(res))
    res = md_safe(res if regression else layout_view(res))
    out = ["# faceprobe classify report", "", format_results(res).splitlines()[0], ""]
    out += [f"> note: {n}" for n in res.get("notes", [])] + [""]
    if regression:
        from .regression import regression_markdown

        out += regression_markdown(res)
    else:
        out += study_markdown(res) if res.get("study") else key_markdown(res)
    from .insight import insight_markdown

    out += insight_markdown(res)
    out += [references]
    prov = json.dumps(res.get("provenance", {}), indent=1, sort_keys=True, default=str).replace("`", "\\u0060")  # no fence breaks out
    out += ["", "## Provenance", "", "```json", prov, "```", ""]
    return "\n".join(out)
