"""Learning curves in tables and plots: each head's metric against the training subjects (or images)."""

from __future__ import annotations

import html

from .tables import figure, metric_title

__all__ = ["curve_table", "curve_png", "curve_html", "curve_markdown"]


def curve_table(cells: dict) -> tuple[str, list[str], list[list[str]]] | None:
    """(title, header, rows) of the heads' learning curves (rows: sizes), or None without curves."""
    curves = {h: c["curve"] for h, c in cells.items() if c.get("curve")}
    if not curves:
        return None
    first = next(iter(curves.values()))
    metric, heads = first["metric"], list(curves)
    rows = []
    for i, size in enumerate(first["sizes"]):
        row = [str(size)]
        for h in heads:
            p = curves[h]["points"][i]
            row.append("-" if p["mean"] is None else f"{figure(metric, p['mean'])}" + ("" if p["std"] is None else f" ± {figure(metric, p['std'])}"))
        rows.append(row)
    title = (f"learning curve: {metric_title(metric)} by training {first['unit']} (the same test folds; mean ± std over folds x "
             f"{first['draws']} random draws; all: the whole training fold)")
    return title, [first["unit"]] + heads, rows


def curve_png(cells: dict, title: str) -> bytes | None:
    """The heads' curves with their spread as a band (a numeric x axis; ``all`` at the whole training
    fold's mean size in the curve's unit, a count of subjects or images)."""
    import numpy as np

    from .plots import figure_canvas, png_bytes

    curves = {h: c["curve"] for h, c in cells.items() if c.get("curve")}
    if not curves:
        return None
    fig, ax = figure_canvas((5, 3.6))
    first = next(iter(curves.values()))
    for h, cur in curves.items():
        pts = [p for p in cur["points"] if p["mean"] is not None]
        if not pts:
            continue
        x = np.array([p["size"] if p["size"] != "all" else (p.get("train_units") or np.nan) for p in pts], float)
        if np.isnan(x).any():  # results written before the size was recorded: "all" one step past the largest size
            finite = x[~np.isnan(x)]
            x[np.isnan(x)] = (finite.max() * 1.5) if len(finite) else 1.0
        m = np.array([p["mean"] for p in pts])
        s = np.array([p["std"] or 0.0 for p in pts])
        ax.plot(x, m, marker="o", label=h)
        ax.fill_between(x, m - s, m + s, alpha=0.15)
    xs = [x for line in ax.get_lines() for x in line.get_xdata()]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 8:  # "all" (every training subject) far past the subsets: a log axis
        ax.set_xscale("log")
    ax.set_xlabel(f"training {first['unit']}" + (" (last point: all)" if "all" in first["sizes"] else "")
                  + (", log scale" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(first["metric"])
    ax.set_title(title)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def curve_html(cells: dict, img) -> list[str]:
    """The learning-curve table and plot, as HTML parts (none without a curve)."""
    curve = curve_table(cells)
    if not curve:
        return []
    title, header, rows = curve
    table = ("<table class='curve'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
             + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    return [f"<p class='curve'>{html.escape(title)}</p>", table, img(curve_png(cells, "learning curve"), "learning curve")]


def curve_markdown(cells: dict) -> list[str]:
    """The learning-curve table as Markdown lines."""
    curve = curve_table(cells)
    if not curve:
        return []
    title, header, rows = curve
    return ["", f"{title}:", "", "| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)] + ["| " + " | ".join(r) + " |" for r in rows]
