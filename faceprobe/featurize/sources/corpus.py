"""The ``corpus`` source reader: a public corpus's folder, read through its registry entry.

:func:`corpus_source` reads the folder once into a :class:`~faceprobe.corpora.CorpusManifest`;
the reader turns its rows into image references: files under the folder, and ``FILE#LINE`` rows
of a pixel CSV (FER-2013, FER+) as that CSV's :class:`~.pixels.PixelRef` with the corpus's
label. The manifest's other columns (sequence, frame, split, fold, targets) are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from .base import SOURCE_READERS, ImageRef, Reader, SourceOptions

__all__ = ["CorpusSource", "corpus_source"]


@dataclass(frozen=True)
class CorpusSource:
    """A corpus folder, read: what :func:`read_source` takes for ``corpus=NAME``."""

    manifest: object  # faceprobe.corpora.CorpusManifest

    def __fspath__(self) -> str:  # so messages and provenance name the folder
        return self.manifest.folder

    def provenance(self) -> dict:
        """What the cache records of the corpus, and the notes of reading it (``notes``)."""
        return {**self.manifest.provenance(), "notes": list(self.manifest.notes)}


def corpus_source(name: str, folder: str, options=()) -> CorpusSource:
    """Read ``folder`` as corpus ``name`` (see :func:`faceprobe.corpora.corpus_manifest`)."""
    from ...corpora.manifest import corpus_manifest, parse_corpus_options

    return CorpusSource(corpus_manifest(name, folder, **parse_corpus_options(options, corpus=name)))


def _read(source: CorpusSource, o: SourceOptions) -> list[ImageRef]:
    m = source.manifest
    cols = m.columns
    extra_cols = [c for c in cols if c not in ("path", "label", "subject")]
    pixel_rows = {}
    rows = []
    for i, path in enumerate(cols["path"]):
        extra = {c: cols[c][i] for c in extra_cols}
        name, hash_sign, line = path.partition("#")
        full = os.path.join(m.folder, name)
        if hash_sign:
            if name not in pixel_rows:
                from .pixels import read_pixel_csv

                pixel_rows[name] = {r.id: r for r in read_pixel_csv(full, SourceOptions(labelled=False))}
            ref = pixel_rows[name][f"{full}#{line}"]
            rows.append(replace(ref, label=cols["label"][i], subject=cols["subject"][i], extra=extra))
        else:
            rows.append(ImageRef(full, cols["label"][i], cols["subject"][i], extra))
    return rows


SOURCE_READERS.register("corpus", Reader(lambda s: isinstance(s, CorpusSource), _read, 20,
                                         "a public corpus's folder, with corpus=NAME (faceprobe corpus list)"))
