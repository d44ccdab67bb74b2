"""classify decided once: keyword-only options are parsed and checked into one immutable plan.

Everything the options alone decide is decided here, before the cache is read: the keys, the
heads and their grids, the row filters, the class map, the memory budget, the protocol and the
fixed split. What needs the data (whether subjects are known, so whether splits are grouped) is
decided once when the datasets are built (:func:`faceprobe.classify.run.build_datasets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OptionError
from ..options import option_values
from .config import EvalConfig, head_plans
from .data.columns import Where, parse_where
from .data.dataset import parse_class_map
from .data.diskrows import parse_size
from .heads.registry import HEADS, head_names, parse_params
from .metrics import SUMMARY_METRICS
from .options import CLASSIFY, GROUPS, ClassifyOptions
from .protocols.fixed import FixedSplit
from .protocols.splits import SplitSpec

__all__ = ["ClassifyOptions", "ClassifyPlan", "make_plan", "as_list", "is_splitter", "GROUPS"]

@dataclass(frozen=True)
class ClassifyPlan:
    """One classify run, decided: what to load, how to split, what to fit, what to keep.

    Attributes
    ----------
    options : ClassifyOptions
        As given (recorded in the provenance).
    keys : tuple of str or None
        Feature keys or backbone prefixes (``None``: the cache's only key); ``A+B`` fuses two.
    where : tuple of Where
        Row filters, parsed.
    classes : dict of str -> str
        The class map (old label -> new label), parsed.
    max_memory : int or None
        The memory budget in bytes (None: automatic).
    fixed : FixedSplit, CorpusSplit or None
        A fixed split (``cv``, ``holdout`` and ``repeats`` are then refused), or a cross-corpus
        split (``cv`` then sets each corpus's own cross-validation).
    metric : str
        The metric grids and inner CV of regressors compare, resolved.
    targets : tuple of str
        Target columns (empty: classification).
    bins : tuple of float or None
        Bin edges for targets.
    official : Official or None
        The corpus's official protocol, where the run applies it (its options are in ``options``).
    eval : EvalConfig
        Heads, grid, balance, PCA, jobs, backend and engine; its ``split`` is set once the
        data says whether splits are grouped (:meth:`split`).
    """

    options: ClassifyOptions
    keys: tuple
    where: tuple[Where, ...]
    classes: dict
    max_memory: int | None
    fixed: object
    eval: EvalConfig = field(repr=False)
    metric: str = "balanced_accuracy"
    targets: tuple = ()
    bins: tuple | None = None
    curve: object = None
    official: object = None

    @property
    def study(self) -> bool:
        """Several keys (or a fusion) on the same folds."""
        return len(self.keys) > 1 or "+" in (self.keys[0] or "")

    def load_options(self) -> dict:
        """What :func:`~faceprobe.classify.data.dataset.load_dataset` takes besides cache and key."""
        o = self.options
        return dict(classes=self.classes, min_count=o.min_count, with_views=o.augmented, max_memory=self.max_memory,
                    jobs=o.jobs, where=list(self.where), regression=bool(self.targets))

    def split(self, grouped: bool) -> SplitSpec:
        """The protocol, grouped or not (the data decides; see :func:`~faceprobe.classify.run.build_datasets`)."""
        o = self.options
        if self.fixed is not None:
            return SplitSpec(cv=None, holdout=None, repeats=1, group=False, seed=o.seed, fixed=self.fixed.as_dict())
        if is_splitter(o.cv):
            return SplitSpec(cv=None, holdout=None, repeats=o.repeats, group=grouped, seed=o.seed, splitter=o.cv)
        loso = o.cv == "loso"
        cv = 10 if o.cv is None and o.holdout is None else (None if loso else o.cv)
        return SplitSpec(cv=cv, holdout=o.holdout, repeats=o.repeats, group=grouped, seed=o.seed, loso=loso)


def _values(v) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else list(v or [])
    return tuple(x.strip() for item in items for x in str(item).split(",") if x.strip())


def _check_values(o: ClassifyOptions) -> None:
    """The one validation pass of the option table (kinds, ranges, choices, combinations)."""
    CLASSIFY.validate(option_values(o))


def is_splitter(cv) -> bool:
    """A scikit-learn splitter object (``split`` and ``get_n_splits``), not a number of folds."""
    return hasattr(cv, "split") and hasattr(cv, "get_n_splits")


def _protocol(o: ClassifyOptions):
    """Check the one-protocol rule (once, here); return the fixed split or the cross-corpus split, if any."""
    from .protocols.corpus import parse_corpus

    corpus = parse_corpus(as_list(o.train_where), as_list(o.test_where))
    if corpus is not None:
        if is_splitter(o.cv):
            raise OptionError("cv", repr(o.cv), "a cross-corpus run takes a number of folds or loso for each corpus's own CV")
        return corpus
    if o.cv == "loso" and o.group == "none":
        raise OptionError("cv", "loso", "leaves one subject out: it cannot be combined with `group=none`")
    if o.split_col is None:
        return None
    if o.group not in ("auto", "none"):
        raise OptionError("group", o.group, "cannot be combined with a fixed split: the split is given, not drawn")
    return FixedSplit(o.split_col, _values(o.train), _values(o.test), _values(o.val))


def _keys(key) -> tuple:
    if key is None or isinstance(key, str):
        return (key,)
    return tuple(key) or (None,)


def make_plan(options: ClassifyOptions, fitting: bool = False) -> ClassifyPlan:
    """Parse and check every option once; refuse bad values and combinations before the cache is read.

    The corpus's official protocol (``protocol``) is applied here, the one place that decides the
    split: the plan's ``options`` are the options it set. ``fitting``: the plan of ``fit``.

    Raises
    ------
    OptionError
        Naming the parameter, the value and the fix.
    """
    _check_values(options)
    o, official = _official(options, fitting)
    fixed = _protocol(o)
    targets = _values(o.target)
    metric = _metric(o.metric, bool(targets))
    if targets:
        bins = _regression_checks(o)
        heads, specs = _heads(o.head, regression=True)
    else:
        bins = None
        heads, specs = _heads(o.head)
    grid = parse_params(o.params if isinstance(o.params, dict) else as_list(o.params))
    where = tuple(parse_where(as_list(o.where)))
    classes = parse_class_map(list(as_list(o.classes)))
    budget = parse_size(o.max_memory)
    specs = {h: specs.get(h) or HEADS.get(h) for h in heads}  # every head resolved here, once
    cfg = EvalConfig(heads=heads, grid=grid, balance=o.balance, pca=o.pca, augmented=o.augmented, jobs=o.jobs,
                     progress=o.progress, backend=o.backend, scheduler=o.scheduler, engine=o.engine, specs=specs,
                     plans=head_plans(specs, grid))
    from .curve import parse_curve

    curve = parse_curve(o.curve)
    if curve is not None and curve.unit == "subjects" and o.group == "none":
        raise OptionError("curve", o.curve, "counts subjects: it needs splits grouped by subject (leave `group` auto), or count images")
    keys = _keys(o.key)
    if o.missing != "common" and len(keys) < 2 and "+" not in (keys[0] or ""):
        raise OptionError("missing", o.missing, "fills the rows one key lacks that others hold: give several keys or a fusion (A+B)")
    return ClassifyPlan(options=o, keys=keys, where=where, classes=classes, max_memory=budget, fixed=fixed, eval=cfg,
                        metric=metric, targets=targets, bins=bins, curve=curve, official=official)


def _official(o: ClassifyOptions, fitting: bool):
    """The options with the cache's official protocol applied, and that protocol (or None)."""
    from .protocols.official import CHOOSERS, official_protocol

    return official_protocol(o, [n for n in CHOOSERS if CLASSIFY[n].given(getattr(o, n))], fitting)


def _metric(metric: str | None, regression: bool) -> str:
    from .regression.metrics import REGRESSION_METRICS

    if metric is None:
        return "ccc" if regression else "balanced_accuracy"
    allowed, other = (REGRESSION_METRICS, SUMMARY_METRICS) if regression else (SUMMARY_METRICS, REGRESSION_METRICS)
    if metric not in allowed:
        why = ("is a classification metric; with `target` choose" if regression else "is a regression metric: give `target` too, or choose") \
            if metric in other else "choose"
        raise OptionError("metric", metric, f"{why} from: {', '.join(allowed)}")
    return metric


def _regression_checks(o: ClassifyOptions) -> tuple | None:
    """Refuse options that have no meaning for a continuous target; return the parsed bins."""
    from .regression.targets import parse_bins

    if o.engine not in ("auto", "sklearn"):
        raise OptionError("engine", o.engine, "regressors run on scikit-learn; leave `engine` auto")
    return parse_bins(o.bins)


class _Clone:
    """A head's build for an estimator instance: a fresh, unfitted copy for every fit."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __call__(self, params: dict, seed: int):
        from sklearn.base import clone

        return clone(self.estimator)


def _heads(head, regression: bool = False) -> tuple[list[str], dict]:
    """Head names with the entries of regressors (``regression``), and the entries of estimator
    instances given as heads (named after their class: ``LinearDiscriminantAnalysis``, a second
    one ``LinearDiscriminantAnalysis-2``)."""
    if regression:
        from .regression.heads import REGRESSORS, regressor_names as names_of
    else:
        names_of = head_names
    items = [head] if isinstance(head, str) or not isinstance(head, (list, tuple)) else list(head)
    objects = [h for h in items if not isinstance(h, str)]
    if not objects:
        names = names_of(head)
        return names, ({n: REGRESSORS.get(n) for n in names} if regression else {})
    from .heads.registry import HeadSpec

    names, specs = [], {}
    for h in items:
        if isinstance(h, str):
            names += names_of(h)
            if regression:
                specs.update({n: REGRESSORS.get(n) for n in names_of(h)})
            continue
        if not (hasattr(h, "fit") and hasattr(h, "predict")):
            kind = "regressor" if regression else "classifier"
            raise OptionError("head", repr(h), f"not a head name or a scikit-learn {kind} (fit and predict)")
        base = type(h).__name__
        name = base if base not in names else f"{base}-{sum(n.split('-')[0] == base for n in names) + 1}"
        specs[name] = HeadSpec(name, _Clone(h), description=repr(h), probabilities=hasattr(h, "predict_proba"))
        names.append(name)
    return names, specs


def as_list(values) -> list:
    """A value or a sequence of values as a list (``"Training"`` is one value, not eight letters)."""
    return [values] if isinstance(values, str) else list(values or [])
