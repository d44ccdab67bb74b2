"""Load a labelled feature matrix from the cache, without torch: X, y, subjects, views."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...cache.join import KeyJoin, join_key
from ...cache.reader import CacheReader
from ...errors import FaceprobeError, OptionError
from .columns import apply_where, image_columns
from .diskrows import DiskMatrix, MemoryChoice, choose_memory

__all__ = ["Dataset", "load_dataset", "parse_class_map", "select_rows"]


@dataclass(frozen=True)
class Dataset:
    """Rows to evaluate, one per distinct image (immutable: a changed dataset is a new one, ``dataclasses.replace``).

    Attributes
    ----------
    key : str
        Feature key of ``X``.
    X : ndarray of float32, shape (n, d), or DiskMatrix
        A :class:`~faceprobe.classify.data.diskrows.DiskMatrix` when the rows stay on disk.
    y : ndarray of str, shape (n,)
    groups : ndarray of str, shape (n,)
        Subject of each row ("" when unknown).
    sha256, paths : ndarray of str, shape (n,)
    views : dict of str -> ndarray of float32, shape (n, d), or DiskMatrix
        Augmented views aligned with the rows (NaN, or disk row -1, where a view is missing);
        training folds only.
    spec : dict
        The feature key's spec (provenance).
    notes : list of str
        What was dropped or merged, for the report.
    memory : MemoryChoice or None
        Why ``X`` is in memory or on disk.
    columns : dict of str -> ndarray of str
        ``subject`` and the extra columns the source gave (``view``, ``sequence``, ``Usage``),
        aligned with the rows ("" where a row lacks one).
    fixed : FixedRows or None
        A fixed split's parts (set by the run; :mod:`faceprobe.classify.protocols.fixed`).
    """

    key: str
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    sha256: np.ndarray
    paths: np.ndarray
    spec: dict
    views: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    memory: MemoryChoice | None = None
    columns: dict = field(default_factory=dict)
    fixed: object = None

    @property
    def has_subjects(self) -> bool:
        return bool(len(self.groups)) and all(g for g in self.groups)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.y))

    def subset(self, idx: np.ndarray) -> "Dataset":
        """The rows ``idx`` (in that order), with their views; notes and plan carried over."""
        def take(m):
            return DiskMatrix(m.cache, m.key, m.rows[idx], m.dim, m.block_rows) if isinstance(m, DiskMatrix) else m[idx]

        return Dataset(self.key, take(self.X), self.y[idx], self.groups[idx], self.sha256[idx], self.paths[idx], self.spec,
                       {v: take(m) for v, m in self.views.items()}, list(self.notes), self.memory,
                       {c: v[idx] for c, v in self.columns.items()})

    def on_contents(self, rows: list, holder: dict) -> "Dataset":
        """This dataset over the contents (sha256) ``rows`` in that order (a study's one row order
        for every key); contents it lacks (``missing=impute``) take their labels and columns from
        the dataset and row ``holder`` names for them, and NaN vectors."""
        at = {s: i for i, s in enumerate(self.sha256)}
        if all(s in at for s in rows):
            return self.subset(np.asarray([at[s] for s in rows], dtype=np.int64))
        if not isinstance(self.X, np.ndarray):
            raise OptionError("missing", "impute", "needs the keys' matrices in memory; raise `max_memory`")
        src = [holder[s] for s in rows]
        X = np.full((len(rows), self.X.shape[1]), np.nan, dtype=np.float32)
        own = [j for j, s in enumerate(rows) if s in at]
        X[own] = self.X[[at[rows[j]] for j in own]]

        def pick(attr):
            return np.asarray([getattr(o, attr)[i] for o, i in src])

        columns = {c: np.asarray([o.columns.get(c, np.full(len(o.y), ""))[i] for o, i in src]) for c in self.columns}
        return Dataset(self.key, X, pick("y"), pick("groups"), np.asarray(rows), pick("paths"), {**self.spec, "imputed": len(rows) - len(own)},
                       {}, list(self.notes), self.memory, columns)


def parse_class_map(specs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["pain=pain,grimace", "nopain=neutral"]`` -> {"pain": "pain", "grimace": "pain", "neutral": "nopain"}.

    A bare name (``happiness``) keeps that class; ``rest=*`` puts every other label into
    ``rest`` (one-vs-rest). A comma inside a label is written ``\\,`` (``pain=mild\\, brief``).
    """
    mapping: dict[str, str] = {}
    for spec in specs:
        target, eq, sources = spec.partition("=")
        target = target.strip().lower()
        if not target:
            raise OptionError("classes", spec, "expected NEW=old1,old2 or a label")
        for src in (re.split(r"(?<!\\),", sources) if eq else [target]):
            src = src.replace("\\,", ",").strip().lower()
            if not src:
                continue
            if src in mapping and mapping[src] != target:
                raise OptionError("classes", spec, f"label {src!r} mapped to both {mapping[src]!r} and {target!r}")
            mapping[src] = target
    return mapping


def _apply_classes(y: np.ndarray, mapping: dict[str, str], notes: list) -> np.ndarray:
    if not mapping:
        return y
    known = set(y)
    unknown = sorted(s for s in mapping if s != "*" and s not in known)
    if unknown:
        hint = "; write a comma inside a label as \\," if any("," in k for k in known) else ""
        raise OptionError("classes", ",".join(unknown), f"unknown label(s); the cache has: {', '.join(sorted(known))}{hint}")
    rest = mapping.get("*")
    out = np.array([mapping.get(lab, rest if rest else "") for lab in y], dtype=object)
    dropped = int(np.sum(out == ""))
    if dropped:
        notes.append(f"`classes` left out {dropped} rows of other labels")
    return out


def load_dataset(cache: str, key: str | None = None, *, classes: dict[str, str] | None = None,
                 min_count: int = 0, with_views: bool = False, max_memory: int | None = None, jobs: int = 1,
                 where: list | None = None, regression: bool = False) -> Dataset:
    """Join the image table with one feature key.

    Parameters
    ----------
    cache : str
    key : str or None
        Feature key or its backbone prefix (``efficientnet_lite0``); None when the cache holds one.
    classes : dict, optional
        Label mapping from :func:`parse_class_map`; unmapped labels are left out.
    min_count : int, default=0
        Leave out classes with fewer rows (noted in ``notes``).
    with_views : bool, default=False
        Also load the augmented views of the key (same backbone, weights, crop).
    max_memory : int or None
        Memory budget in bytes (None: half the available memory). When evaluating in memory
        would need more (see :func:`~faceprobe.classify.data.diskrows.choose_memory`), ``X`` and the
        views stay on disk and are read in blocks.
    jobs : int, default=1
        Parallel folds planned (each holds copies in memory).
    where : list of Where, optional
        Row filters on the image table's columns (:func:`~faceprobe.classify.data.columns.parse_where`),
        applied before classes are counted.
    regression : bool, default=False
        Rows are for a continuous target: images without a label are kept, and one class is enough.

    Returns
    -------
    Dataset
        One row per distinct image content, sorted by path (deterministic); images listed
        under several paths appear once, so no copy of a test image can sit in training.
    """
    with CacheReader(cache) as reader:  # one open of the cache for the whole load
        joined = join_key(reader, key, views=with_views, labelled=not regression)
        plan = choose_memory(len(joined.fm.sha256), joined.fm.dim, views=len(joined.views), jobs=jobs, budget=max_memory)
        if with_views and not joined.views:
            raise OptionError("augmented", True, f"the cache holds no augmented views for {joined.key}; featurize with `augment=hflip,...`")
        img_idx, rows, y, columns, notes = _chosen(cache, joined, where=where, classes=classes, min_count=min_count, regression=regression)
        return _read_rows(reader, joined, rows, plan, Dataset(
            key=joined.key, X=None, y=y.astype(str), groups=np.asarray(joined.images["subject"][img_idx]).astype(str),
            sha256=np.asarray(joined.fm.sha256[rows]).astype(str), paths=np.asarray(joined.images["path"][img_idx]).astype(str),
            spec=joined.fm.spec, notes=notes, memory=plan, columns=columns))


def _chosen(cache: str, joined: KeyJoin, *, where, classes, min_count, regression: bool) -> tuple:
    """The rows of the joined key that the labels, ``where``, ``classes`` and ``min_count`` keep:
    image-table index, feature row, label, columns and the notes of what was left out."""
    notes: list[str] = []
    images, img_idx, rows = joined.images, joined.img_idx, joined.rows
    conflicted = _conflicting_contents(images, notes)
    if conflicted:
        ok = ~np.isin(np.asarray(images["sha256"][img_idx]).astype(str), list(conflicted))
        img_idx, rows = img_idx[ok], rows[ok]
    _note_unused(images, joined.fm.sha256, joined.finite, joined.key, notes, joined.no_face)
    columns = image_columns(images, img_idx)
    if where:
        kept = apply_where(columns, where, notes)
        img_idx, rows, columns = img_idx[kept], rows[kept], {c: v[kept] for c, v in columns.items()}
    if not len(img_idx):
        raise FaceprobeError(f"{cache}: feature key {joined.key} has no usable rows" + (" after `where`" if where else ""))
    y = _apply_classes(np.asarray(images["label"][img_idx], dtype=object), classes or {}, notes)
    keep = _classes_kept(y, min_count, notes, regression)  # a target needs no label
    return img_idx[keep], rows[keep], y[keep], {c: v[keep] for c, v in columns.items()}, notes


def _read_rows(reader: CacheReader, joined: KeyJoin, rows: np.ndarray, plan: MemoryChoice, ds: Dataset) -> Dataset:
    """``ds`` with its vectors and views: read now at the chosen rows (in memory, in spans, so the
    matrix is never held whole next to the dataset's copy of it), or left on disk (``plan``)."""
    cache, n, dim = reader.path, len(joined.fm.sha256), joined.fm.dim
    if plan.in_memory:
        X = reader.vectors_at(joined.key, rows)
    else:
        X = DiskMatrix(cache, joined.key, rows, dim, plan.block_rows)
        ds.notes.append(f"features read from disk in blocks of {plan.block_rows} rows: {plan.describe(n, dim)}")
    views = {}
    for vm in joined.views:  # each view aligned with the rows: NaN, or disk row -1, where it is missing
        row_of = {s: i for i, s in enumerate(vm.sha256)}
        disk = np.array([row_of.get(s, -1) for s in ds.sha256], dtype=np.int64)
        if plan.in_memory:
            m = np.full((len(disk), vm.dim), np.nan, dtype=np.float32)
            m[disk >= 0] = reader.vectors_at(vm.key, disk[disk >= 0])
        else:
            m = DiskMatrix(cache, vm.key, disk, vm.dim, plan.block_rows)
        views[vm.spec["view"]] = m
    return Dataset(**{**ds.__dict__, "X": X, "views": views})


def _conflicting_contents(images: dict, notes: list) -> set[str]:
    """Contents (sha256) listed under several paths with different labels: left out, with a note."""
    labels: dict[str, set] = {}
    for s, lab, st in zip(images["sha256"], images["label"], images["status"]):
        if st == "ok" and lab:
            labels.setdefault(str(s), set()).add(str(lab))
    conflicted = {s for s, labs in labels.items() if len(labs) > 1}
    if conflicted:
        paths = sum(1 for s in images["sha256"] if str(s) in conflicted)
        notes.append(f"left out {len(conflicted)} images whose identical bytes are listed under {paths} paths with different "
                     "labels (fix the labels to use them)")
    return conflicted


def _note_unused(images: dict, key_sha256, finite: np.ndarray, key: str, notes: list, no_face: str = "") -> None:
    """Say how many labelled images the key cannot serve: never featurized under it, or no usable vector."""
    rows = {str(s): i for i, s in enumerate(key_sha256)}
    labelled = {str(s) for s, lab, st in zip(images["sha256"], images["label"], images["status"]) if st == "ok" and lab}
    missing = sum(1 for s in labelled if s not in rows)
    unusable = sum(1 for s in labelled if s in rows and not finite[rows[s]])
    if missing:
        notes.append(f"left out {missing} labelled images that have no vector under {key} (featurize them with its backbone and settings)")
    if unusable:
        why = f"{no_face}, the row kept without a vector" if no_face else "non-finite values"
        notes.append(f"left out {unusable} images without a usable vector under {key} ({why})")


def _keep_classes(y: np.ndarray, min_count: int, notes: list) -> np.ndarray:
    """Rows of mapped classes with at least ``min_count`` rows (what is left out goes to ``notes``)."""
    keep = y != ""
    counts = Counter(y[keep])
    if min_count:
        small = sorted(c for c, n in counts.items() if n < min_count)
        if small:
            notes.append("left out classes with fewer than %d rows: %s" % (min_count, ", ".join(f"{c} ({counts[c]})" for c in small)))
            keep &= ~np.isin(y, small)
    return keep


def _classes_kept(y: np.ndarray, min_count: int, notes: list, regression: bool) -> np.ndarray:
    """Rows whose class ``min_count`` keeps (every row for a regression target), refusing fewer than
    two classes: naming ``min_count`` with the largest value that keeps two, where it is the cause."""
    if regression:
        return np.ones(len(y), dtype=bool)
    keep = _keep_classes(y, min_count, notes)
    left = sorted(set(y[keep]))
    if len(left) >= 2:
        return keep
    counts = sorted(Counter(y[y != ""]).values(), reverse=True)
    if min_count and len(counts) >= 2 and counts[1] < min_count:
        what = f"one class ({left[0]})" if left else "no class"
        raise OptionError("min_count", min_count, f"leaves {what}, and at least two classes are needed to classify; the two "
                          f"largest have {counts[0]} and {counts[1]} rows: give at most {counts[1]}")
    raise FaceprobeError(f"need at least two classes to classify, got: {', '.join(left) or 'none'}")


def select_rows(ds: Dataset, *, where=(), classes: dict | None = None, min_count: int = 0, regression: bool = False) -> Dataset:
    """The rows of a dataset made elsewhere (arrays, a :class:`~faceprobe.Features` object) that
    ``where``, ``classes`` and ``min_count`` keep, as a cache's rows are chosen when loaded.

    Raises
    ------
    FaceprobeError
        When no row, or fewer than two classes, are left.
    """
    notes = list(ds.notes)
    keep = np.ones(len(ds.y), dtype=bool)
    if where:
        keep &= apply_where({"subject": ds.groups, **ds.columns}, list(where), notes)
        if not keep.any():
            raise FaceprobeError(f"{ds.key}: no rows left after `where`")
    y = _apply_classes(np.asarray(ds.y, dtype=object), classes or {}, notes) if not regression else np.asarray(ds.y, dtype=object)
    if not regression:
        y = np.where(keep, y, "")
        keep &= _classes_kept(y, min_count, notes, False)
    if keep.all() and not classes:
        return ds if notes == ds.notes else Dataset(**{**ds.__dict__, "notes": notes})
    out = ds.subset(np.flatnonzero(keep))
    return Dataset(**{**out.__dict__, "y": y[keep].astype(str), "notes": notes})
