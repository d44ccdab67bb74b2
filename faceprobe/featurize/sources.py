"""Read the images to featurize: source readers (a registry) turn a source into image references.

An :class:`ImageRef` is everything below ``read_source`` needs of an image: an id, its label,
subject and extra columns, a content fingerprint and ``open()``. The built-in readers list
files (a folder of class folders, a CSV manifest, a list of files); a new input format (a CSV
of pixel strings, frames of a video) is one ``SOURCE_READERS.register(name, Reader(...))`` whose
references fingerprint and open themselves.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import FaceprobeError, OptionError
from ..registry import Registry

__all__ = ["IMAGE_SUFFIXES", "ImageRef", "ImageEntry", "SourceTable", "SourceOptions", "Reader", "SOURCE_READERS", "read_source"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class ImageRef:
    """One image as a source lists it.

    Attributes
    ----------
    id : str
        Unique within the source; for files, the absolute, normalised path (the cache's
        ``path`` column).
    label : str
        Class label, stripped and lower-cased ("" when unlabelled).
    subject : str
        Person the image shows; empty when unknown.
    extra : dict
        Other columns the source gave (manifest columns beyond path, label and subject).
    """

    id: str
    label: str = ""
    subject: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def path(self) -> str:
        """The id: the image table's ``path`` column."""
        return self.id

    @property
    def file(self) -> str | None:
        """The file holding the image's bytes as they are (what device decoding may read), or None."""
        return self.id

    def fingerprint(self, known: dict | None = None):
        """Content sha256 with the stat it was taken at (:class:`~.hashing.FileHash`); stored hashes of
        an unchanged file (same size and mtime in ``known``) are reused."""
        from .hashing import hash_file

        return hash_file(self.id, known or {})

    def open(self, draft_size: tuple[int, int] | None = None):
        """The image as 8-bit grey (``L``) or ``RGB`` (:class:`~faceprobe.errors.BadImage` when unusable)."""
        from .decode import decode_image

        return decode_image(self.id, draft_size=draft_size)


ImageEntry = ImageRef
"""The former name of :class:`ImageRef`."""


@dataclass
class SourceTable:
    """Images read from a source, plus what was left out and why.

    Attributes
    ----------
    entries : list of ImageRef
        Unique images in source order.
    conflicts : list of (path, labels)
        Paths listed more than once with different labels; left out.
    repeats : int
        Paths listed more than once with the same label; counted once.
    reader : str
        The reader that read it.
    """

    entries: list[ImageRef] = field(default_factory=list)
    conflicts: list[tuple[str, list[str]]] = field(default_factory=list)
    repeats: int = 0
    reader: str = ""


@dataclass(frozen=True)
class SourceOptions:
    """What a reader may need besides the source: see :func:`read_source`."""

    root: str | None = None
    path_col: str = "path"
    label_col: str = "label"
    subject_col: str = "subject"
    labelled: bool = True


@dataclass(frozen=True)
class Reader:
    """A source reader.

    Attributes
    ----------
    detect : callable (source) -> bool
        Whether this reader reads ``source`` (a path, or a list for the ``files`` reader).
    read : callable (source, SourceOptions) -> list of ImageRef
        Every listed image, in source order (duplicates are resolved afterwards).
    priority : int
        Readers are asked in decreasing priority (a CSV of pixel strings before a manifest).
    description : str
    """

    detect: Callable[[object], bool]
    read: Callable[[object, SourceOptions], list]
    priority: int = 0
    description: str = ""


SOURCE_READERS: Registry[Reader] = Registry("source reader", "reader")


def _clean_label(label: str) -> str:
    return " ".join(label.split()).lower()


def _deduplicate(rows: list[ImageRef]) -> SourceTable:
    by_path: dict[str, list[ImageRef]] = {}
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
        table.entries.append(ImageRef(path, group[0].label, subjects[0] if subjects else "", group[0].extra))
    return table


def _read_folder(root: Path, labelled: bool = True) -> list[ImageRef]:
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
                    rows.append(ImageRef(os.path.abspath(os.path.join(dirpath, name)), label))
    if not rows:
        raise FaceprobeError(
            f"{root}: no images found; expected one sub-folder per class holding "
            f"{', '.join(sorted(IMAGE_SUFFIXES))} files"
        )
    return rows


def _read_manifest(
    manifest: Path, root: Path | None, path_col: str, label_col: str, subject_col: str, labelled: bool = True
) -> list[ImageRef]:
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
                extra = {k: (v or "") for k, v in rec.items() if k not in (path_col, label_col, subject_col) and k is not None}
                rows.append(ImageRef(full, label, subject, extra))
    except UnicodeDecodeError as exc:
        raise FaceprobeError(f"{manifest}: not a UTF-8 CSV file ({exc.reason})") from None
    except csv.Error as exc:
        raise FaceprobeError(f"{manifest}: malformed CSV ({exc})") from None
    if not rows:
        raise FaceprobeError(f"{manifest}: the manifest lists no images")
    return rows


def _folder(source, o: SourceOptions) -> list[ImageRef]:
    if o.root is not None:
        raise OptionError("root", o.root, "applies to a CSV manifest, not to a folder SOURCE")
    return _read_folder(Path(source), o.labelled)


def _manifest(source, o: SourceOptions) -> list[ImageRef]:
    if o.root is not None and not Path(o.root).is_dir():
        raise OptionError("root", o.root, "not a folder")
    root = Path(o.root) if o.root is not None else None
    return _read_manifest(Path(source), root, o.path_col, o.label_col, o.subject_col, o.labelled)


def _files(source, o: SourceOptions) -> list[ImageRef]:
    return [ImageRef(os.path.abspath(str(p))) for p in source]


def _is_path(source) -> bool:
    return isinstance(source, (str, os.PathLike))


SOURCE_READERS.register("folder", Reader(lambda s: _is_path(s) and Path(s).is_dir(), _folder, 0,
                                         "a folder with one sub-folder per class (label = folder name), searched recursively"))
SOURCE_READERS.register("manifest", Reader(lambda s: _is_path(s) and Path(s).is_file(), _manifest, 0,
                                           "a CSV with path, label and (optionally) subject columns; other columns are kept"))
SOURCE_READERS.register("files", Reader(lambda s: isinstance(s, (list, tuple)), _files, 0, "a list of image files (unlabelled)"))


def read_source(
    source,
    *,
    root: str | os.PathLike | None = None,
    path_col: str = "path",
    label_col: str = "label",
    subject_col: str = "subject",
    labelled: bool = True,
    reader: str | None = None,
) -> SourceTable:
    """Read the images of a source with the reader that recognises it.

    Parameters
    ----------
    source : path or list of paths
        A folder with one sub-folder per class (label = folder name, searched recursively),
        a CSV file with columns for path, label and (optionally) subject, or a list of files.
    root : path or None, default=None
        Folder that relative manifest paths start from; default: the manifest's folder.
    path_col, label_col, subject_col : str
        Manifest column names.
    labelled : bool, default=True
        False for images to predict: a folder is searched as a whole (no class folders) and
        a manifest needs no label column.
    reader : str or None, default=None
        A name in ``SOURCE_READERS``; None asks each reader, highest priority first.

    Returns
    -------
    SourceTable
        Unique entries; a path listed twice with one label counts once, with different
        labels it is left out and reported in ``conflicts``.
    """
    if _is_path(source) and not Path(source).exists():
        raise FaceprobeError(f"{source}: no such file or folder")
    if reader is None:
        order = sorted(SOURCE_READERS.items(), key=lambda kv: (-kv[1].priority, kv[0]))
        reader = next((name for name, r in order if r.detect(source)), None)
        if reader is None:
            raise OptionError("source", source, f"no reader recognises it; readers: {SOURCE_READERS.describe()}")
    options = SourceOptions(None if root is None else str(root), path_col, label_col, subject_col, labelled)
    table = _deduplicate(SOURCE_READERS.get(reader).read(source, options))
    table.reader = reader
    return table
