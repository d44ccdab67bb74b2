"""What the features encode, for the report: identity against the label (1-NN probes) and a 2-D map.

* ``identity``: leave-one-out 1-NN accuracy of *who* a face is, over the images of people with
  at least two, against its chance level (another image of the same person being the nearest
  by chance).
* ``label_other_people``: leave-one-out 1-NN label accuracy when the neighbour must be another
  person (what transfers to new people); ``label_any``: when it may be the same person. A large
  gap, with a high identity figure, is the leak risk a random split would turn into a score.
* ``actions``: for keys whose columns are named (MediaPipe's blendshapes and head pose), the
  columns that most separate each class from the rest (standardised mean difference over all
  rows: descriptive, never used by the evaluation), with their names and means, so a reader sees
  which facial actions go with each expression.
* ``map``: 2-D PCA (and t-SNE for up to ``TSNE_MAX`` rows) of the standardised vectors, with
  each point's label and subject, for the report's scatter plots.

Datasets larger than ``PROBE_MAX`` rows are probed and mapped on a seeded random sample of that
many rows (``rows`` and ``of_rows`` say so).
"""

from __future__ import annotations

import numpy as np

from ..facial_actions import NAMED_COLUMNS

__all__ = ["feature_insight", "add_insight", "face_boxes", "separating_columns", "TSNE_MAX", "PROBE_MAX", "MAPS", "ACTIONS_SHOWN"]

ACTIONS_SHOWN = 5
"""Named columns shown per class: the most separating ones."""

MAPS = ("pca", "tsne")
"""``insight`` values: a PCA map, or PCA and t-SNE (slower: about 7 s per 600 faces on 2 cores)."""

TSNE_MAX = 5000
PROBE_MAX = 5000
"""Probes and maps use at most this many rows (a seeded random sample of larger datasets)."""


def _nearest(X: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Index of each row's nearest other row (cosine on standardised vectors); with ``groups``, the
    nearest row of another group. Blocks of 1024 rows keep memory at 1024 x n."""
    Z = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    out = np.empty(len(Z), int)
    for lo in range(0, len(Z), 1024):
        sim = Z[lo:lo + 1024] @ Z.T
        sim[np.arange(len(sim)), np.arange(lo, lo + len(sim))] = -np.inf
        if groups is not None:
            sim[groups[lo:lo + 1024, None] == groups[None, :]] = -np.inf
        out[lo:lo + len(sim)] = np.argmax(sim, axis=1)
    return out


def feature_insight(ds, seed: int = 0, tsne: bool = True) -> dict:
    """Identity and label probes and 2-D maps of one dataset's vectors (rows in memory)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rows = np.arange(len(ds.y))
    if len(rows) > PROBE_MAX:  # probes and maps of a seeded random sample: bounded time and memory
        rows = np.sort(np.random.default_rng(seed).choice(rows, PROBE_MAX, replace=False))
    X = StandardScaler().fit_transform(np.asarray(ds.X[rows], dtype=np.float64))
    y, g = np.asarray(ds.y)[rows].astype(str), np.asarray(ds.groups)[rows].astype(str)
    out: dict = {"rows": int(len(y)), "of_rows": int(len(ds.y))}
    if ds.has_subjects:
        _, counts = np.unique(g, return_counts=True)
        several = np.isin(g, np.unique(g)[counts >= 2])
        if several.sum() >= 2:
            Xs, gs = X[several], g[several]
            hit = gs[_nearest(Xs)] == gs
            sizes = np.array([np.sum(gs == s) for s in gs])
            out["identity"] = {"accuracy": float(hit.mean()), "chance": float(np.mean((sizes - 1) / (len(gs) - 1))),
                               "rows": int(several.sum()), "subjects": int(len(np.unique(gs)))}
        if len(np.unique(g)) > 1:
            out["label_other_people"] = float((y[_nearest(X, g)] == y).mean())
    out["label_any"] = float((y[_nearest(X)] == y).mean())
    _, class_counts = np.unique(y, return_counts=True)
    out["label_chance"] = float(((class_counts / len(y)) ** 2).sum())
    coords = {"pca": PCA(n_components=2, random_state=seed).fit_transform(X)}
    if tsne and 10 < len(X) <= TSNE_MAX:
        from sklearn.manifold import TSNE

        reduced = PCA(n_components=min(50, X.shape[1], len(X) - 1), random_state=seed).fit_transform(X)
        coords["tsne"] = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, (len(X) - 1) / 3),
                              max_iter=500).fit_transform(reduced)
    out["map"] = {name: np.round(c, 3).tolist() for name, c in coords.items()}
    out["labels"], out["subjects"] = y.tolist(), g.tolist()
    names = NAMED_COLUMNS.get(ds.spec.get("backbone", ""))
    if names is not None and len(names) == ds.X.shape[1]:
        out["actions"] = separating_columns(np.asarray(ds.X[rows], dtype=np.float64), y, names)
    return out


def separating_columns(X: np.ndarray, y: np.ndarray, names, most: int = ACTIONS_SHOWN) -> dict:
    """Per class, the ``most`` columns whose class mean differs most from the other rows' mean,
    in pooled standard deviations (Cohen's d), as ``[name, d, class mean, rest mean]`` rows."""
    out = {}
    for c in sorted(set(y)):
        inside, rest = X[y == c], X[y != c]
        if len(inside) < 2 or len(rest) < 2:
            continue
        pooled = np.sqrt(((len(inside) - 1) * inside.var(0, ddof=1) + (len(rest) - 1) * rest.var(0, ddof=1))
                         / (len(inside) + len(rest) - 2))
        d = (inside.mean(0) - rest.mean(0)) / np.maximum(pooled, 1e-12)
        top = np.argsort(-np.abs(d), kind="stable")[:most]
        out[c] = [[names[j], round(float(d[j]), 3), round(float(inside[:, j].mean()), 4), round(float(rest[:, j].mean()), 4)]
                  for j in top]
    return out


def face_boxes(cache: str, ds) -> dict:
    """Path -> face box ``[x, y, w, h]`` (decoded-image pixels) of the dataset's rows whose key
    cropped a face; empty for arrays, fusions and uncropped keys. Thumbnails are cut to them."""
    if not cache or "fusion" in ds.spec or "backbone" not in ds.spec:
        return {}
    from ..cache.store import read_features

    fm = read_features(cache, ds.key, vectors=False)
    box = {str(s): b for s, b in zip(fm.sha256, np.asarray(fm.box)) if b[0] >= 0}
    return {str(p): [int(v) for v in box[str(s)]] for p, s in zip(ds.paths, ds.sha256) if str(s) in box}


def add_insight(res: dict, datasets: list, mode: str, seed: int, cache: str = "") -> None:
    """``res["insight"][key]`` for each dataset whose rows are in memory (a note for the others),
    with the face boxes thumbnails are cut to."""
    out = {}
    for d in datasets:
        if not isinstance(d.X, np.ndarray):
            res["notes"].append(f"{d.key}: no feature map or probes (its rows stay on disk; raise `max_memory`)")
            continue
        out[d.key] = {**feature_insight(d, seed, tsne=mode == "tsne"), "boxes": face_boxes(cache, d)}
    res["insight"] = out
