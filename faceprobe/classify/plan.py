"""classify decided once: keyword-only options are parsed and checked into one immutable plan.

Everything the options alone decide is decided here, before the cache is read: the keys, the
heads and their grids, the row filters, the class map, the memory budget, the protocol and the
fixed split. What needs the data (whether subjects are known, so whether splits are grouped) is
decided once when the datasets are built (:func:`faceprobe.classify.run.build_datasets`).

The split protocol is part of the plan (:func:`resolve_protocol`, for ``classify``, ``fit`` and
the API alike): a corpus cache's official protocol is applied first; then the one-protocol rule is
checked (a cross-corpus split, ``loso``, a fixed split column, or folds drawn by the split
specification), and what it yields is one :class:`ResolvedProtocol`. ``protocols/`` holds what
the protocol is made of (splits, fixed splits, corpus splits, official protocols) and imports
nothing of the options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OptionError
from ..options import option_values
from .config import EvalConfig, head_plans
from .engines import check_engine
from .data.columns import Where, parse_where
from .data.dataset import parse_class_map
from .data.diskrows import parse_size
from .heads.registry import HEADS, head_names, parse_params
from .metrics import SUMMARY_METRICS
from .options import CLASSIFY, GROUPS, ClassifyOptions, as_list, is_splitter
from .protocols.corpus import parse_corpus
from .protocols.fixed import FixedSplit
from .protocols.official import CHOOSERS, Official, official_protocol
from .protocols.splits import SplitSpec

__all__ = ["ClassifyOptions", "ClassifyPlan", "ResolvedProtocol", "make_plan", "resolve_protocol", "split_values", "as_list",
           "is_splitter", "GROUPS"]


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
        data says whether splits are grouped (:func:`~faceprobe.classify.run.build_datasets`).
    load : dict
        What :func:`~faceprobe.classify.data.dataset.load_dataset` takes besides cache and key, resolved.
    reported : dict
        What the results say of the run beside the records: the metric, and for targets the task,
        the targets, the metric's direction and the bins.
    splits : SplitSpec
        The split protocol, resolved; a fixed split is never grouped, any other is grouped as
        the data decides (:func:`~faceprobe.classify.run.build_datasets`).
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
    load: dict = field(default_factory=dict)
    splits: SplitSpec | None = None
    reported: dict = field(default_factory=dict)

    @property
    def study(self) -> bool:
        """Several keys (or a fusion) on the same folds."""
        return len(self.keys) > 1 or "+" in (self.keys[0] or "")


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


def _check_values(o: ClassifyOptions) -> None:
    """The one validation pass of the option table (kinds, ranges, choices, combinations)."""
    CLASSIFY.validate(option_values(o))


def _keys(key) -> tuple:
    if key is None or isinstance(key, str):
        return (key,)
    return tuple(key) or (None,)


def make_plan(options: ClassifyOptions, fitting: bool = False) -> ClassifyPlan:
    """Parse and check every option once; refuse bad values and combinations before the cache is read.

    The split protocol is decided here, once (:func:`resolve_protocol`,
    the corpus's official protocol included): the plan's ``options`` are the options it set.
    ``fitting``: the plan of ``fit``.

    Raises
    ------
    OptionError
        Naming the parameter, the value and the fix.
    """
    _check_values(options)
    targets = split_values(options.target)  # what the protocol leaves as given: the targets, metric and keys
    metric = _metric(options.metric, bool(targets))
    keys = _keys(options.key)
    if options.missing != "common" and len(keys) < 2 and "+" not in (keys[0] or ""):
        raise OptionError("missing", options.missing, "fills the rows one key lacks that others hold: give several keys or a fusion (A+B)")
    protocol = resolve_protocol(options, fitting)
    o = protocol.options
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
                     plans=head_plans(specs, grid), engine_status={} if targets else check_engine(o.engine, specs, dict(HEADS.items())))
    from .curve import parse_curve

    curve = parse_curve(o.curve)
    if curve is not None and curve.unit == "subjects" and o.group == "none":
        raise OptionError("curve", o.curve, "counts subjects: it needs splits grouped by subject (leave `group` auto), or count images")
    load = dict(classes=classes, min_count=o.min_count, with_views=o.augmented, max_memory=budget, jobs=o.jobs, where=list(where),
                regression=bool(targets))
    return ClassifyPlan(options=o, keys=keys, where=where, classes=classes, max_memory=budget, fixed=protocol.fixed, eval=cfg,
                        metric=metric, targets=targets, bins=bins, curve=curve, official=protocol.official, load=load,
                        splits=protocol.splits, reported=_reported(metric, targets, bins))


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


def _reported(metric: str, targets: tuple, bins: tuple | None) -> dict:
    """What a run's results say beside the records (for targets: the task, targets, the metric's direction, bins)."""
    if not targets:
        return {"metric": metric}
    from .regression.metrics import REGRESSION_METRICS

    return {"metric": metric, "task": "regression", "targets": list(targets), "direction": REGRESSION_METRICS[metric],
            "bins": None if bins is None else list(bins)}


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
