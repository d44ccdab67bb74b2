"""Source readers: a folder of class folders, a CSV manifest, a FER-2013 CSV of pixel strings,
videos. :func:`read_source` turns a source into image references; readers register in
``SOURCE_READERS`` (``base.py``), one module each (``files.py``, ``pixels.py``, ``video.py``)."""

from . import corpus, files, pixels  # noqa: F401  (they register their readers; video rows are expanded by read.py)
from .read import IMAGE_SUFFIXES, SOURCE_READERS, ImageEntry, ImageRef, Reader, SourceOptions, SourceTable, read_source

__all__ = ["IMAGE_SUFFIXES", "ImageRef", "ImageEntry", "SourceTable", "SourceOptions", "Reader", "SOURCE_READERS", "read_source"]
