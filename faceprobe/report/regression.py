"""Regression results (``target``) as text, HTML and Markdown: per target and key, each figure per
head (mean ± std over folds, or a fixed split's value [95 % interval]), the pooled figures, binned
classes, clips, the subjects with the largest errors, and in HTML a predicted-against-true scatter
and a per-subject error plot per head."""

from __future__ import annotations

import base64
import html

from ..classify.records import cell, fold_records
from ..classify.regression.metrics import REGRESSION_METRICS
from .tables import grid_lines
from .words import chance_line, chosen_by, chosen_params, group_column, grouped_words, protocol_words as _protocol, text_table as _table, within_tables

__all__ = ["format_regression", "regression_sections", "regression_markdown", "FIGURES"]

FIGURES = [("mae", "MAE"), ("rmse", "RMSE"), ("pearson_r", "Pearson r"), ("spearman_rho", "Spearman rho"),
           ("icc_3_1", "ICC(3,1)"), ("ccc", "CCC")]
_BINS = [("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("f1_macro", "F1 (macro)")]


def _n(x: float) -> str:
    """Three decimals where they show the figure; three significant digits for a target on a very
    small or very large scale (an MAE of 2e-5 is not 0.000)."""
    return f"{x:.3f}" if x == 0 or 1e-3 <= abs(x) < 1e6 else f"{x:.3g}"


def _v(v) -> str:
    if v is None:
        return "-"
    if "ci" in v:
        return f"{_n(v['mean'])} [{_n(v['ci'][0])}, {_n(v['ci'][1])}]"
    return f"{_n(v['mean'])} ± {_n(v['std'])}"


def headline(res: dict) -> str:
    """The first line: keys, rows, targets, protocol, grouping, seed."""
    prov = res.get("provenance", {})
    split, grouped = prov.get("split", {}), grouped_words(prov)
    keys = res["keys"][0] if len(res["keys"]) == 1 else f"{len(res['keys'])} feature keys"
    targets = ", ".join(f"{t} (mean {s['mean']:.3g} ± {s['std']:.3g}, {s['min']:g}..{s['max']:g})"
                        for t, s in res.get("target_summary", {}).items())
    return (f"{keys}: {res['rows']} images, regression of {targets}, {_protocol(split, group_column(prov))}, {grouped}, seed {split.get('seed')}, "
            f"picked by {res['metric']} ({REGRESSION_METRICS[res['metric']]} is better)")


def _blocks(res: dict):
    """(target, key, {head: cell}) for every target and key."""
    for target in res["targets"]:
        for key in res["keys"]:
            yield target, key, {h: cell(res, h, key, target) for h in res["heads"]}


def _figure_rows(cells: dict, part: str) -> list[list[str]]:
    heads = list(cells)
    if part == "summary":
        return [[label] + [_v(cells[h]["summary"].get(name)) if "error" not in cells[h] else "-" for h in heads] for name, label in FIGURES]
    return [[label] + ["-" if cells[h].get("pooled", {}).get(name) is None else _n(cells[h]['pooled'][name]) for h in heads]
            for name, label in FIGURES]


def _extra(cells: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Tables beside the figures: binned classes and clips, as (title, header, rows)."""
    heads, out = list(cells), []
    first = next((c for c in cells.values() if c.get("bins")), None)
    if first:
        rows = [[label] + [f"{100 * cells[h]['bins']['summary'][m]['mean']:.1f} ± {100 * cells[h]['bins']['summary'][m]['std']:.1f}"
                           if cells[h].get("bins") and cells[h]["bins"]["summary"].get(m) else "-" for h in heads] for m, label in _BINS]
        out.append((f"the same predictions as classes of bins {', '.join(first['bins']['classes'])} (%)", ["metric (%)"] + heads, rows))
    clips = next((c["clips"] for c in cells.values() if c.get("clips")), None)
    if clips:
        rows = [[label] + [_v(cells[h]["clips"]["summary"].get(name)) if cells[h].get("clips") else "-" for h in heads] for name, label in FIGURES]
        out.append((f"per {clips['column']} ({clips['clips']} test clips; true and predicted values averaged over each clip)",
                    ["figure"] + heads, rows))
    out += [(title, ["figure"] + heads, rows) for title, rows in within_tables(cells, FIGURES, _v)]
    return out


def _worst(c: dict, n: int = 5) -> str:
    items = sorted(c.get("per_subject", {}).items(), key=lambda kv: -kv[1]["mae"])[:n]
    return ", ".join(f"{s} (MAE {v['mae']:.3g}, bias {v['bias']:+.3g}, n {v['n']})" for s, v in items)


def format_regression(res: dict) -> str:
    """The text tables of a regression run."""
    split = res.get("provenance", {}).get("split", {})
    what = "value [95% CI]" if split.get("fixed") else "mean ± std"
    lines = [headline(res)] + [f"note: {n}" for n in res.get("notes", [])]
    if len(res["keys"]) > 1 or len(res["targets"]) > 1:
        lines += [""] + grid_lines(res)
    for target, key, cells in _blocks(res):
        heads = list(cells)
        lines += ["", f"== {target}" + (f" on {key}" if len(res["keys"]) > 1 else "") + " =="]
        lines += _table([f"figure ({what})"] + heads, _figure_rows(cells, "summary"))
        lines += ["", "pooled over all test predictions"] + _table(["figure"] + heads, _figure_rows(cells, "pooled"))
        for title, header, rows in _extra(cells):
            lines += ["", title] + _table(header, rows)
        if chance_line(cells, res["metric"]):
            lines += ["", chance_line(cells, res["metric"])]
        from .curves import curve_table

        curve = curve_table(cells)
        if curve:
            lines += ["", curve[0]] + _table(curve[1], curve[2])
        for h, c in cells.items():
            if "error" in c:
                lines += ["", f"{h}: no results: {c['error']}"]
                continue
            chosen = chosen_params({"folds": fold_records(res, h, key, target)})
            if chosen:
                lines += ["", f"{h}: hyperparameters chosen {chosen_by(split)}: {chosen}"]
            lines += [f"{h}: largest errors by subject: {_worst(c)}"]
    return "\n".join(lines)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _html_table(header: list[str], rows: list[list[str]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><tr>{head}</tr>{body}</table>"


def regression_sections(res: dict) -> list[str]:
    """HTML sections: the grid (several keys or targets), then per target and key the figure tables,
    and per head a scatter of predicted against true values and a per-subject error plot."""
    from .plots import confusion_png, scatter_png, subject_error_png

    parts = []
    if len(res["keys"]) > 1 or len(res["targets"]) > 1:
        parts.append("<h2>Grid</h2><pre id='grid'>" + html.escape("\n".join(grid_lines(res))) + "</pre>")
    what = "value [95 % bootstrap interval]" if res.get("provenance", {}).get("split", {}).get("fixed") else "mean ± std"
    for target, key, cells in _blocks(res):
        heads = list(cells)
        parts.append(f"<h2>{html.escape(target)}" + (f" on {html.escape(key)}" if len(res["keys"]) > 1 else "") + "</h2>")
        parts.append(f"<p>Figures ({what})</p>" + _html_table(["figure"] + heads, _figure_rows(cells, "summary"), "metrics"))
        parts.append("<p>Pooled over all test predictions</p>" + _html_table(["figure"] + heads, _figure_rows(cells, "pooled"), "pooled"))
        for title, header, rows in _extra(cells):
            parts.append(f"<p class='extra'>{html.escape(title)}</p>" + _html_table(header, rows, "metrics"))
        if chance_line(cells, res["metric"]):
            parts.append(f"<p class='chance'>{html.escape(chance_line(cells, res['metric']))}</p>")
        from .curves import curve_html

        parts += curve_html(cells, _img)
        for h, c in cells.items():
            parts.append(f"<h3>{html.escape(h)}</h3>")
            if "error" in c:
                parts.append(f"<p class='error'>no results: {html.escape(c['error'])}</p>")
                continue
            folds = [f for f in fold_records(res, h, key, target) if f.get("y_true")]
            plots = []
            if folds:
                t = [v for f in folds for v in f["y_true"]]
                p = [v for f in folds for v in f["y_pred"]]
                plots.append(_img(scatter_png(t, p, f"{h}: {target}, predicted vs true (pooled)"), f"{h} scatter"))
            if c.get("per_subject"):
                plots.append(_img(subject_error_png(c["per_subject"], f"{h}: error per subject"), f"{h} per-subject error"))
            if c.get("bins"):
                b = c["bins"]
                plots.append(_img(confusion_png(b["confusion"], b["classes"], f"{h}: bins (pooled)"), f"{h} bins confusion"))
            parts.append("<div class='plots'>" + "".join(plots) + "</div>")
    return parts


def regression_markdown(res: dict) -> list[str]:
    """Markdown lines: the grid (several keys or targets), then the tables per target and key."""
    out = []
    if len(res["keys"]) > 1 or len(res["targets"]) > 1:
        out += ["```", *grid_lines(res), "```", ""]
    for target, key, cells in _blocks(res):
        heads = list(cells)
        out += [f"## {target}" + (f" on {key}" if len(res["keys"]) > 1 else ""), ""]
        for title, header, rows in [("Figures", ["figure"] + heads, _figure_rows(cells, "summary")),
                                    ("Pooled over all test predictions", ["figure"] + heads, _figure_rows(cells, "pooled"))] + _extra(cells):
            out += [f"{title}:", "", "| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)]
            out += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        if chance_line(cells, res["metric"]):
            out += [chance_line(cells, res["metric"]), ""]
        from .curves import curve_markdown

        out += curve_markdown(cells) + [""]
        for h, c in cells.items():
            out.append(f"- {h}: " + (f"no results: {c['error']}" if "error" in c else f"largest errors by subject: {_worst(c)}"))
        out.append("")
    return out
