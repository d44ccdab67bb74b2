"""A corpus's official protocol, read from the cache: what ``protocol=official`` (or ``auto``) applies.

featurize with ``corpus=NAME`` records the corpus in the cache (root attribute ``corpora``).
:func:`official_protocol` turns that record into the classify options of the corpus's protocol
(:meth:`faceprobe.corpora.Protocol.classify_options`) and the references printed beside the
results. Options that choose a protocol themselves (``cv``, ``holdout``, ``split_col``, the
cross-corpus filters, a ``group`` other than auto) are the user's: under ``auto`` they win, under
``official`` they are refused.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

from ...errors import OptionError

__all__ = ["Official", "official_protocol", "PROTOCOLS", "CHOOSERS"]

PROTOCOLS = ("auto", "official", "none")
CHOOSERS = ("cv", "holdout", "split_col", "train_where", "test_where", "group")
"""Options that choose a protocol themselves: given, they win under ``auto`` and are refused under ``official``."""


@dataclass(frozen=True)
class Official:
    """The corpus protocol a run applies.

    Attributes
    ----------
    corpus, layout : str
    description : str
    options : dict
        The classify options it set.
    references : list of dict
        The corpus's published figures (figure, metric, protocol, source, network, training).
    label_files : list of dict
        As recorded by featurize (hashes, and whether they match the published ones).
    """

    corpus: str
    layout: str
    description: str
    options: dict
    references: list
    label_files: list

    def as_dict(self) -> dict:
        return asdict(self)


def _recorded(cache: str) -> dict:
    if not os.path.exists(cache):
        return {}
    from ...cache.store import read_root_attrs

    corpora = read_root_attrs(cache).get("corpora", {})
    return corpora if isinstance(corpora, dict) else {}


def official_protocol(options, chosen: list[str], fitting: bool = False):
    """``(options, Official or None)``: the options with the cache's corpus protocol applied.

    Called once, by plan-making (:func:`~faceprobe.classify.plan.make_plan`), for ``classify``,
    ``fit`` and the API alike. ``chosen``: the names of :data:`CHOOSERS` the user gave.
    ``fitting``: for ``fit``, whose model learns from every row; a fixed split (train, test) then
    cannot be its protocol: skipped under ``auto``, refused under ``official``.

    Raises
    ------
    OptionError
        ``protocol=official`` on a cache without exactly one corpus, with options that choose
        another protocol, or for ``fit`` with a corpus whose protocol is a fixed split.
    """
    mode = options.protocol
    if mode == "none":
        return options, None
    corpora = _recorded(options.cache)
    if mode == "auto" and (len(corpora) != 1 or chosen):
        return options, None
    if len(corpora) != 1:
        have = ", ".join(sorted(corpora)) or "none"
        raise OptionError("protocol", mode, f"needs a cache featurized from one corpus (featurize with `corpus=NAME`); this one "
                                            f"records: {have}")
    if chosen:
        raise OptionError(chosen[0], getattr(options, chosen[0]), "chooses its own protocol: drop it, or use "
                                                                  "`protocol=none` instead of the official one")
    from ...corpora import CORPORA

    (name, record), = corpora.items()
    if name not in CORPORA:
        raise OptionError("protocol", mode, f"the cache records corpus {name!r}, which is not registered here (a plug-in?)")
    corpus = CORPORA.get(name)
    if fitting and corpus.protocol.kind == "fixed":
        if mode == "auto":
            return options, None
        raise OptionError("protocol", mode, f"{name}'s official protocol is a fixed split ({corpus.protocol.description}); fit "
                                            "trains on every row: evaluate the protocol with classify, or fit with `protocol=none`")
    applied = corpus.protocol.classify_options()
    new = replace(options, **{k: (tuple(v.split(",")) if k in ("train", "test", "val") else v) for k, v in applied.items()})
    return new, Official(name, record.get("layout", ""), corpus.protocol.description, applied,
                         [asdict(r) for r in corpus.references], list(record.get("label_files", [])))
