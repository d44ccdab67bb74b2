"""The field's public corpora by name: layouts as published, label decoding, official protocols,
terms, label-file hashes and published references (:mod:`.base`); reading a copy into a
manifest (:mod:`.manifest`). Entries: :mod:`.fer` (FER-2013, FER+), :mod:`.posed` (RAF-DB, CK+,
JAFFE, KDEF), :mod:`.wild` (AffectNet, UNBC-McMaster, DISFA)."""

from . import fer, posed, wild  # noqa: F401  (they register their corpora)
from .base import CORPORA, Corpus, LabelFile, Layout, Protocol, Reference, Rows, register_corpus
from .manifest import CorpusManifest, corpus_manifest, write_manifest

__all__ = ["CORPORA", "Corpus", "LabelFile", "Layout", "Protocol", "Reference", "Rows", "register_corpus", "CorpusManifest",
           "corpus_manifest", "write_manifest"]
