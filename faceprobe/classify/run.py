"""One classify run: options -> plan -> datasets (built once) -> tasks (classification, or one
regression task per target) -> the one run loop, :func:`run_task` -> flat results with provenance."""

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
from .evaluate import Classification
from .plan import ClassifyOptions, ClassifyPlan, as_list, make_plan
from .protocols.splits import SplitSpec
from .records import flatten
from .study import grid_cells, load_study

__all__ = ["ClassifyOptions", "ClassifyPlan", "make_plan", "build_datasets", "run_classify", "run_fit", "run_task", "Classification"]


def build_datasets(plan: ClassifyPlan, given: list[Dataset] | None = None) -> tuple[list[Dataset], SplitSpec]:
    """The datasets of the plan (one per key, one row order for all) and the split protocol.

    Each dataset is built once: grouping, normalisation and a fixed split's rows give new
    datasets (``dataclasses.replace``), never a changed one. ``given``: datasets made from
    arrays (:func:`~faceprobe.classify.data.arrays.dataset_from_arrays`) instead of the cache.
    """
    o = plan.options
    load = plan.load
    if given is not None:  # chosen as a cache's rows are when loaded
        datasets = [select_rows(d, where=load["where"], classes=load["classes"], min_count=load["min_count"],
                                regression=load["regression"]) for d in given]
    elif not plan.study:
        datasets = [load_dataset(o.cache, plan.keys[0], **load)]
    else:
        datasets = load_study(o.cache, list(plan.keys), missing=o.missing, **load)
    if o.normalize != "none":
        from .data.normalize import normalize_within

        datasets = [normalize_within(d, o.normalize) for d in datasets]
    if plan.fixed is not None:
        from ..cache.store import read_images

        rows = plan.fixed.rows(datasets[0], read_images(o.cache) if given is None else None)
        return [replace(d, fixed=rows) for d in datasets], plan.splits
    first, grouped = with_groups(datasets[0], o.group)
    # one row order for all keys: the same groups, so the same folds
    return [first] + [replace(d, groups=first.groups) for d in datasets[1:]], replace(plan.splits, group=grouped)


def _plan(options, fitting: bool = False) -> ClassifyPlan:
    """The run's plan, and its results store checked before any work (:func:`~faceprobe.ledger.record.check_store`)."""
    from ..ledger.record import check_store

    plan = options if isinstance(options, ClassifyPlan) else make_plan(options, fitting)
    check_store(plan.options)
    return plan


def run_fit(options: ClassifyOptions | ClassifyPlan, out: str) -> dict:
    """Cross-validate one head for the record, train it on all rows, save it to ``out``."""
    from ..cache.store import read_features
    from .model import model_format, save_model

    plan = _plan(options, fitting=True)
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
    if plan.targets and len(plan.targets) != 1:
        raise OptionError("target", ",".join(plan.targets), "fit trains one model for one target; give one")
    if plan.bins is not None:
        raise OptionError("bins", ",".join(f"{b:g}" for b in plan.bins), "bins are figures of an evaluation; use classify")
    cfg = plan.eval
    if model_format(out) == "skops" and o.engine != "sklearn" and not plan.targets:  # skops holds scikit-learn's own estimators only
        if o.engine != "auto":
            raise OptionError("engine", o.engine, f"a .skops model holds scikit-learn estimators; use `engine=sklearn`, or "
                                                  f"a .joblib output (a pickle) for a model fitted on {o.engine}")
        from .engines import check_engine

        cfg = replace(cfg, engine="sklearn", engine_status=check_engine("sklearn", cfg.specs))
    datasets, split = build_datasets(plan)
    ds = datasets[0]
    runs = read_features(o.cache, ds.key, vectors=False).runs  # provenance only: the vectors are in ds
    weights = runs[-1].get("weights", {}).get(ds.spec["backbone"], {})
    (task,), cfg = _tasks(plan, datasets, replace(cfg, split=split))
    model = task.fit(ds, cfg, weights, model_format(out))
    if plan.official is not None:
        model["protocol"] = plan.official.as_dict()
    model["sha256"] = save_model(model, out)
    _record("fit", {**model, "output": out, "split": split.as_dict()}, o, model)
    return model


def _record(kind: str, result: dict, options, into: dict) -> None:
    from ..ledger.record import record_run

    recorded = record_run(kind, result, options)
    if recorded is not None:
        into["recorded"] = recorded


def _not_registered(spec, plan: ClassifyPlan) -> bool:
    """A regressor, or an estimator given as an instance: its provenance describes the estimator."""
    from .heads.registry import HEADS

    return bool(plan.targets) or spec.name not in HEADS or HEADS.get(spec.name) is not spec


def _provenance(plan: ClassifyPlan, datasets: list[Dataset], cfg: EvalConfig, engines: dict, seconds: float) -> dict:
    import sklearn

    o, ds = plan.options, datasets[0]
    return {
        "keys": [d.key for d in datasets],
        "feature_spec": {d.key: d.spec for d in datasets},
        "cache": o.cache,
        "heads": {h: {**cfg.spec(h).params, "grid": cfg.head(h).grid,
                      **({"estimator": cfg.spec(h).description} if _not_registered(cfg.spec(h), plan) else {})}
                  for h in cfg.heads},
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
    plan = _plan(options)
    res = _run_plan(plan, datasets)
    official = plan.official
    if official is not None:
        res["protocol"] = official.as_dict()
        res["notes"].append(f"{official.corpus}'s official protocol: {official.description}")
    _record("classify", res, plan.options, res)
    return res


def _tasks(plan: ClassifyPlan, datasets: list[Dataset], cfg: EvalConfig) -> tuple[list, EvalConfig]:
    """The run's tasks (one per target of a regression run) and the configuration ``cfg`` made
    ready for them (its split decided)."""
    if plan.targets:
        from .regression.task import regression_tasks

        return regression_tasks(plan, datasets), cfg
    return [Classification(plan.metric)], cfg  # the plan took every head's entry and engine status once


def run_task(plan: ClassifyPlan, datasets: list[Dataset], cfg: EvalConfig, task) -> tuple[dict, dict]:
    """One task on every dataset, then the add-ons the plan asks for (clips, permutations,
    within-corpus figures, learning curves) and the grid of cells: the one run loop of every task.

    Returns
    -------
    results, per_key : dict, dict
        Flat results (:func:`~faceprobe.classify.records.flatten`, with ``grid``), and each key's
        evaluation as the task returned it.
    """
    o = plan.options
    t_eval = time.perf_counter()
    per_key = {d.key: task.evaluate(d, cfg) for d in datasets}
    t_eval = time.perf_counter() - t_eval
    failed = [(k, h, r["error"]) for k, res in per_key.items() for h, r in res["heads"].items() if "error" in r]
    if len(failed) == len(per_key) * len(cfg.heads):
        key, head, why = failed[0]
        raise FaceprobeError(f"no head gave results ({len(failed)} of {len(failed)} failed); first, {head} on {key}: {why}")
    if o.aggregate:
        from .data.aggregate import add_clip_figures

        for d in datasets:
            add_clip_figures(per_key[d.key], d, o.aggregate, cfg.split.repeats, task.clip_figures)
    if o.permutations:
        from .permutation import add_permutations

        add_permutations(per_key, datasets, cfg, metric=task.metric, values=task.values(datasets[0]), n=o.permutations,
                         seed=o.seed, score=task.permuted(per_key, cfg), lower_is_better=task.lower_is_better, seconds_each=t_eval)
    if o.train_where:
        from .protocols.corpus import add_within_corpus

        add_within_corpus(per_key, datasets, cfg, o, task.evaluate)
    if plan.curve is not None:
        from .curve import add_curves

        add_curves(per_key, datasets, cfg, plan.curve, task.metric, task.evaluate, lambda d: task.splits(d, cfg))
    from .permutation import with_chance

    grid = grid_cells(per_key, task.metric, single_split=cfg.split.single, lower_is_better=task.lower_is_better,
                      regression=task.regression)
    with_chance(grid, per_key)
    res = flatten(per_key, list(cfg.heads), keep_predictions=o.predictions)
    res["grid"] = grid
    task.finish(res, datasets)
    return res, per_key


def _merged(runs: list[tuple[dict, dict]]) -> dict:
    """The results of several tasks (a regression run's targets) as one: records side by side."""
    out = runs[0][0]
    for res, _ in runs[1:]:
        for field in ("cells", "folds", "grid"):
            out[field] += res[field]
        out["target_summary"].update(res["target_summary"])
        out["notes"] += [n for n in res["notes"] if n not in out["notes"]]
    return out


def _run_plan(plan: ClassifyPlan, datasets: list[Dataset] | None) -> dict:
    """:func:`run_classify` once its plan is decided."""
    o = plan.options
    source = "" if datasets is not None else o.cache  # where face boxes are read (none for arrays)
    datasets, split = build_datasets(plan, datasets)
    t0 = time.perf_counter()
    tasks, cfg = _tasks(plan, datasets, replace(plan.eval, split=split))
    runs = [run_task(plan, datasets, cfg, task) for task in tasks]
    res = _merged(runs)
    engines, notes = tasks[0].engines(runs[0][1], cfg)
    res["notes"] += notes
    res.update(plan.reported)
    if o.insight:
        from .insight import add_insight

        add_insight(res, datasets, o.insight, o.seed, source)
    res["provenance"] = _provenance(plan, datasets, cfg, engines, time.perf_counter() - t0)
    engine_plan = {k: r["engine_plan"] for k, r in runs[0][1].items() if "engine_plan" in r}
    if engine_plan:
        res["provenance"]["engine_plan"] = _with_actual_times(engine_plan, res["folds"])
    return res


def _with_actual_times(engine_plan: dict, folds: list[dict]) -> dict:
    """Each engine decision with the time its head actually took beside the time predicted for it
    (every fold's fit, inner CV included), so a calibration that mispredicts is seen."""
    spent: dict = {}
    for f in folds:
        if isinstance(f.get("seconds"), (int, float)):
            at = (f["key"], f["head"])
            spent[at] = spent.get(at, 0.0) + f["seconds"]
    out = {}
    for key, heads in engine_plan.items():
        out[key] = {}
        for head, d in heads.items():  # EngineDecision.as_dict()
            actual = spent.get((key, head))
            predicted = d["predicted"].get(d["engine"])
            extra = {} if actual is None else {"actual_seconds": round(actual, 4)}
            if actual and predicted:
                extra["predicted_over_actual"] = round(predicted / actual, 3)
            out[key][head] = {**d, **extra}
    return out
