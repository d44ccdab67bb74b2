"""The split protocol, decided once from the options (for ``classify``, ``fit`` and the API alike).

A corpus cache's official protocol is applied first (``protocol``); then the one-protocol rule
is checked (a cross-corpus split, ``loso``, a fixed split column, or folds drawn by the split
specification), and what it yields is one :class:`ResolvedProtocol`: the options as the protocol
set them, the official protocol, the fixed or cross-corpus split, and the split specification,
whose grouping the data decides later (``dataclasses.replace(splits, group=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ..options import CLASSIFY, ClassifyOptions, as_list, is_splitter
from .corpus import parse_corpus
from .fixed import FixedSplit
from .official import CHOOSERS, Official, official_protocol
from .splits import SplitSpec

__all__ = ["ResolvedProtocol", "resolve_protocol", "split_values"]


@dataclass(frozen=True)
class ResolvedProtocol:
    """The protocol of one run, decided.

    Attributes
    ----------
    options : ClassifyOptions
        The options with the official protocol's settings applied (as given where none applies).
    official : Official or None
        The corpus's official protocol, where the run applies it.
    fixed : FixedSplit, CorpusSplit or None
        A fixed split (``cv``, ``holdout`` and ``repeats`` are then refused), or a cross-corpus
        split (``cv`` then sets each corpus's own cross-validation).
    splits : SplitSpec
        The split specification; grouped unless the data says otherwise (a fixed split never is).
    """

    options: ClassifyOptions
    official: Official | None
    fixed: object
    splits: SplitSpec


def split_values(v) -> tuple[str, ...]:
    """``"a,b"``, ``["a", "b,c"]`` -> ``("a", "b", "c")`` (blank parts dropped)."""
    items = [v] if isinstance(v, str) else list(v or [])
    return tuple(x.strip() for item in items for x in str(item).split(",") if x.strip())


def resolve_protocol(options: ClassifyOptions, fitting: bool = False) -> ResolvedProtocol:
    """Apply the cache's official protocol, check the one-protocol rule, return the protocol.

    Raises
    ------
    OptionError
        Naming the option that cannot be combined, and the fix.
    """
    o, official = official_protocol(options, [n for n in CHOOSERS if CLASSIFY[n].given(getattr(options, n))], fitting)
    fixed = parse_corpus(as_list(o.train_where), as_list(o.test_where))
    if fixed is not None and is_splitter(o.cv):
        raise OptionError("cv", repr(o.cv), "a cross-corpus run takes a number of folds or loso for each corpus's own CV")
    if fixed is None and o.cv == "loso" and o.group == "none":
        raise OptionError("cv", "loso", "leaves one subject out: it cannot be combined with `group=none`")
    if fixed is None and o.split_col is not None:
        if o.group not in ("auto", "none"):
            raise OptionError("group", o.group, "cannot be combined with a fixed split: the split is given, not drawn")
        fixed = FixedSplit(o.split_col, split_values(o.train), split_values(o.test), split_values(o.val))
    if fixed is not None:
        splits = SplitSpec(cv=None, holdout=None, repeats=1, group=False, seed=o.seed, fixed=fixed.as_dict())
    elif is_splitter(o.cv):
        splits = SplitSpec(cv=None, holdout=None, repeats=o.repeats, group=True, seed=o.seed, splitter=o.cv)
    else:
        loso = o.cv == "loso"
        cv = 10 if o.cv is None and o.holdout is None else (None if loso else o.cv)
        splits = SplitSpec(cv=cv, holdout=o.holdout, repeats=o.repeats, group=True, seed=o.seed, loso=loso)
    return ResolvedProtocol(o, official, fixed, splits)
