"""A corpus folder read into a manifest: its layout recognised, label files hashed, rows decoded."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FaceprobeError, OptionError
from .base import CORPORA, MANIFEST_COLUMNS, Corpus

__all__ = ["CorpusManifest", "corpus_manifest", "write_manifest", "parse_corpus_options"]


@dataclass(frozen=True)
class CorpusManifest:
    """One corpus folder, read.

    Attributes
    ----------
    corpus : str
    layout : str
        The layout that matched.
    folder : str
        The corpus folder, absolute.
    columns : dict of str -> list of str
        :data:`~faceprobe.corpora.base.MANIFEST_COLUMNS`, then the corpus's own columns (targets,
        angle, votes); paths are relative to ``folder``.
    label_files : list of dict
        Per label file: ``path``, ``sha256``, ``md5``, ``published_md5`` and ``matches`` (True,
        False, or None where nothing is published).
    options : dict
        The corpus options used (defaults filled in).
    notes : list of str
    """

    corpus: str
    layout: str
    folder: str
    columns: dict
    label_files: list
    options: dict
    notes: list = field(default_factory=list)

    def provenance(self) -> dict:
        """What a cache records of the corpus."""
        return {"corpus": self.corpus, "layout": self.layout, "folder": self.folder, "options": self.options,
                "label_files": self.label_files}


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def parse_corpus_options(given, param: str = "corpus_options", corpus: str | None = None) -> dict:
    """``NAME=VALUE`` strings (or a dict) -> corpus options, each cast by the corpus's declaration and checked.

    Raises
    ------
    OptionError
        Naming ``param``: a string without ``=``, an option ``corpus`` does not take, or a value
        its declaration refuses. Without ``corpus`` the values are only read (checked when the
        manifest is made).
    """
    from ..params import read_assignments

    declared = CORPORA.get(corpus).options if corpus else None
    return read_assignments(given, declared, param=param, owner=f"the {corpus} corpus" if corpus else "the corpus")


def _options(corpus: Corpus, given: dict) -> dict:
    from ..params import read_assignments

    checked = read_assignments(given, corpus.options, param="corpus_options", owner=f"the {corpus.name} corpus")
    return {name: checked.get(name, p.default) for name, p in corpus.options.items()}


def corpus_manifest(name: str, folder: str | Path, **options) -> CorpusManifest:
    """Read a corpus folder as its publishers ship it into a manifest.

    Parameters
    ----------
    name : str
        A registered corpus (``faceprobe corpus list``).
    folder : str or Path
        The user's copy of the corpus (faceprobe never downloads one).
    **options
        The corpus's own options (``faceprobe corpus show NAME``), e.g. ``neutral=True`` for CK+.

    Returns
    -------
    CorpusManifest

    Raises
    ------
    FaceprobeError
        One line naming the folder and what the corpus's layouts expect, when none matches.
    """
    corpus = CORPORA.get(name)
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise OptionError("path", str(folder), f"not a folder; give the folder of your {corpus.title} copy")
    used = _options(corpus, options)
    layout = next((lay for lay in corpus.layouts if lay.matches(root)), None)
    if layout is None:
        expected = "; or ".join(lay.expects for lay in corpus.layouts)
        raise FaceprobeError(f"{root}: not a {corpus.name} layout; expected {expected}")
    files, notes = [], []
    for lf in layout.label_files:
        path = root / lf.path
        if not path.is_file():
            raise FaceprobeError(f"{path}: missing; the {corpus.name} {layout.name} layout needs it")
        sha, md5 = _digests(path)
        published = lf.sha256 or lf.md5
        matches = None if not published else (sha == lf.sha256 if lf.sha256 else md5 == lf.md5)
        files.append({"path": lf.path, "sha256": sha, "md5": md5, "published_md5": lf.md5, "published_sha256": lf.sha256,
                      "matches": matches})
        if matches is False:
            notes.append(f"{lf.path}: its hash differs from the published one (md5 {md5}, published {lf.md5 or lf.sha256}): "
                         "an edited or different release; figures may not compare with published ones")
    rows = layout.read(root, used)
    if not rows.count():
        raise FaceprobeError(f"{root}: the {corpus.name} {layout.name} layout holds no usable rows")
    notes += _missing_images(rows, root)
    n = rows.count()
    columns = {c: rows.columns.get(c, [""] * n) for c in MANIFEST_COLUMNS}
    columns.update({c: v for c, v in rows.columns.items() if c not in columns})
    if rows.hidden:
        first = rows.hidden[0].relative_to(root).as_posix() if rows.hidden[0].is_relative_to(root) else rows.hidden[0].name
        notes.append(f"left out {len(rows.hidden)} hidden files (names starting with '.', such as the ._ copies macOS writes; "
                     f"e.g. {first})")
    return CorpusManifest(corpus.name, layout.name, str(root), columns, files, used, notes + rows.notes)


SHOWN = 3
"""Names a note lists of what it left out."""


def _missing_images(rows, root: Path) -> list[str]:
    """A note counting, by role, the rows whose image the folder lacks (a label file naming a file
    not there) and naming the first few; the rows stay, so featurize records each as unreadable.
    Rows of a pixel CSV (``file#line``) have no file of their own."""
    paths = rows.columns.get("path", [])
    gone = [i for i, p in enumerate(paths) if "#" not in p and not (root / p).is_file()]
    if not gone:
        return []
    splits = rows.columns.get("split", [""] * len(paths))
    by_role = {}
    for i in gone:
        by_role[splits[i] or "no split"] = by_role.get(splits[i] or "no split", 0) + 1
    roles = ", ".join(f"{k} {n}" for k, n in sorted(by_role.items()))
    return [f"{len(gone)} rows name an image the folder lacks ({roles}; e.g. {', '.join(paths[i] for i in gone[:SHOWN])}): "
            "featurize will record them as unreadable"]


def write_manifest(manifest: CorpusManifest, out: str | Path) -> int:
    """Write the manifest as CSV (paths relative to the corpus folder: featurize it with ``--root FOLDER``); return its rows."""
    cols = list(manifest.columns)
    n = len(manifest.columns["path"])
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(cols)
        for i in range(n):
            writer.writerow([manifest.columns[c][i] for c in cols])
    return n
