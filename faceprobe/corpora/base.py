"""The corpus registry: each public face corpus as data (layouts, labels, protocol, terms, hashes, references).

An entry says how the corpus is laid out as its publishers ship it, how its label codes read,
where its subjects, sequences and frames are, which protocol the literature uses, who may
download it, the published hashes of its label files, and published figures to compare with.
faceprobe never downloads a corpus: the user points at their own copy. Plug-ins add corpora
with :func:`register_corpus`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import FaceprobeError
from ..registry import Registry

__all__ = ["Reference", "Protocol", "LabelFile", "Layout", "Rows", "Corpus", "CORPORA", "register_corpus", "MANIFEST_COLUMNS"]

MANIFEST_COLUMNS = ("path", "label", "subject", "sequence", "frame", "split", "fold")
"""Columns every corpus manifest has, in order (empty where a corpus has none); targets follow."""


@dataclass(frozen=True)
class Reference:
    """A published result to print beside one's own.

    Attributes
    ----------
    figure : float
        The number as published (percent for accuracies, raw for correlations and errors).
    metric : str
        What it measures (``accuracy``, ``mean per-class accuracy``, ``PCC``, ``RMSE``).
    protocol : str
        The split it was measured on, in the corpus's words.
    source : str
        Authors, year, venue.
    network : str
        The model (``VGG13``, ``AAM + SVM``).
    training : str
        ``fine-tuned``, ``trained`` (from scratch), ``frozen`` (features of a frozen network, as
        faceprobe computes), ``hand-crafted`` or ``human``.
    """

    figure: float
    metric: str
    protocol: str
    source: str
    network: str
    training: str


@dataclass(frozen=True)
class Protocol:
    """The evaluation the literature uses on a corpus.

    Attributes
    ----------
    kind : str
        ``fixed`` (a published split: the manifest's ``split`` column, roles below), ``folds``
        (subject folds: the ``fold`` column) or ``loso`` (leave one subject out).
    train, val, test : str
        The ``split`` values of each role (``fixed``); ``val`` may be empty.
    folds : int
        Number of folds (``folds``).
    description : str
    """

    kind: str
    description: str
    train: str = ""
    val: str = ""
    test: str = ""
    folds: int = 0

    def classify_options(self) -> dict:
        """The classify options that run this protocol on the corpus's manifest."""
        if self.kind == "fixed":
            out = {"split_col": "split", "train": self.train, "test": self.test}
            return {**out, "val": self.val} if self.val else out
        if self.kind == "folds":  # leave one fold value out: exactly the manifest's folds
            return {"group": "fold", "cv": "loso"}
        return {"cv": "loso"}


@dataclass(frozen=True)
class LabelFile:
    """A label file of a layout, with its published hashes where they are known.

    Attributes
    ----------
    path : str
        Relative to the corpus folder.
    md5, sha256 : str
        Published digests ('' where none is published; faceprobe records the user's digest either way).
    """

    path: str
    md5: str = ""
    sha256: str = ""


def whole_number(text: str, where: str, what: str, low: int, high: int) -> int:
    """The integer a label file writes (``3``, ``3.0``, ``3.0000000e+00``), the one rule every corpus
    reads codes, votes and intensities by.

    Raises
    ------
    FaceprobeError
        One line naming ``where`` (the file, and line), the text, and what is allowed: for text
        that is no number, a number that is not whole (``3.5``), or one outside ``low``-``high``.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise FaceprobeError(f"{where}: reads {str(text)[:40]!r}; {what} is a whole number {low}-{high}") from None
    if not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise FaceprobeError(f"{where}: reads {str(text).strip()[:40]!r}; {what} is a whole number {low}-{high}")
    return int(value)


def number_in(text: str, where: str, what: str, low: float, high: float) -> float:
    """A continuous label (valence, arousal) within its published range, by the same rule."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise FaceprobeError(f"{where}: reads {str(text)[:40]!r}; {what} is a number {low:g} to {high:g}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise FaceprobeError(f"{where}: reads {str(text).strip()[:40]!r}; {what} is a number {low:g} to {high:g}")
    return value


@dataclass
class Rows:
    """What a layout reader found: manifest columns (lists of equal length), notes, and the
    hidden files it passed over (:meth:`visible`)."""

    columns: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    hidden: list = field(default_factory=list)

    def visible(self, paths) -> list:
        """``paths`` sorted, without hidden files (names starting with ``.``: the ``._`` copies macOS
        writes beside every file on other disks, ``.DS_Store``); those are kept in ``hidden`` (the
        manifest's notes count them)."""
        paths = sorted(paths)
        self.hidden += [p for p in paths if p.name.startswith(".")]
        return [p for p in paths if not p.name.startswith(".")]

    def add(self, **values) -> None:
        for name in [*self.columns, *(v for v in values if v not in self.columns)]:  # a fixed order, whatever the hash seed
            self.columns.setdefault(name, [""] * self.count())
        n = self.count()
        for name, col in self.columns.items():
            col.append(values.get(name, ""))
        assert all(len(c) == n + 1 for c in self.columns.values())

    def count(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass(frozen=True)
class Layout:
    """One way a corpus is distributed.

    Attributes
    ----------
    name : str
    expects : str
        What the folder holds, in words (said when nothing matches).
    matches : callable
        ``matches(folder) -> bool``, from names alone (fast, no file read).
    read : callable
        ``read(folder, options) -> Rows``.
    label_files : tuple of LabelFile
    """

    name: str
    expects: str
    matches: Callable[[Path], bool]
    read: Callable[[Path, dict], Rows]
    label_files: tuple = ()


@dataclass(frozen=True)
class Corpus:
    """A public corpus, as data.

    Attributes
    ----------
    name, title : str
    classes : tuple of str
        The class set after decoding (empty for target-only corpora).
    targets : tuple of str
        Continuous columns of the manifest (valence, PSPI, AU intensities).
    layouts : tuple of Layout
        Tried in order; the first that matches reads the folder.
    protocol : Protocol
    licence, access : str
        The terms, and who may download it (faceprobe never does).
    references : tuple of Reference
    options : dict of str -> Param
        Manifest options the corpus takes (:class:`~faceprobe.params.Param`, with ``doc``).
    notes : tuple of str
    """

    name: str
    title: str
    classes: tuple
    layouts: tuple
    protocol: Protocol
    licence: str
    access: str
    references: tuple
    targets: tuple = ()
    options: dict = field(default_factory=dict)
    notes: tuple = ()

    def __post_init__(self):
        from ..params import Param

        # a plug-in's (default, help) pair declares an option of its default's kind
        object.__setattr__(self, "options", {k: v if isinstance(v, Param) else Param.typed(v[0], doc=v[1])
                                             for k, v in self.options.items()})


CORPORA: Registry[Corpus] = Registry("corpus", "corpus")


def register_corpus(corpus: Corpus) -> Corpus:
    """Add a corpus to :data:`CORPORA` under its name (a name taken already is refused)."""
    CORPORA.register(corpus.name, corpus)
    return corpus
