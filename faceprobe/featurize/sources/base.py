"""What source readers share: the image reference, the reader type and its registry, the options
a reader gets and the table ``read_source`` returns. The readers are in ``source_*.py``;
:mod:`faceprobe.featurize.sources.read` is the public module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ...registry import Registry

__all__ = ["IMAGE_SUFFIXES", "ImageRef", "ImageEntry", "SourceTable", "SourceOptions", "Reader", "SOURCE_READERS", "clean_label"]

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

    fork_safe = True
    """Can be opened in a worker forked from a process that opened such references already
    (False for video frames: OpenCV's decoder threads hang forked children)."""

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
    conflicts : list of (path, values)
        Paths listed with different labels (the labels) or subjects (``subject NAME`` each): left out.
    repeats : int
        Paths listed more than once with the same label; counted once.
    reader : str
        The reader that read it.
    subject_matches : (int, int) or None
        With a subject regex: entries that got a subject from their file name, and all entries.
    videos : int
        Videos whose frames are among the entries.
    provenance : dict
        What a source that knows its origin says of it (a corpus: name, layout, label files and
        their hashes, notes); empty for plain folders and manifests.
    """

    entries: list[ImageRef] = field(default_factory=list)
    conflicts: list[tuple[str, list[str]]] = field(default_factory=list)
    repeats: int = 0
    reader: str = ""
    subject_matches: tuple[int, int] | None = None
    videos: int = 0
    provenance: dict = field(default_factory=dict)


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


def clean_label(label: str) -> str:
    return " ".join(label.split()).lower()


