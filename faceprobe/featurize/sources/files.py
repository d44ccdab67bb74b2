"""The file readers: ``folder`` (one sub-folder per class), ``manifest`` (a CSV of paths with
label, subject and any other columns) and ``files`` (a list of image files, unlabelled)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ...errors import FaceprobeError, OptionError
from .base import IMAGE_SUFFIXES, SOURCE_READERS, ImageRef, Reader, SourceOptions, clean_label
from .video import VIDEO_SUFFIXES

__all__ = ["read_folder", "read_manifest"]


def read_folder(root: Path, labelled: bool = True) -> list[ImageRef]:
    rows = []
    tops = sorted(p for p in root.iterdir() if p.is_dir()) if labelled else [root]
    for class_dir in tops:
        label = clean_label(class_dir.name) if labelled else ""
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames.sort()
            # a directory named like an image is listed so that it is reported, not silently ignored
            names = filenames + [d for d in dirnames if Path(d).suffix.lower() in IMAGE_SUFFIXES]
            for name in sorted(names):
                if Path(name).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                    rows.append(ImageRef(os.path.abspath(os.path.join(dirpath, name)), label))
    if not rows:
        raise FaceprobeError(
            f"{root}: no images found; expected one sub-folder per class holding "
            f"{', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))} files"
        )
    return rows


def read_manifest(
    manifest: Path, root: Path | None, path_col: str, label_col: str, subject_col: str, labelled: bool = True
) -> list[ImageRef]:
    base = root if root is not None else manifest.parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if not header:
                raise FaceprobeError(f"{manifest}: empty file (no header row); a manifest starts with path,label[,subject], "
                                     "a FER-2013 CSV with emotion,pixels[,Usage]")
            needed = ((path_col, "`path_col`"), (label_col, "`label_col`")) if labelled else ((path_col, "`path_col`"),)
            for col, option in needed:
                if col not in header:
                    raise FaceprobeError(
                        f"{manifest}: no column {col!r} (set {option}); columns are: {', '.join(header) or 'none'}"
                    )
            has_subject = subject_col in header
            rows = []
            for rec in reader:
                raw_path = (rec.get(path_col) or "").strip()
                label = clean_label(rec.get(label_col) or "")
                if not raw_path or (labelled and not label):
                    raise FaceprobeError(_empty_cell(manifest, reader, rec, path_col if not raw_path else label_col))
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


def _empty_cell(manifest: Path, reader: csv.DictReader, rec: dict, column: str) -> str:
    """Why a row has no path or label: an empty cell, or a row cut short (by a carriage return
    inside a field, as a file with mixed line endings has)."""
    where = f"{manifest}, line {reader.line_num}"
    given = sum(v is not None for k, v in rec.items() if k is not None)
    if given < len(reader.fieldnames):
        with open(manifest, "rb") as handle:
            data = handle.read()
        stray = b"\r" in data.replace(b"\r\n", b"")
        return (f"{where}: {given} of the header's {len(reader.fieldnames)} fields ({', '.join(repr(v) for v in rec.values() if isinstance(v, str))})"
                + ("; the file has carriage returns that end no line (mixed line endings), which cut rows in two: save it with "
                   "one kind of line ending" if stray else "; every row needs a value for each header column"))
    return f"{where}: empty {column!r}; every row needs a value there"


def _folder(source, o: SourceOptions) -> list[ImageRef]:
    if o.root is not None:
        raise OptionError("root", o.root, "applies to a CSV manifest, not to a folder SOURCE")
    return read_folder(Path(source), o.labelled)


def _manifest(source, o: SourceOptions) -> list[ImageRef]:
    if o.root is not None and not Path(o.root).is_dir():
        raise OptionError("root", o.root, "not a folder")
    root = Path(o.root) if o.root is not None else None
    return read_manifest(Path(source), root, o.path_col, o.label_col, o.subject_col, o.labelled)


def _files(source, o: SourceOptions) -> list[ImageRef]:
    return [ImageRef(os.path.abspath(str(p))) for p in source]


def _is_path(source) -> bool:
    return isinstance(source, (str, os.PathLike))


SOURCE_READERS.register("folder", Reader(lambda s: _is_path(s) and Path(s).is_dir(), _folder, 0,
                                         "a folder with one sub-folder per class (label = folder name), searched recursively"))
SOURCE_READERS.register("manifest", Reader(lambda s: _is_path(s) and Path(s).is_file(), _manifest, 0,
                                           "a CSV with path, label and (optionally) subject columns; other columns are kept"))
SOURCE_READERS.register("files", Reader(lambda s: isinstance(s, (list, tuple)), _files, 0, "a list of image files (unlabelled)"))
