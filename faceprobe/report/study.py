"""The report of a study: the grid of keys x heads as a heatmap (best and ties marked), a table of
contents, then each key's section."""

from __future__ import annotations

import html

from .tables import cell_text, figure, grid_at, grid_rows, metric_title
from .keyview import key_markdown, key_sections

__all__ = ["study_sections", "study_markdown"]


def _anchor(key: str) -> str:
    return "key-" + "".join(c if c.isalnum() else "-" for c in key)


def _colour(value: float, lo: float, hi: float) -> str:
    """White (lowest) to blue (highest) background for a grid cell."""
    t = 0.0 if hi <= lo else (value - lo) / (hi - lo)
    r, g = int(255 - 150 * t), int(255 - 90 * t)
    return f"background:rgb({r},{g},255)"


def study_sections(res: dict) -> list[str]:
    """HTML: the grid heatmap with its legend, the table of contents, the keys' sections."""
    keys, heads, at = grid_at(res)
    means = [c["mean"] for c in res["grid"] if c["mean"] is not None]
    lo, hi = (min(means), max(means)) if means else (0.0, 1.0)
    metric = res["metric"]
    parts = [f"<h2>{html.escape(metric_title(metric))}: keys x heads on the same folds</h2><table id='grid'><tr><th>key</th>"
             + "".join(f"<th>{html.escape(h)}</th>" for h in heads) + "</tr>"]
    def cell(c):
        cls = "best" if c["best"] else ("tied" if c["tied"] else "")
        p = "" if c["p_holm"] is None else f" title='p vs best {c['p_vs_best']:.3g}, Holm {c['p_holm']:.3g}'"
        mark = " *" if c["best"] else (" =" if c["tied"] else "")
        return (f"<td class='{cls}' style='{_colour(c['mean'], lo, hi)}'{p}>{figure(metric, c['mean'])} ± "
                f"{figure(metric, c['std'])}{mark}</td>")

    for k, cells in grid_rows(res, cell, "<td>-</td>"):
        parts.append(f"<tr><td><a href='#{_anchor(k)}'>{html.escape(k)}</a></td>" + "".join(cells) + "</tr>")
    parts.append("</table><p>* best cell (bold); = not significantly worse than it (italic; Holm-adjusted p &ge; 0.05). "
                 "Hover a cell for its p-values.</p>")
    parts.append("<h2>Contents</h2><ul id='toc'>" + "".join(f"<li><a href='#{_anchor(k)}'>{html.escape(k)}</a></li>" for k in keys) + "</ul>")
    for k in keys:
        parts.append(f"<h2 id='{_anchor(k)}'>{html.escape(k)}</h2>")
        if "per_key" in res:
            parts += key_sections(res["per_key"][k], level=3)
    return parts


def study_markdown(res: dict) -> list[str]:
    """Markdown lines: the grid, then each key's tables."""
    keys, heads, at = grid_at(res)
    out = [f"## {metric_title(res['metric'])}: keys x heads", "", "| key | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    out += [f"| {k} | " + " | ".join(cell_text(at.get((k, h)), metric=res["metric"]) for h in heads) + " |" for k in keys]
    out += ["", "\\* best cell; = not significantly worse than it (Holm-adjusted p >= 0.05)", ""]
    for k in keys:
        if "per_key" in res:
            out += [f"## {k}", ""] + key_markdown(res["per_key"][k], level=3) + [""]
    return out
