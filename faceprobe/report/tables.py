"""The grid of a study (keys as rows, heads as columns) as text, CSV, LaTeX (booktabs) or Markdown."""

from __future__ import annotations

import csv
import os

from ..errors import OptionError
from ..outputs import csv_safe, md_text

__all__ = ["md_references", "TABLE_SUFFIXES", "grid_lines", "write_table", "table_format", "grid_at", "grid_rows", "cell_text",
           "figure", "metric_title"]

TABLE_SUFFIXES = {".csv": "csv", ".tex": "tex", ".md": "md"}
COLUMNS = ["key", "head", "metric", "mean", "std", "folds", "p_vs_best", "p_holm", "tied", "engine"]


def _regression(metric: str) -> bool:
    from ..classify.regression.metrics import REGRESSION_METRICS

    return metric in REGRESSION_METRICS


def figure(metric: str, v: float) -> str:
    """A figure as tables show it: classification metrics in % (one decimal), regression figures as they are."""
    return f"{v:.3f}" if _regression(metric) else f"{100 * v:.1f}"


def metric_title(metric: str) -> str:
    """``balanced_accuracy (%)``, ``mae (lower is better)``."""
    if _regression(metric):
        from ..classify.regression.metrics import REGRESSION_METRICS

        return f"{metric} ({REGRESSION_METRICS[metric]} is better)"
    return f"{metric} (%)"


def table_format(path: str) -> str:
    """The format of ``--table FILE`` from its suffix, checked before any work."""
    from ..outputs import check_writable

    fmt = TABLE_SUFFIXES.get(os.path.splitext(str(path))[1].lower())
    if fmt is None:
        raise OptionError("table", path, f"a table is {', '.join(TABLE_SUFFIXES)}; choose one of those suffixes")
    check_writable(path, "table")
    return fmt


def _row(res: dict, c: dict) -> str:
    """A grid row's name: its key, with its target when a regression run has several."""
    return f"{c['key']} [{c['target']}]" if len(res.get("targets") or ()) > 1 else c["key"]


def grid_at(res: dict) -> tuple[list[str], list[str], dict]:
    """Rows (keys, or key and target) and heads in order, and the grid's cells by (row, head)."""
    keys = list(dict.fromkeys(_row(res, c) for c in res["grid"]))
    heads = list(dict.fromkeys(c["head"] for c in res["grid"]))
    return keys, heads, {(_row(res, c), c["head"]): c for c in res["grid"]}


def grid_rows(res: dict, cell, empty: str) -> list[tuple[str, list[str]]]:
    """Per key, its cells rendered by ``cell(c)`` (``empty`` where a cell has no figure), in head order."""
    keys, heads, at = grid_at(res)
    return [(k, [empty if at.get((k, h)) is None or at[(k, h)]["mean"] is None else cell(at[(k, h)]) for h in heads]) for k in keys]


def cell_text(c: dict | None, best: str = "*", tie: str = "=", metric: str = "") -> str:
    """``mean ± std`` (in % for classification metrics), marked best or tied."""
    if c is None or c["mean"] is None:
        return "-"
    mark = f" {best}" if c["best"] else (f" {tie}" if c["tied"] else "")
    return f"{figure(metric, c['mean'])} ± {figure(metric, c['std'])}{mark}"


def grid_lines(res: dict) -> list[str]:
    """The grid as an aligned text table, with its legend."""
    keys, heads, at = grid_at(res)
    rows = [[k] + [cell_text(at.get((k, h)), metric=res["metric"]) for h in heads] for k in keys]
    header = [metric_title(res["metric"])] + heads
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    test = single_test(res) if _single(res) else "corrected resampled t-test over paired folds"
    chance = [f"p against chance ({c['key']}, {c['head']}" + (f", {c['target']}" if c.get("target") else "") + f"): {c['p_permutation']:.3g}"
              for c in res["grid"] if c.get("p_permutation") is not None]
    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows] + [
        f"* best cell; = not significantly worse than it ({test}, Holm-adjusted p >= 0.05)"] + (["; ".join(chance)] if chance else [])


def single_test(res: dict) -> str:
    """The test of a single split's grid: McNemar's for classes, Wilcoxon's for a continuous target."""
    if res.get("task") == "regression":
        return "Wilcoxon's signed-rank test on paired absolute errors"
    return "McNemar's test on the pooled predictions"


def _single(res: dict) -> bool:
    split = res.get("provenance", {}).get("split", {})
    if split.get("fixed") is not None:
        return True
    return split.get("holdout") is not None and split.get("repeats", 1) == 1


def write_table(res: dict, path: str) -> str:
    """Write the grid to ``path`` (.csv tidy, .tex booktabs with the best in bold, .md); return the format."""
    fmt = table_format(path)
    keys, heads, at = grid_at(res)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if fmt == "csv":
            w = csv.writer(handle)
            targets = bool(res.get("targets"))
            chance = any("p_permutation" in c for c in res["grid"])
            w.writerow(COLUMNS + (["target"] if targets else []) + (["p_permutation"] if chance else []))
            engines = res.get("provenance", {}).get("engines", {})
            for c in res["grid"]:
                engine = "+".join(f"{e['engine']} {e['version']}" for e in engines.get(c["head"], []))
                w.writerow([csv_safe(c["key"]), csv_safe(c["head"]), res["metric"], c["mean"], c["std"], c["folds"], c["p_vs_best"],
                            c["p_holm"], c["tied"], engine] + ([csv_safe(c["target"])] if targets else [])
                           + ([c.get("p_permutation")] if chance else []))
        elif fmt == "md":
            handle.write("| key | " + " | ".join(map(md_text, heads)) + " |\n|---|" + "---|" * len(heads) + "\n")
            for k in keys:
                cells = [cell_text(at.get((k, h)), metric=res["metric"]).replace(" *", "").replace(" =", " (tied)") for h in heads]
                cells = [f"**{t}**" if at.get((k, h)) and at[(k, h)]["best"] else t for t, h in zip(cells, heads)]
                handle.write(f"| {md_text(k)} | " + " | ".join(cells) + " |\n")
            handle.write(md_references(res))
        else:
            handle.write(_latex(res, keys, heads, at))
    return fmt


def md_references(res: dict) -> str:
    """The corpus's published figures under a Markdown grid (empty without an official protocol)."""
    from .words import REFERENCE_HEADER, reference_rows

    corpus, rows = reference_rows(res)
    if not rows:
        return ""
    lines = ["", f"Published on {md_text(corpus)} (as published, not computed here):", "",
             "| " + " | ".join(REFERENCE_HEADER) + " |", "|" + "---|" * len(REFERENCE_HEADER)]
    lines += ["| " + " | ".join(md_text(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _latex(res: dict, keys: list, heads: list, at: dict) -> str:
    esc = lambda t: t.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
    lines = [r"\begin{tabular}{l" + "r" * len(heads) + "}", r"\toprule",
             "key & " + " & ".join(esc(h) for h in heads) + r" \\", r"\midrule"]

    def cell(c):
        t = f"{figure(res['metric'], c['mean'])} $\\pm$ {figure(res['metric'], c['std'])}"
        return rf"\textbf{{{t}}}" if c["best"] else (t + "$^{=}$" if c["tied"] else t)

    lines += [esc(k) + " & " + " & ".join(cells) + r" \\" for k, cells in grid_rows(res, cell, "--")]
    lines += [r"\bottomrule", r"\end{tabular}",
              f"% {esc(metric_title(res['metric']))}, mean $\\pm$ std; bold: best; $^{{=}}$: not significantly worse (Holm-adjusted p $\\geq$ 0.05)"]
    from .words import reference_rows

    corpus, refs = reference_rows(res)
    lines += [f"% published on {esc(corpus)} (as published, not computed here): " + "; ".join(esc(" ".join(r[:2]) + f" ({r[3]}, {r[4]}; {r[5]})")
                                                                                             for r in refs)] if refs else []
    return "\n".join(lines + [""])
