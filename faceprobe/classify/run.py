"""One classify run: options -> plan -> datasets (built once) -> evaluation -> flat results with provenance."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import replace

import numpy as np

from .._version import __version__
from ..errors import FaceprobeError, OptionError
from .config import EvalConfig
from .data.dataset import Dataset, load_dataset, select_rows
from .data.groups import with_groups
from .evaluate import evaluate
from .heads.registry import own_grid
from .plan import ClassifyOptions, ClassifyPlan, as_list, make_plan
from .protocols.splits import SplitSpec
from .records import flatten
from .study import grid_cells, load_study

__all__ = ["ClassifyOptions", "ClassifyPlan", "make_plan", "build_datasets", "run_classify", "run_fit"]


def build_datasets(plan: ClassifyPlan, given: list[Dataset] | None = None) -> tuple[list[Dataset], SplitSpec]:
    """The datasets of the plan (one per key, one row order for all) and the split protocol.

    Each dataset is built once: grouping, normalisation and a fixed split's rows give new
    datasets (``dataclasses.replace``), never a changed one. ``given``: datasets made from
    arrays (:func:`~faceprobe.classify.data.arrays.dataset_from_arrays`) instead of the cache.
    """
    o = plan.options
    load = plan.load_options()
    if given is not None:  # chosen as a cache's rows are when loaded
        datasets = [select_rows(d, where=load["where"], classes=load["classes"], min_count=load["min_count"],
                                regression=load["regression"]) for d in given]
    elif plan.study:
        datasets = load_study(o.cache, list(plan.keys), missing=o.missing, **load)
    else:
        datasets = [load_dataset(o.cache, plan.keys[0], **load)]
    if o.normalize != "none":
        from .data.normalize import normalize_within

        datasets = [normalize_within(d, o.normalize) for d in datasets]
    if plan.fixed is not None:
        from ..cache.store import read_images

        rows = plan.fixed.rows(datasets[0], read_images(o.cache) if given is None else None)
        return [replace(d, fixed=rows) for d in datasets], plan.split(False)
    first, grouped = with_groups(datasets[0], o.group)
    # one row order for all keys: the same groups, so the same folds
    return [first] + [replace(d, groups=first.groups) for d in datasets[1:]], plan.split(grouped)


def _plan(options) -> ClassifyPlan:
    return options if isinstance(options, ClassifyPlan) else make_plan(options)


def run_fit(options: ClassifyOptions | ClassifyPlan, out: str) -> dict:
    """Cross-validate one head for the record, train it on all rows, save it to ``out``."""
    from ..cache.store import read_features
    from .model import fit_model, model_format, save_model

    plan = _plan(options)
    o = plan.options
    if o.split_col is not None:
        raise OptionError("split_col", o.split_col, f"fit trains on every row; to train on one part use `where={o.split_col}=VALUE` "
                                                    "(evaluate the split with classify)")
    if o.normalize != "none":
        raise OptionError("normalize", o.normalize, "is transductive (statistics of each person's own images): a saved model "
                                                    "could not apply it to one new image; evaluate it with classify")
    if len(plan.eval.heads) != 1:
        from .heads.registry import HEADS
        from .regression.heads import REGRESSORS

        names = (REGRESSORS if plan.targets else HEADS).names()
        raise OptionError("head", ",".join(plan.eval.heads), f"fit trains one head; give one of: {', '.join(names)}")
    if plan.study:
        raise OptionError("key", ",".join(str(k) for k in plan.keys), "fit trains on one feature key; give one")
    from ..outputs import check_writable

    check_writable(out, "output")
    cfg = plan.eval
    if model_format(out) == "skops" and o.engine != "sklearn" and not plan.targets:  # skops holds scikit-learn's own estimators only
        if o.engine != "auto":
            raise OptionError("engine", o.engine, f"a .skops model holds scikit-learn estimators; use `engine=sklearn`, or "
                                                  f"a .joblib output (a pickle) for a model fitted on {o.engine}")
        cfg = replace(cfg, engine="sklearn")
    datasets, split = build_datasets(plan)
    ds = datasets[0]
    runs = read_features(o.cache, ds.key, vectors=False).runs  # provenance only: the vectors are in ds
    weights = runs[-1].get("weights", {}).get(ds.spec["backbone"], {})
    if plan.targets:
        model = _fit_regressor(plan, ds, replace(cfg, split=split), weights, model_format(out))
    else:
        model = fit_model(ds, replace(cfg, split=split), weights)
    model["sha256"] = save_model(model, out)
    return model


def outer_splits(ds: Dataset, cfg: EvalConfig) -> list:
    """The run's outer folds of ``ds``: (repeat, train, test) triples."""
    from .protocols.splits import make_splits

    if cfg.split.fixed is not None:
        return [(0, ds.fixed.train, ds.fixed.test)]
    return make_splits(ds.y, ds.groups if cfg.split.group else None, cfg.split)


def _fit_regressor(plan: ClassifyPlan, ds: Dataset, cfg: EvalConfig, weights: dict, fmt: str) -> dict:
    from .regression.evaluate import TargetSpec
    from .regression.model import fit_regressor
    from .regression.targets import target_values

    if len(plan.targets) != 1:
        raise OptionError("target", ",".join(plan.targets), "fit trains one model for one target; give one")
    if plan.bins is not None:
        raise OptionError("bins", ",".join(f"{b:g}" for b in plan.bins), "bins are figures of an evaluation; use classify")
    column = plan.targets[0]
    return fit_regressor(ds, cfg, TargetSpec(column, target_values(ds, column), plan.metric), weights, fmt)


def _engines_used(per_key: dict, cfg: EvalConfig, status: dict) -> tuple[dict, str]:
    """Per head, the engine(s) its fits ran on with their versions and device, and a note saying it."""
    from .engines import ENGINES

    used = {}
    for h in cfg.heads:
        names = sorted({e for r in per_key.values() for e in r["heads"][h].get("engine", [])})
        used[h] = [{"engine": n, "version": status.get(n, (None, None))[0], "device": ENGINES.get(n).device} for n in names]
    words = ", ".join(f"{h} on {' + '.join(e['engine'] + ' ' + str(e['version']) for e in v) or 'nothing (failed)'}" for h, v in used.items())
    return used, f"engines ({cfg.engine}): {words}"


def _provenance(plan: ClassifyPlan, datasets: list[Dataset], cfg: EvalConfig, engines: dict, seconds: float) -> dict:
    import sklearn

    o, ds = plan.options, datasets[0]
    return {
        "keys": [d.key for d in datasets],
        "feature_spec": {d.key: d.spec for d in datasets},
        "cache": o.cache,
        "heads": {h: {**cfg.spec(h).params, "grid": own_grid(cfg.spec(h), cfg.grid),
                      **({"estimator": cfg.spec(h).description} if h in plan.eval.specs else {})} for h in cfg.heads},
        "split": cfg.split.as_dict(),
        "balance": o.balance,
        "pca": o.pca,
        "augmented_views": sorted(ds.views) if o.augmented else [],
        "classes_map": as_list(o.classes),
        "group": o.group,
        "normalize": o.normalize,
        "aggregate": o.aggregate,
        "where": [str(w) for w in plan.where],
        "metric": plan.metric,
        **({"targets": list(plan.targets), "bins": None if plan.bins is None else list(plan.bins)} if plan.targets else {}),
        "min_count": o.min_count,
        "seed": o.seed,
        "backend": o.backend,
        "engine": o.engine,
        "engines": engines,
        "predictions": o.predictions,
        "permutations": o.permutations,
        "curve": None if plan.curve is None else plan.curve.as_dict(),
        "insight": o.insight,
        "faces": o.faces,
        "memory": {"in_memory": ds.memory.in_memory, "max_memory": o.max_memory, "budget_bytes": ds.memory.budget,
                   "need_bytes": ds.memory.need, "block_rows": None if ds.memory.in_memory else ds.memory.block_rows},
        "versions": {"faceprobe": __version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "argv": sys.argv[1:],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(seconds, 3),
    }


def run_classify(options: ClassifyOptions | ClassifyPlan, datasets: list[Dataset] | None = None) -> dict:
    """Load the features (or take ``datasets``), evaluate the heads on every key, attach provenance.

    Returns
    -------
    dict
        Flat results (:mod:`faceprobe.classify.records`): ``keys``, ``heads``, ``cells`` (one
        per key and head), ``folds`` (one per key, head, repeat and fold), ``grid``, ``metric``,
        ``classes``, ``rows``, ``notes`` and ``provenance``; the same shape for one key or many.
    """
    official = None
    if datasets is None and not isinstance(options, ClassifyPlan):
        from .protocols.official import official_protocol

        options, official = official_protocol(options)
    res = _run_plan(_plan(options), datasets)
    if official is not None:
        res["protocol"] = official.as_dict()
        res["notes"].append(f"{official.corpus}'s official protocol: {official.description}")
    return res


def _run_plan(plan: ClassifyPlan, datasets: list[Dataset] | None) -> dict:
    """:func:`run_classify` once its plan is decided."""
    from .evaluate import prepare_config

    o = plan.options
    source = "" if datasets is not None else o.cache  # where face boxes are read (none for arrays)
    datasets, split = build_datasets(plan, datasets)
    t0 = time.perf_counter()
    if plan.targets:
        from .regression.run import regress

        res, cfg = regress(plan, datasets, split)
        if o.insight:
            from .insight import add_insight

            add_insight(res, datasets, o.insight, o.seed, source)
        import sklearn

        engines = {h: [{"engine": "sklearn", "version": sklearn.__version__, "device": "cpu"}] for h in cfg.heads}
        res["provenance"] = _provenance(plan, datasets, cfg, engines, time.perf_counter() - t0)
        return res
    cfg = prepare_config(replace(plan.eval, split=split))
    t_eval = time.perf_counter()
    per_key = {d.key: evaluate(d, cfg) for d in datasets}
    t_eval = time.perf_counter() - t_eval
    failed = [(k, h, r["error"]) for k, res in per_key.items() for h, r in res["heads"].items() if "error" in r]
    if len(failed) == len(per_key) * len(cfg.heads):
        key, head, why = failed[0]
        raise FaceprobeError(f"no head gave results ({len(failed)} of {len(failed)} failed); first, {head} on {key}: {why}")
    if o.aggregate:
        from .data.aggregate import add_clip_figures

        for d in datasets:
            add_clip_figures(per_key[d.key], d, o.aggregate, split.repeats)
    if o.permutations:
        from .permutation import add_permutations

        quiet = replace(cfg, progress=False)
        plans = {k: {h: d["engine"] for h, d in r["engine_plan"].items()} for k, r in per_key.items()}  # the same rows: no new timing
        add_permutations(per_key, datasets, cfg, metric=plan.metric, values=datasets[0].y, n=o.permutations, seed=o.seed,
                         score=lambda d, y: evaluate(replace(d, y=y, notes=[]), replace(quiet, engine_plan=plans[d.key])),
                         seconds_each=t_eval)
    if o.train_where:
        from .protocols.corpus import add_within_corpus

        add_within_corpus(per_key, datasets, cfg, o, evaluate)
    if plan.curve is not None:
        from .curve import add_curves

        add_curves(per_key, datasets, cfg, plan.curve, plan.metric, evaluate, lambda d: outer_splits(d, cfg))
    grid = grid_cells(per_key, plan.metric, single_split=split.single)
    from .permutation import with_chance

    with_chance(grid, per_key)
    engines, note = _engines_used(per_key, cfg, cfg.engine_status)
    res = flatten(per_key, list(cfg.heads), keep_predictions=o.predictions)
    res["notes"].append(note)
    if o.insight:
        from .insight import add_insight

        add_insight(res, datasets, o.insight, o.seed, source)
    res.update(grid=grid, metric=plan.metric, provenance=_provenance(plan, datasets, cfg, engines, time.perf_counter() - t0))
    res["provenance"]["engine_plan"] = {k: r["engine_plan"] for k, r in per_key.items()}
    return res
