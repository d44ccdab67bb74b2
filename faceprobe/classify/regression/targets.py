"""Target columns and bins: numeric values read from the image table, checked before any fold runs."""

from __future__ import annotations

import numpy as np

from ...errors import OptionError

__all__ = ["target_values", "parse_bins", "bin_labels", "bin_names", "check_in_bins"]


def target_values(ds, column: str) -> np.ndarray:
    """The numeric values of ``column`` for the dataset's rows (``label``: the labels themselves).

    Raises
    ------
    OptionError
        Naming ``target``, for a column the cache does not have, or the first row whose value
        is missing or not a finite number (with its path and how many rows are so).
    """
    if column == "label":
        raw = np.asarray(ds.y).astype(str)
    elif column in ds.columns:
        raw = np.asarray(ds.columns[column]).astype(str)
    else:
        have = ", ".join(["label", *sorted(ds.columns)])
        raise OptionError("target", column, f"not a column of the cache's image table; it has: {have}")
    values = np.full(len(raw), np.nan)
    for i, text in enumerate(raw):
        try:
            values[i] = float(text)
        except ValueError:
            pass
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        first = bad[0]
        shown = "is missing" if not raw[first].strip() else f"is {str(raw[first])!r}, not a number"
        raise OptionError("target", column, f"row {ds.paths[first]}: the value {shown} ({len(bad)} of {len(raw)} rows are so); "
                                            f"fix the manifest, or leave those rows out with `where`")
    _check_scale(ds, column, values)
    return values


TARGET_SCALE = (1e-100, 1e100)
"""The magnitudes a target's values and spread must stay within: beyond 1e100 squared errors
overflow float64 (RMSE, ridge and SVR fail, an MAE prints as hundreds of digits); below 1e-100
variances underflow (no correlation, MAE 0)."""


def _check_scale(ds, column: str, values: np.ndarray) -> None:
    """Refuse a target whose scale makes every figure an artefact of floating point, before any fold runs."""
    low, high = TARGET_SCALE
    big = np.flatnonzero(np.abs(values) > high)
    if len(big):
        i = big[np.argmax(np.abs(values[big]))]
        raise OptionError("target", column, f"row {ds.paths[i]} has {values[i]:.3g}: beyond {high:.0e} squared errors overflow, so "
                                            f"no figure would mean anything ({len(big)} rows are so large); rescale the column "
                                            f"(e.g. divide it by 1e{int(np.floor(np.log10(np.abs(values[i]))))})")
    spread = float(np.ptp(values)) if len(values) else 0.0
    if 0 < spread < low:
        raise OptionError("target", column, f"its values span only {spread:.3g}: below {low:.0e} variances underflow, so no "
                                            "correlation and no error can be computed; rescale the column (e.g. multiply it by "
                                            f"1e{-int(np.floor(np.log10(spread)))})")


def parse_bins(bins) -> tuple[float, ...] | None:
    """``"0,1,3,16"`` (or a sequence of numbers) -> increasing bin edges; None stays None.

    Raises
    ------
    OptionError
        For fewer than three edges (two bins), a value that is not a number, an infinite inner edge, or edges that do
        not increase. The outer edges may be infinite (open bins).
    """
    if bins is None or (isinstance(bins, (list, tuple)) and not bins) or bins == "":
        return None
    items = [x.strip() for x in bins.split(",")] if isinstance(bins, str) else list(bins)
    shown = ",".join(str(x) for x in items)
    try:
        edges = tuple(float(x) for x in items)
    except ValueError:
        raise OptionError("bins", shown, "expected increasing numbers such as 0,1,3,16 (bin edges)") from None
    if np.isnan(edges).any() or not np.isfinite(edges[1:-1]).all():
        raise OptionError("bins", shown, "edges must be numbers, finite except the first and last (-inf,8,inf makes open bins)")
    if len(edges) < 3:
        raise OptionError("bins", shown, f"{len(edges)} edge{'s' if len(edges) != 1 else ''} make{'s' if len(edges) == 1 else ''} "
                                         "fewer than two bins; give at least three edges, such as 0,1,3,16")
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise OptionError("bins", shown, "edges must increase from left to right, such as 0,1,3,16")
    return edges


def _edge(v: float) -> str:
    return f"{v:g}"


def bin_names(edges: tuple[float, ...]) -> list[str]:
    """Class names of the bins: ``[0,1)``, ``[1,3)``, ``[3,16]`` (the last bin holds its upper edge)."""
    return [f"[{_edge(a)},{_edge(b)}{']' if i == len(edges) - 2 else ')'}" for i, (a, b) in enumerate(zip(edges, edges[1:]))]


def bin_labels(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """The bin of each value; values below the first edge fall in the first bin, above the last in the last
    (predictions may leave the range; true values are checked by :func:`check_in_bins`)."""
    idx = np.clip(np.searchsorted(np.asarray(edges[1:-1]), values, side="right"), 0, len(edges) - 2)
    return np.asarray(bin_names(edges), dtype=object)[idx].astype(str)


def check_in_bins(ds, values: np.ndarray, edges: tuple[float, ...], column: str) -> None:
    """Refuse true values outside the bins' range, naming the first such row."""
    out = np.flatnonzero((values < edges[0]) | (values > edges[-1]))
    if len(out):
        i = out[0]
        raise OptionError("bins", ",".join(_edge(e) for e in edges), f"row {ds.paths[i]} has {column}={values[i]:g}, outside "
                                                                      f"{_edge(edges[0])}..{_edge(edges[-1])} ({len(out)} rows are); "
                                                                      "widen the first or last edge")
