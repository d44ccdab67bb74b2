"""Read the images to featurize: source readers (a registry) turn a source into image references.

An :class:`ImageRef` is everything below ``read_source`` needs of an image: an id, its label,
subject and extra columns, a content fingerprint and ``open()``. The readers: ``folder``,
``manifest``, ``files`` (:mod:`.source_files`) and ``fer2013`` (:mod:`.source_pixels`); a new
input format is one ``SOURCE_READERS.register(name, Reader(...))`` whose references
fingerprint and open themselves.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from ...errors import FaceprobeError, OptionError
from .base import IMAGE_SUFFIXES, SOURCE_READERS, ImageEntry, ImageRef, Reader, SourceOptions, SourceTable
from .video import VIDEO_SUFFIXES, expand_videos, parse_frames

__all__ = ["IMAGE_SUFFIXES", "ImageRef", "ImageEntry", "SourceTable", "SourceOptions", "Reader", "SOURCE_READERS", "read_source"]


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
        subjects = sorted({r.subject for r in group if r.subject})
        if len(subjects) > 1:  # which person it is decides the folds: no silent choice
            table.conflicts.append((path, [f"subject {s}" for s in subjects]))
            continue
        table.repeats += len(group) - 1
        table.entries.append(dataclasses.replace(group[0], subject=subjects[0] if subjects else ""))
    return table


def _is_path(source) -> bool:
    return isinstance(source, (str, os.PathLike))


def read_source(
    source,
    *,
    root: str | os.PathLike | None = None,
    path_col: str = "path",
    label_col: str = "label",
    subject_col: str = "subject",
    labelled: bool = True,
    reader: str | None = None,
    subject_regex: str | None = None,
    frames: str | None = None,
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
    subject_regex : str or None, default=None
        A regular expression searched in each file's name (not its folders); its first group is
        the subject (``^(S\\d+)_`` for CK+, ``^([A-Z]+)\\.`` for JAFFE). Files it does not match
        get no subject; ``subject_matches`` counts them. Refused where the source already gives
        subjects or has no file names.
    frames : str or None, default=None
        Which frames of each video (``.mp4``, ``.avi``, ``.mov``, ``.mkv``) become rows: ``all``
        (None), ``every:N``, ``fps:F`` or ``count:K`` (:mod:`.source_video`). Refused when the
        source lists no video.

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
    pattern = _compile_subject_regex(subject_regex) if subject_regex is not None else None
    frame_spec = parse_frames(frames)
    options = SourceOptions(None if root is None else str(root), path_col, label_col, subject_col, labelled)
    rows = SOURCE_READERS.get(reader).read(source, options)
    matched = None
    if pattern is not None:
        rows, matched = _subjects_from_names(rows, pattern, reader, subject_col)
    rows, videos = expand_videos(rows, frame_spec)
    if frames is not None and not videos:
        raise OptionError("frames", frames, f"the source lists no video ({', '.join(sorted(VIDEO_SUFFIXES))})")
    table = _deduplicate(rows)
    table.reader, table.videos = reader, videos
    if hasattr(source, "provenance"):
        table.provenance = source.provenance()
    if matched is not None:
        table.subject_matches = (sum(bool(e.subject) for e in table.entries), len(table.entries))
    return table


def _compile_subject_regex(text: str) -> re.Pattern:
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise OptionError("subject_regex", text, f"not a regular expression ({exc})") from None
    if pattern.groups < 1:
        raise OptionError("subject_regex", text, "needs a group for the subject, e.g. '^(S\\d+)_'")
    return pattern


def _subjects_from_names(rows: list[ImageRef], pattern: re.Pattern, reader: str, subject_col: str) -> tuple[list, int]:
    """Each file's subject from its name: the pattern's first group ("" when it does not match)."""
    if any(r.file is None for r in rows):
        raise OptionError("subject_regex", pattern.pattern, f"applies to file names; the {reader} source has none")
    if any(r.subject for r in rows):
        raise OptionError("subject_regex", pattern.pattern, f"the manifest already gives subjects (column {subject_col!r}); "
                                                            "use one or the other")
    out, matched = [], 0
    for r in rows:
        m = pattern.search(os.path.basename(r.id))
        subject = (m.group(1) or "") if m else ""
        matched += bool(subject)
        out.append(dataclasses.replace(r, subject=subject))
    return out, matched
