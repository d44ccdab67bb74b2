"""One classify run from options to a results dict with provenance (what the command calls)."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field

from .._version import __version__
import numpy as np

from ..errors import OptionError
from .data.columns import parse_where
from .data.dataset import load_dataset, parse_class_map
from .metrics import SUMMARY_METRICS
from .study import grid_cells, load_study
from .data.diskrows import parse_size
from .config import EvalConfig
from .evaluate import evaluate
from .heads.registry import head_names, own_grid, parse_params
from .protocols.splits import SplitSpec

__all__ = ["ClassifyOptions", "run_classify", "run_fit", "check_options", "GROUPS"]

GROUPS = ("auto", "subject", "none")


@dataclass
class ClassifyOptions:
    """Options of ``classify``; see docs/cli.md. ``group`` is ``auto``, ``subject``, ``none`` or
    a column of the image table (``sequence``: frames of one sequence never straddle folds).
    ``where`` lists row filters (``view=front``, ``Usage!=PublicTest``); ``normalize`` is
    ``none``, ``subject`` or a column whose values' rows are z-scored on their own.
    ``split_col`` with ``train``, ``test`` (and ``val``) values is a fixed split: one fit, the
    test part with bootstrap intervals, twins of training images counted and left out.
    ``aggregate`` names a column (``sequence``) whose clips get clip-level figures too.

    ``head`` is ``all``, a comma list or a list of names; ``params`` is a list of
    ``NAME=V1,V2`` strings or a dict of name -> value(s). ``key`` is one key or a list of keys
    (a study: every key on the same folds; ``A+B`` fuses two). ``cv`` is a number of folds or
    ``loso`` (leave one subject out). ``metric`` is the one the grid and its tests compare.
    """

    cache: str = "features.h5"
    key: str | None = None
    head: str | list = "all"
    cv: int | str | None = None
    holdout: float | None = None
    repeats: int = 1
    group: str = "auto"
    balance: str = "none"
    classes: list = field(default_factory=list)
    min_count: int = 0
    augmented: bool = False
    params: list | dict = field(default_factory=list)
    pca: int | None = None
    seed: int = 0
    jobs: int = 1
    progress: bool = False
    backend: str = "local"
    scheduler: str | None = None
    max_memory: str = "auto"
    metric: str = "balanced_accuracy"
    where: list = field(default_factory=list)
    normalize: str = "none"
    split_col: str | None = None
    train: list = field(default_factory=list)
    test: list = field(default_factory=list)
    val: list = field(default_factory=list)
    aggregate: str | None = None
    engine: str = "auto"


def check_options(opts: ClassifyOptions) -> None:
    """Refuse bad values and options that cannot be combined, before the cache is read."""
    if opts.cv is not None and opts.holdout is not None:
        raise OptionError("holdout", opts.holdout, f"cannot be combined with cv={opts.cv}; choose one protocol")
    if opts.jobs == 0 or opts.jobs < -1:
        raise OptionError("jobs", opts.jobs, "must be -1 (all cores) or >= 1")
    if opts.seed < 0:
        raise OptionError("seed", opts.seed, "must be >= 0")
    if opts.min_count < 0:
        raise OptionError("min_count", opts.min_count, "must be >= 0")
    if opts.pca is not None and opts.pca < 1:
        raise OptionError("pca", opts.pca, "must be >= 1")
    if isinstance(opts.cv, str) and opts.cv != "loso":
        raise OptionError("cv", opts.cv, "expected a number of folds or loso (leave one subject out)")
    if opts.cv == "loso" and opts.group == "none":
        raise OptionError("cv", "loso", "leaves one subject out: it cannot be combined with group=none")
    if opts.metric not in SUMMARY_METRICS:
        raise OptionError("metric", opts.metric, f"choose from: {', '.join(SUMMARY_METRICS)}")
    _check_fixed(opts)
    if not str(opts.group).strip():
        raise OptionError("group", opts.group, f"choose from: {', '.join(GROUPS)}, or a column such as sequence")
    parse_where(opts.where)


def _values(v) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else list(v or [])
    return tuple(x.strip() for item in items for x in str(item).split(",") if x.strip())


def _check_fixed(opts: ClassifyOptions):
    """The fixed split of the options (or None), refusing what it cannot be combined with."""
    from .protocols.fixed import FixedSplit

    if opts.split_col is None:
        given = next((n for n in ("train", "test", "val") if _values(getattr(opts, n))), None)
        if given:
            raise OptionError(given, ",".join(_values(getattr(opts, given))), "needs --split-col, the column that holds these values")
        return None
    for name, value, default in (("cv", opts.cv, None), ("holdout", opts.holdout, None), ("repeats", opts.repeats, 1)):
        if value != default:
            raise OptionError(name, value, f"cannot be combined with a fixed split (--split-col {opts.split_col}): it is one fit")
    if opts.group not in ("auto", "none"):
        raise OptionError("group", opts.group, "cannot be combined with a fixed split: the split is given, not drawn")
    return FixedSplit(opts.split_col, _values(opts.train), _values(opts.test), _values(opts.val))


def _grouping(ds, mode: str) -> bool:
    """Whether splits are grouped (by subject, or by the column ``mode`` names), said in a note.
    With some values unknown, each image without one is its own group (it cannot share a
    person with another image that we know of), and the note counts them; with none known,
    ``auto`` does not group."""
    if mode == "none":
        return False
    column = "subject" if mode in ("auto", "subject") else mode
    if column not in ds.columns:
        raise OptionError("group", mode, f"not auto, subject, none or a column; the cache has: {', '.join(ds.columns)}")
    ds.groups = np.asarray(ds.columns[column]).astype(str)
    known = ds.groups != ""
    if not known.any():
        if mode != "auto":
            raise OptionError("group", mode, f"no image has a {column}; give them (a manifest column), or use none")
        ds.notes.insert(0, "subjects unknown: splits are not grouped, so one person can be in training and test")
        return False
    n_groups = len(set(ds.groups[known]))
    plural = "subjects" if column == "subject" else f"{column} values"
    if not known.all():
        missing = int((~known).sum())
        ds.groups = ds.groups.astype(object)
        ds.groups[~known] = [f"(no {column}) {p}" for p in ds.paths[~known]]
        ds.groups = ds.groups.astype(str)
        ds.notes.insert(0, f"splits grouped by {column} ({n_groups} {plural}); {missing} images without a {column} are each "
                           "their own group; --group none for random splits")
    else:
        ds.notes.insert(0, f"splits grouped by {column} ({n_groups} {plural}); --group none for random splits")
    return True


def _keys(opts: ClassifyOptions) -> list:
    if opts.key is None or isinstance(opts.key, str):
        return [opts.key]
    return list(opts.key) or [None]


def _prepare(opts: ClassifyOptions):
    """Datasets (one per key; several for a study) and the evaluation config."""
    check_options(opts)
    heads = head_names(opts.head)
    grid = parse_params(opts.params)
    keys = _keys(opts)
    load = dict(classes=parse_class_map(opts.classes), min_count=opts.min_count, with_views=opts.augmented,
                max_memory=parse_size(opts.max_memory), jobs=opts.jobs, where=parse_where(opts.where))
    if len(keys) == 1 and "+" not in (keys[0] or ""):
        datasets = [load_dataset(opts.cache, keys[0], **load)]
    else:
        datasets = load_study(opts.cache, keys, **load)
    if opts.normalize != "none":
        from .data.normalize import normalize_within

        datasets = [normalize_within(d, opts.normalize) for d in datasets]
    fixed = _check_fixed(opts)
    if fixed is not None:
        from ..cache.store import read_images
        from .protocols.fixed import fixed_rows

        rows = fixed_rows(datasets[0], read_images(opts.cache), fixed)
        for d in datasets:  # one row order for all keys
            d.fixed = rows
        split = SplitSpec(cv=None, holdout=None, repeats=1, group=False, seed=opts.seed, fixed=fixed.as_dict())
        return datasets, _eval_config(opts, heads, grid, split)
    group = _grouping(datasets[0], opts.group)
    for d in datasets[1:]:  # one row order for all keys: the same groups, so the same folds
        d.groups = datasets[0].groups
    loso = opts.cv == "loso"
    split = SplitSpec(cv=10 if opts.cv is None and opts.holdout is None else (None if loso else opts.cv), holdout=opts.holdout,
                      repeats=opts.repeats, group=group, seed=opts.seed, loso=loso)
    return datasets, _eval_config(opts, heads, grid, split)


def _eval_config(opts: ClassifyOptions, heads, grid, split) -> EvalConfig:
    return EvalConfig(heads=heads, grid=grid, split=split, balance=opts.balance, pca=opts.pca, augmented=opts.augmented, jobs=opts.jobs,
                      progress=opts.progress, backend=opts.backend, scheduler=opts.scheduler, engine=opts.engine)


def run_fit(opts: ClassifyOptions, out: str) -> dict:
    """Cross-validate one head for the record, train it on all rows, save it to ``out``."""
    from ..cache.store import read_features
    from .model import fit_model, save_model

    if opts.split_col is not None:
        raise OptionError("split_col", opts.split_col, "fit trains on every row; to train on one part use --where "
                                                       f"{opts.split_col}=VALUE (evaluate the split with classify)")
    if opts.normalize != "none":
        raise OptionError("normalize", opts.normalize, "is transductive (statistics of each person's own images): a saved model "
                                                       "could not apply it to one new image; evaluate it with classify")
    datasets, cfg = _prepare(opts)
    if len(datasets) != 1 or "fusion" in datasets[0].spec:
        raise OptionError("key", ",".join(_keys(opts)), "fit trains on one feature key; give one")
    ds = datasets[0]
    runs = read_features(opts.cache, ds.key).runs
    weights = runs[-1].get("weights", {}).get(ds.spec["backbone"], {})
    model = fit_model(ds, cfg, weights)
    model["sha256"] = save_model(model, out)
    return model


def study(datasets: list, cfg: EvalConfig, metric: str) -> dict:
    """Every key with every head on the same folds: per-key results and the shared figures."""
    per_key = {d.key: evaluate(d, cfg) for d in datasets}
    first = per_key[datasets[0].key]
    return {"study": True, "keys": [d.key for d in datasets], "per_key": per_key,
            **{k: first[k] for k in ("classes", "rows", "subjects", "class_counts", "splits", "notes")}}


def _engines_used(res: dict, datasets: list, cfg: EvalConfig) -> dict:
    """Per head, the engine(s) its fits ran on with their versions and device; a note says it too."""
    from .engines import ENGINES

    per_key = [res] if len(datasets) == 1 else [res["per_key"][d.key] for d in datasets]
    used = {}
    for h in cfg.heads:
        names = sorted({e for r in per_key for e in r["heads"][h].get("engine", [])})
        used[h] = [{"engine": n, "version": cfg.engine_status.get(n, (None, None))[0], "device": ENGINES.get(n).device} for n in names]
    words = ", ".join(f"{h} on {' + '.join(e['engine'] + ' ' + str(e['version']) for e in v) or 'nothing (failed)'}" for h, v in used.items())
    res["notes"].append(f"engines ({cfg.engine}): {words}")
    return used


def run_classify(opts: ClassifyOptions) -> dict:
    """Load the features, evaluate the heads, attach provenance.

    Returns
    -------
    dict
        :func:`faceprobe.classify.evaluate.evaluate`'s results plus ``provenance``.
    """
    import numpy
    import sklearn

    datasets, cfg = _prepare(opts)
    heads, grid, split = cfg.heads, cfg.grid, cfg.split
    t0 = time.perf_counter()
    if len(datasets) == 1:
        ds = datasets[0]
        res = evaluate(ds, cfg)
    else:
        ds = datasets[0]
        res = study(datasets, cfg, opts.metric)
    if opts.aggregate:
        from .data.aggregate import add_clip_figures

        for d in datasets:
            add_clip_figures(res if len(datasets) == 1 else res["per_key"][d.key], d, opts.aggregate, split.repeats)
    res["grid"] = grid_cells({d.key: res if len(datasets) == 1 else res["per_key"][d.key] for d in datasets}, opts.metric,
                             single_split=(split.holdout is not None and split.repeats == 1) or split.fixed is not None)
    res["metric"] = opts.metric
    res["provenance"] = {
        "key": ds.key if len(datasets) == 1 else [d.key for d in datasets],
        "feature_spec": ds.spec if len(datasets) == 1 else {d.key: d.spec for d in datasets},
        "cache": opts.cache,
        "heads": {h: {**cfg.spec(h).params, "grid": own_grid(cfg.spec(h), grid)} for h in heads},
        "split": split.as_dict(),
        "balance": opts.balance,
        "pca": opts.pca,
        "augmented_views": sorted(ds.views) if opts.augmented else [],
        "classes_map": opts.classes,
        "group": opts.group,
        "normalize": opts.normalize,
        "aggregate": opts.aggregate,
        "where": [str(w) for w in parse_where(opts.where)],
        "min_count": opts.min_count,
        "seed": opts.seed,
        "backend": opts.backend,
        "engine": opts.engine,
        "engines": _engines_used(res, datasets, cfg),
        "memory": {"in_memory": ds.plan.in_memory, "max_memory": opts.max_memory, "budget_bytes": ds.plan.budget,
                   "need_bytes": ds.plan.need, "block_rows": None if ds.plan.in_memory else ds.plan.block_rows},
        "versions": {"faceprobe": __version__, "scikit-learn": sklearn.__version__, "numpy": numpy.__version__, "python": platform.python_version()},
        "argv": sys.argv[1:],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return res
