"""Faces and features to look at, in the HTML report: the most confidently wrong test faces per
confused class pair (small embedded thumbnails of local image files), each person's accuracy,
and what the vectors encode (identity and label 1-NN probes, 2-D maps coloured by label and by
subject). ``faces=False`` leaves the thumbnails out of a report that will be shared."""

from __future__ import annotations

import base64
import html
import io
import os

import numpy as np

__all__ = ["insight_sections", "insight_markdown", "wrong_faces", "thumbnail", "THUMB", "PAIRS", "PER_PAIR"]

THUMB = 72
"""Thumbnail side in pixels (JPEG, about 2-3 kB each)."""
PAIRS, PER_PAIR = 3, 4
"""The most frequent confused pairs per head, and the most confidently wrong faces shown per pair."""


def thumbnail(path: str, box: list | None = None) -> str | None:
    """A small JPEG of a local image file as a data URI, cut to the face ``box`` (``x, y, w, h`` in
    decoded pixels, widened by a fifth) when given; None for anything that is not a readable local file."""
    if not os.path.isfile(path):
        return None
    try:
        from PIL import Image, ImageOps

        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            if box:
                x, y, w, h = box
                pad = int(0.2 * max(w, h))
                img = img.crop((max(0, x - pad), max(0, y - pad), min(img.width, x + w + pad), min(img.height, y + h + pad)))
            img.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=70)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _missing_words(paths: list[str]) -> str:
    """Why faces are not shown: files no longer there, unreadable, or rows that are not files
    (a FER-2013 row, a video frame)."""
    if not paths:
        return ""
    frames = [p for p in paths if "#" in os.path.basename(p)]
    gone = [p for p in paths if p not in frames and not os.path.exists(p)]
    other = len(paths) - len(frames) - len(gone)
    words = [f"{len(gone)} no longer at their path (moved or deleted since the run, e.g. {os.path.basename(gone[0])})" if gone else "",
             f"{len(frames)} rows of a CSV or video, not image files" if frames else "",
             f"{other} unreadable as images" if other else ""]
    return " (not shown: " + "; ".join(w for w in words if w) + ")"


def wrong_faces(folds: list[dict], classes: list[str]) -> list[tuple[str, str, int, list[tuple[str, float]]]]:
    """Per confused pair (true, predicted), most frequent first: its count and the test paths with
    the largest score margin of the predicted over the true class (most confidently wrong first)."""
    pairs: dict[tuple[str, str], list[tuple[str, float]]] = {}
    index = {c: i for i, c in enumerate(classes)}
    for f in folds:
        for path, t, p, s in zip(f.get("test_paths", []), f.get("y_true", []), f.get("y_pred", []), f.get("scores", [])):
            if t != p and t in index and p in index:
                pairs.setdefault((t, p), []).append((path, float(s[index[p]] - s[index[t]])))
    ranked = sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:PAIRS]
    return [(t, p, len(v), sorted(v, key=lambda x: -x[1])[:PER_PAIR]) for (t, p), v in ranked]


def _map_png(coords, colour_by: list[str], title: str, method: str = "", most: int = 10) -> bytes:
    """A 2-D map of the vectors coloured by ``colour_by``; the frame holds the central 98 % of the
    points on each axis (a few outliers would squash the rest into a corner), the rest are counted."""
    from .plots import figure_canvas, png_bytes

    xy = np.asarray(coords, float)
    values = np.asarray(colour_by)
    names, counts = np.unique(values, return_counts=True)
    shown = list(names[np.argsort(-counts, kind="stable")][:most])
    fig, ax = figure_canvas((4.8, 4.2))
    rest = ~np.isin(values, shown)
    if rest.any():
        ax.scatter(xy[rest, 0], xy[rest, 1], s=5, color="lightgrey", label=f"others ({len(names) - len(shown)})")
    for name in shown:
        m = values == name
        ax.scatter(xy[m, 0], xy[m, 1], s=7, label=str(name)[:18])
    outside = _frame(ax, xy)
    ax.set_title(title + (f" ({outside} points beyond the frame)" if outside else ""), fontsize=9)
    axis = {"pca": "PC", "tsne": "t-SNE"}.get(method, method or "axis")
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, markerscale=1.5, loc="best")
    return png_bytes(fig)


def _frame(ax, xy: np.ndarray) -> int:
    """Limit the axes to the 1st-99th percentiles (padded); how many points fall outside."""
    if len(xy) < 20:
        return 0
    lo, hi = np.percentile(xy, 1, axis=0), np.percentile(xy, 99, axis=0)
    pad = (hi - lo) * 0.08 + 1e-12
    lo, hi = lo - pad, hi + pad
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    return int(((xy < lo) | (xy > hi)).any(axis=1).sum())


MIN_FACES_SHOWN = 3
"""People with fewer test faces are left out of the per-person chart when others have more: one
wrong face is 0 %, and the worst-first chart would be a row of such zeros."""


def _accuracy_png(per_subject: dict, title: str, most: int = 40) -> bytes:
    """The people the head got most wrong among those with at least :data:`MIN_FACES_SHOWN` test
    faces, as bars in %; each bar's value is written on it, so people who all scored 0 read as that."""
    from .plots import figure_canvas, png_bytes

    enough = {k: v for k, v in per_subject.items() if v["n"] >= MIN_FACES_SHOWN}
    if enough and len(enough) < len(per_subject):
        title += f"; people with {MIN_FACES_SHOWN}+ test faces ({len(enough)} of {len(per_subject)})"
    items = sorted((enough or per_subject).items(), key=lambda kv: (kv[1]["accuracy"], -kv[1]["n"]))[:most]
    fig, ax = figure_canvas((max(4.0, 0.22 * len(items) + 1.5), 3.4))
    x = np.arange(len(items))
    values = [100 * v["accuracy"] for _, v in items]
    ax.bar(x, values, color="tab:green")
    for xi, v in zip(x, values):
        ax.text(xi, v + 2, f"{v:.0f}", ha="center", va="bottom", fontsize=5, rotation=90)
    ax.set_xticks(x, [f"{str(k)[:20]} ({v['n']})" for k, v in items], rotation=90, fontsize=6)
    ax.set_ylim(0, 112)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title + (" (all shown scored 0 %)" if values and max(values) == 0 else ""), fontsize=9)
    return png_bytes(fig)


def probe_words(ins: dict) -> str:
    """The probes in one sentence."""
    parts = []
    if "identity" in ins:
        i = ins["identity"]
        parts.append(f"who: a 1-NN probe names the person of {100 * i['accuracy']:.1f} % of {i['rows']} faces of {i['subjects']} "
                     f"people with several images (chance {100 * i['chance']:.1f} %)")
    label = f"what: 1-NN label accuracy {100 * ins['label_any']:.1f} % with any neighbour"
    if "label_other_people" in ins:
        label += f", {100 * ins['label_other_people']:.1f} % when the neighbour must be another person"
    parts.append(label + f" (chance {100 * ins['label_chance']:.1f} %)")
    sample = f" (on a random {ins['rows']} of {ins['of_rows']} faces)" if ins.get("of_rows", ins["rows"]) > ins["rows"] else ""
    return "; ".join(parts) + sample


def _img(png_or_uri, alt: str) -> str:
    src = png_or_uri if isinstance(png_or_uri, str) else "data:image/png;base64," + base64.b64encode(png_or_uri).decode()
    return f'<img alt="{html.escape(alt)}" src="{src}">'


def _faces_html(view: dict, heads: list[str], faces: bool, boxes: dict) -> list[str]:
    parts = []
    for h in heads:
        r = view["heads"][h]
        if "error" in r:
            continue
        if r.get("per_subject"):
            parts.append(_img(_accuracy_png(r["per_subject"], f"{h}: accuracy per person (worst first; n test faces)"),
                              f"{h} per-person accuracy"))
        if not faces:
            continue
        rows = []
        for t, p, n, worst in wrong_faces(r.get("folds", []), view["classes"]):
            thumbs = [(path, thumbnail(path, boxes.get(path)), margin) for path, margin in worst]
            cells = "".join(f"<figure class='face'>{_img(uri, os.path.basename(path))}<figcaption>{margin:.2f}</figcaption></figure>"
                            for path, uri, margin in thumbs if uri)
            note = _missing_words([path for path, uri, _ in thumbs if not uri])
            rows.append(f"<div class='pair'><p>{html.escape(t)} taken for {html.escape(p)}: {n} test faces{note}</p>{cells}</div>")
        if rows:
            parts.append(f"<h3>{html.escape(h)}: most confidently wrong faces (score margin of the wrong class)</h3>" + "".join(rows))
    return parts


def insight_sections(res: dict) -> list[str]:
    """HTML: per key, the probes and maps; per head, per-person accuracy and the wrong faces."""
    from ..classify.records import layout_view

    faces = res.get("provenance", {}).get("faces", True)
    parts = []
    for key, ins in (res.get("insight") or {}).items():
        parts.append(f"<h3>{html.escape(key)}: what the vectors encode</h3><p class='probes'>{html.escape(probe_words(ins))}</p>")
        maps = []
        for name, coords in ins["map"].items():
            maps.append(_img(_map_png(coords, ins["labels"], f"{name.upper()}: by label", name), f"{name} map by label"))
            maps.append(_img(_map_png(coords, ins["subjects"], f"{name.upper()}: by subject (10 largest)", name), f"{name} map by subject"))
        parts.append("<div class='plots'>" + "".join(maps) + "</div>")
        parts += _actions_html(ins.get("actions"))
    if res.get("task") != "regression":
        view = layout_view(res)
        per_key = view.get("per_key") or {view.get("provenance", {}).get("key", ""): view}
        for key, kv in per_key.items():
            boxes = (res.get("insight") or {}).get(key, {}).get("boxes", {})
            got = _faces_html({**kv, "classes": view["classes"]}, list(kv["heads"]), faces, boxes)
            if got:
                parts.append(f"<h3>{html.escape(str(key))}: people and faces</h3>")
                parts += got
    if not parts:
        return []
    return ["<h2>Faces and features</h2>" + ("" if faces else "<p>Face thumbnails left out (asked for a report without faces).</p>")] + parts


def _actions_html(actions: dict | None) -> list[str]:
    """The named columns (blendshapes) that most separate each class, as one table."""
    if not actions:
        return []
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>" + "; ".join(
        f"{html.escape(n)} {'+' if d > 0 else ''}{d:.2f} ({m:.3g} vs {r:.3g})" for n, d, m, r in cols) + "</td></tr>"
        for c, cols in actions.items())
    return ["<p>Facial actions that most separate each class from the others (Cohen's d of the class mean against the "
            "other rows' mean, over all rows; descriptive, not used by the evaluation; in brackets the two means):</p>"
            f"<table><tr><th>class</th><th>actions</th></tr>{rows}</table>"]


def insight_markdown(res: dict) -> list[str]:
    """Markdown: the probes per key, and the facial actions of each class where the columns are named (no images)."""
    out = []
    for key, ins in (res.get("insight") or {}).items():
        out += [f"- {key}: {probe_words(ins)}"]
        for c, cols in (ins.get("actions") or {}).items():
            out += [f"  - {c}: " + "; ".join(f"{n} {d:+.2f}" for n, d, _, _ in cols)]
    return (["## Faces and features", ""] + out + [""]) if out else []
