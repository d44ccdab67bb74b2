"""Read the list of labelled images to featurize: a folder of class folders or a CSV manifest."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FaceprobeError

__all__ = ["IMAGE_SUFFIXES", "ImageEntry", "SourceTable", "read_source"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class ImageEntry:
    """One labelled image as listed by the source.

    Attributes
    ----------
    path : str
        Absolute, normalised path of the image file.
    label : str
        Class label, stripped and lower-cased.
    subject : str
        Person the image shows; empty when unknown.
    """

    path: str
    label: str
    subject: str = ""


@dataclass
class SourceTable:
    """Images read from a source, plus what was left out and why.

    Attributes
    ----------
    entries : list of ImageEntry
        Unique images in source order.
    conflicts : list of (path, labels)
        Paths listed more than once with different labels; left out.
    repeats : int
        Paths listed more than once with the same label; counted once.
    """

    entries: list[ImageEntry] = field(default_factory=list)
    conflicts: list[tuple[str, list[str]]] = field(default_factory=list)
    repeats: int = 0


def _clean_label(label: str) -> str:
    return " ".join(label.split()).lower()


def _deduplicate(rows: list[ImageEntry]) -> SourceTable:
    by_path: dict[str, list[ImageEntry]] = {}
    for row in rows:
        by_path.setdefault(row.path, []).append(row)
    table = SourceTable()
    for path, group in by_path.items():
        labels = sorted({r.label for r in group})
        if len(labels) > 1:
            table.conflicts.append((path, labels))
            continue
        table.repeats += len(group) - 1
        subjects = [r.subject for r in group if r.subject]
        table.entries.append(ImageEntry(path, group[0].label, subjects[0] if subjects else ""))
    return table


def _read_folder(root: Path, labelled: bool = True) -> list[ImageEntry]:
    rows = []
    tops = sorted(p for p in root.iterdir() if p.is_dir()) if labelled else [root]
    for class_dir in tops:
        label = _clean_label(class_dir.name) if labelled else ""
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames.sort()
            # a directory named like an image is listed so that it is reported, not silently ignored
            names = filenames + [d for d in dirnames if Path(d).suffix.lower() in IMAGE_SUFFIXES]
            for name in sorted(names):
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    rows.append(ImageEntry(os.path.abspath(os.path.join(dirpath, name)), label))
    if not rows:
        raise FaceprobeError(
            f"{root}: no images found; expected one sub-folder per class holding "
            f"{', '.join(sorted(IMAGE_SUFFIXES))} files"
        )
    return rows


def _read_manifest(
    manifest: Path, root: Path | None, path_col: str, label_col: str, subject_col: str, labelled: bool = True
) -> list[ImageEntry]:
    base = root if root is not None else manifest.parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            needed = ((path_col, "--path-col"), (label_col, "--label-col")) if labelled else ((path_col, "--path-col"),)
            for col, option in needed:
                if col not in header:
                    raise FaceprobeError(
                        f"{manifest}: no column {col!r} (set {option}); columns are: {', '.join(header) or 'none'}"
                    )
            has_subject = subject_col in header
            rows = []
            for line_no, rec in enumerate(reader, start=2):
                raw_path = (rec.get(path_col) or "").strip()
                label = _clean_label(rec.get(label_col) or "")
                if not raw_path or (labelled and not label):
                    raise FaceprobeError(f"{manifest}, line {line_no}: empty {path_col!r} or {label_col!r}")
                subject = (rec.get(subject_col) or "").strip() if has_subject else ""
                full = os.path.abspath(os.path.join(base, raw_path))
                rows.append(ImageEntry(full, label, subject))
    except UnicodeDecodeError as exc:
        raise FaceprobeError(f"{manifest}: not a UTF-8 CSV file ({exc.reason})") from None
    except csv.Error as exc:
        raise FaceprobeError(f"{manifest}: malformed CSV ({exc})") from None
    if not rows:
        raise FaceprobeError(f"{manifest}: the manifest lists no images")
    return rows


def read_source(
    source: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    path_col: str = "path",
    label_col: str = "label",
    subject_col: str = "subject",
    labelled: bool = True,
) -> SourceTable:
    """Read the labelled images of a folder or a CSV manifest.

    Parameters
    ----------
    source : path
        A folder with one sub-folder per class (label = folder name, searched recursively),
        or a CSV file with columns for path, label and (optionally) subject.
    root : path or None, default=None
        Folder that relative manifest paths start from; default: the manifest's folder.
    path_col, label_col, subject_col : str
        Manifest column names.
    labelled : bool, default=True
        False for images to predict: a folder is searched as a whole (no class folders) and
        a manifest needs no label column.

    Returns
    -------
    SourceTable
        Unique entries; a path listed twice with one label counts once, with different
        labels it is left out and reported in ``conflicts``.
    """
    src = Path(source)
    if not src.exists():
        raise FaceprobeError(f"{src}: no such file or folder")
    if src.is_dir():
        if root is not None:
            raise FaceprobeError("--root applies to a CSV manifest, not to a folder SOURCE")
        rows = _read_folder(src, labelled)
    else:
        if root is not None and not Path(root).is_dir():
            raise FaceprobeError(f"--root {root}: not a folder")
        rows = _read_manifest(src, Path(root) if root is not None else None, path_col, label_col, subject_col, labelled)
    return _deduplicate(rows)
