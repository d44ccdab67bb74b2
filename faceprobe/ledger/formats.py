"""Rows of the results store as text, Markdown, LaTeX (booktabs), CSV, JSON or parquet."""

from __future__ import annotations

import csv
import io
import json

from ..errors import OptionError
from ..outputs import md_text

__all__ = ["FORMATS", "render", "write_rows"]

FORMATS = ("text", "md", "tex", "csv", "json", "parquet")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _text(rows: list[dict], columns: list[str]) -> str:
    table = [columns] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in table)


def _md(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(md_text(_cell(r.get(c))) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _tex(rows: list[dict], columns: list[str]) -> str:
    def esc(text: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):
            text = text.replace(a, b)
        return text

    lines = [r"\begin{tabular}{" + "l" * len(columns) + "}", r"\toprule", " & ".join(map(esc, columns)) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(_cell(r.get(c))) for c in columns) + r" \\" for r in rows]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"])


def _csv(rows: list[dict], columns: list[str]) -> str:
    from ..outputs import csv_safe

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([csv_safe(_cell(r.get(c)) if isinstance(r.get(c), (list, tuple)) else r.get(c)) for c in columns])
    return out.getvalue().rstrip("\n")


def render(rows: list[dict], fmt: str, columns: list[str] | None = None) -> str:
    """``rows`` in ``fmt`` (every format but parquet, which :func:`write_rows` writes to a file)."""
    columns = columns or (list(rows[0]) if rows else [])
    if fmt == "json":
        return json.dumps(rows, indent=1, default=str)
    if fmt not in FORMATS or fmt == "parquet":
        raise OptionError("format", fmt, f"choose from: {', '.join(f for f in FORMATS if f != 'parquet')} "
                                         "(parquet is written to a file: give an `output` path)")
    return {"text": _text, "md": _md, "tex": _tex, "csv": _csv}[fmt](rows, columns)


def write_rows(rows: list[dict], fmt: str, path: str, columns: list[str] | None = None) -> None:
    """Write ``rows`` to ``path`` in ``fmt``; parquet through pandas (and pyarrow or fastparquet)."""
    if fmt != "parquet":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render(rows, fmt, columns) + "\n")
        return
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns or None)
    for c in frame.columns:  # lists (keys, heads) as comma text: parquet columns hold one type
        if frame[c].map(lambda v: isinstance(v, (list, tuple, dict))).any():
            frame[c] = frame[c].map(_cell)
    try:
        frame.to_parquet(path, index=False)
    except ImportError:
        raise OptionError("format", "parquet", "needs pyarrow: pip install pyarrow (or choose csv)") from None
