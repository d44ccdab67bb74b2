"""Cross-validate heads on cached features, with everything that learns fitted inside training folds."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import FaceprobeError, OptionError
from .config import EvalConfig, cores_of
from .data.dataset import Dataset
from .fitting.folds import check_heads, choose_params, make_fold
from .heads.registry import HEADS, head_grid, own_grid
from .heads.memory import PeakRSS
from .metrics import SUMMARY_METRICS, confusion_metrics, fold_metrics
from .protocols.splits import make_splits

__all__ = ["EvalConfig", "FoldTask", "evaluate", "prepare_config", "run_on_dask", "run_fold_tasks", "check_grid", "row_limits",
           "fold_workers"]


def prepare_config(cfg: EvalConfig) -> EvalConfig:
    """The config with its heads' registry entries and every engine's status taken once (a study
    evaluates several keys with one config; workers get the entries with their tasks, so heads
    registered in this process only work there too). Returns ``cfg`` itself when already done.
    The values were checked once, by the option table (:func:`~faceprobe.classify.plan.make_plan`)."""
    if cfg.specs and cfg.engine_status:
        return cfg
    from .engines import check_engine

    specs = {h: cfg.specs.get(h) or HEADS.get(h) for h in cfg.heads}
    return replace(cfg, specs=specs, engine_status=check_engine(cfg.engine, specs, dict(HEADS.items())))


def check_grid(cfg: EvalConfig) -> None:
    """Refuse ``params`` names no selected head takes, and values a head's declaration rejects."""
    taken = set().union(*(set(cfg.spec(h).params) | {f"{h}.{p}" for p in cfg.spec(h).params} for h in cfg.heads))
    stray = sorted(set(cfg.grid) - taken)
    if stray:
        raise OptionError("params", stray[0], f"no selected head takes it ({', '.join(cfg.heads)}); HEAD.NAME sets one head's")
    for h in cfg.heads:
        spec = cfg.spec(h)
        for name, values in own_grid(spec, cfg.grid).items():
            for v in values:
                spec.check(name, v)


def _check_config(cfg: EvalConfig, ds: Dataset) -> None:
    check_grid(cfg)
    if cfg.pca is not None and not 1 <= cfg.pca <= ds.X.shape[1]:
        raise OptionError("pca", cfg.pca, f"must be between 1 and {ds.X.shape[1]}, the feature size")
    check_heads(ds, cfg)
    if cfg.split.group and not ds.has_subjects:
        raise OptionError("group", "subject", "the cache does not know every image's subject; use none")


def _check_sizes(ds: Dataset, cfg: EvalConfig, splits: list) -> dict[str, str]:
    """Refuse, before any fold runs, PCA components or neighbour counts the smallest training fold
    cannot hold. A value the caller gave is refused (it names ``params``); a head's own default
    that does not fit fails that head only: returns head -> why."""
    sizes = []
    for _, train, _ in splits:
        _, counts = np.unique(ds.y[train], return_counts=True)
        sizes.append(int(counts.min()) * len(counts) if cfg.balance == "undersample" else len(train))
    n = min(sizes)
    _check_memory(ds, cfg, splits)
    if cfg.pca is not None and cfg.pca > n:
        raise OptionError("pca", cfg.pca, f"more components than the {n} training rows of the smallest fold; use at most {n}")
    return row_limits(cfg, n)


def row_limits(cfg: EvalConfig, n: int) -> dict[str, str]:
    """Refuse counts (``at_most_rows`` parameters such as knn's ``k``) the given values of which exceed
    the ``n`` training rows of the smallest fold; a head whose own default does not fit fails alone:
    returns head -> why."""
    failed: dict[str, str] = {}
    for h in cfg.heads:
        spec = cfg.spec(h)
        grid = len(head_grid(spec, cfg.grid)) > 1
        limit = n - -(-n // cfg.inner_cv) if grid else n  # the inner CV trains on about (inner_cv - 1) / inner_cv of it
        given = own_grid(spec, cfg.grid)
        for name, param in spec.declared.items():
            values = given.get(name, [param.default])
            if param.at_most_rows and max(values) > limit:
                where = "inner-CV training rows" if grid else "training rows"
                if name not in given:
                    failed[h] = (f"its default {name}={param.default} is more than the {limit} {where} of the smallest fold; "
                                 f"give `params` {h}.{name}={limit} or less")
                    continue
                raise OptionError("params", f"{name}={max(values)}", f"{h}: more than the {limit} {where} of the smallest fold; "
                                  f"use {name} <= {limit}")
    return failed


def _check_memory(ds: Dataset, cfg: EvalConfig, splits: list) -> None:
    """Refuse, before any fold runs, a head whose largest fold would not fit in the memory budget."""
    from .data.diskrows import format_size
    from .heads.memory import head_need

    memory = ds.memory
    if memory is None or not memory.in_memory:
        return
    n = max(len(train) for _, train, _ in splits) * (1 + (len(ds.views) if cfg.augmented else 0))
    m = max(len(test) for _, _, test in splits)
    d, k = cfg.pca or ds.X.shape[1], len(ds.classes)
    workers, cores = _fold_threads(cfg, len(splits))
    for h in cfg.heads:
        spec = cfg.spec(h)
        engine = cfg.engine_for(spec, spec.merged(head_grid(spec, cfg.grid)[0])).name
        need = memory.need + workers * head_need(h, engine, n, m, d, k, cores)
        if need > memory.budget:
            raise OptionError("max_memory", format_size(memory.budget), f"{h} on {engine} needs about {format_size(need)} for "
                              f"{workers} fold(s) of {n} training rows x {d} at once (features included); give at least that, "
                              "or fewer parallel folds (jobs)")


def _in_class_order(est, raw: np.ndarray, classes: list[str]) -> np.ndarray:
    """Scores with one column per dataset class (a class absent from training gets the minimum)."""
    if raw.ndim == 1:  # binary decision values: positive column is classes_[1]
        raw = np.stack([-raw, raw], axis=1)
    out = np.full((len(raw), len(classes)), float(np.min(raw)) - 1.0)
    for j, c in enumerate(classes):
        if c in est.classes_:
            out[:, j] = raw[:, list(est.classes_).index(c)]
    return out


@dataclass(frozen=True)
class FoldTask:
    """One outer fold: its place (repeat, fold), its rows, the seed of what it fits, and a fixed
    split's validation rows (hyperparameters are then chosen on them instead of by inner CV)."""

    fold: int
    repeat: int
    train: np.ndarray
    test: np.ndarray
    seed: int
    val: np.ndarray | None = None


def _run_fold(ds: Dataset, cfg: EvalConfig, task: FoldTask, classes: list) -> list[dict]:
    """One fold, every head. BLAS runs single-threaded, so the numbers do not depend on
    ``jobs`` or on the machine's core count (iterative solvers such as lbfgs sum in a
    thread-count-dependent order)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_fold_heads(ds, cfg, task, classes)


def _choose_on_val(head: str, cfg: EvalConfig, on_val, y_val: np.ndarray) -> tuple[dict, dict]:
    """The grid combination with the best balanced accuracy on the validation rows (each fitted
    on the training rows only)."""
    from sklearn.metrics import balanced_accuracy_score

    cands = head_grid(cfg.spec(head), cfg.grid)
    if len(cands) == 1:
        return cands[0], {}
    tr = np.arange(len(on_val.ytr))
    scores = [balanced_accuracy_score(y_val, on_val.fit_predict(head, p, tr, None, on_val.ytr)[1]) for p in cands]
    best = max(range(len(cands)), key=lambda i: (scores[i], -i))
    return cands[best], {", ".join(f"{k}={v}" for k, v in sorted(c.items())): scores[i] for i, c in enumerate(cands)}


def _run_fold_heads(ds: Dataset, cfg: EvalConfig, task: FoldTask, classes: list) -> list[dict]:
    fold, repeat, train, test, seed, val = task.fold, task.repeat, task.train, task.test, task.seed, task.val
    prepared = make_fold(ds, train, test, cfg, seed)
    on_val = make_fold(ds, train, val, cfg, seed) if val is not None and len(val) else None
    tr = np.arange(len(prepared.ytr))
    out = []
    for head in cfg.heads:
        where = {"head": head, "fold": fold, "repeat": repeat}
        try:
            with PeakRSS() as mem:
                if on_val is not None:
                    params, inner = _choose_on_val(head, cfg, on_val, ds.y[val])
                else:
                    params, inner = choose_params(head, cfg, prepared, seed)
                est, pred, raw = prepared.fit_predict(head, params, tr, None, prepared.ytr)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 -- one head failing (a plug-in may raise anything) must not lose the others
            out.append({**where, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
            continue
        scores = _in_class_order(est, raw, classes)
        met = fold_metrics(ds.y[test], pred, classes, scores)
        choice = prepared.engine_for(head, params)
        if choice.note:
            prepared.notes.add(choice.note)
        out.append({**where, "params": params, "inner_scores": inner, "engine": choice.name, "cores": cfg.cores,
                    "seconds": round(mem.seconds, 3), "peak_rss_bytes": int(mem.peak), "added_rss_bytes": int(mem.added),
                    "n_train": int(len(prepared.ytr)), "n_test": int(len(test)), **met,
                    "test_paths": ds.paths[test].tolist(), "test_subjects": ds.groups[test].tolist(),
                    "y_true": ds.y[test].tolist(), "y_pred": list(map(str, pred)),
                    "scores": np.round(scores, 6).tolist()})
    if prepared.notes and out:
        out[-1]["fold_notes"] = sorted(prepared.notes)
    return out


def fold_workers(jobs: int, tasks: int) -> int:
    """Processes worth starting: ``jobs`` (-1: the cores this process may use), at most one per task."""
    return max(1, min(cores_of(jobs), tasks))


def _fold_threads(cfg: EvalConfig, tasks: int) -> tuple[int, int]:
    """(fold processes, threads per fold): the ``jobs`` cores shared out; one thread per Dask task."""
    if cfg.backend == "dask":
        return 1, 1
    workers = fold_workers(cfg.jobs, tasks)
    return workers, max(1, cores_of(cfg.jobs) // workers)


def run_fold_tasks(tasks: list, train_sizes: list[int], ds, cfg: EvalConfig, desc: str, workers: int) -> list:
    """Run delayed fold tasks (largest training folds first, so no worker idles on the last, longest
    one) on ``workers`` processes or Dask, with a progress bar; results come back in task order."""
    from joblib import Parallel

    from ..progress import progress

    def run(stream):
        return list(progress(stream, len(tasks), desc, "fold", cfg.progress))

    order = sorted(range(len(tasks)), key=lambda i: -train_sizes[i])
    ordered = [tasks[i] for i in order]
    if cfg.backend == "dask":
        results = run_on_dask(ordered, ds, cfg, run)
    elif workers > 1:
        results = run(Parallel(n_jobs=workers, return_as="generator")(ordered))
    else:
        results = run(t[0](*t[1], **t[2]) for t in ordered)
    return [r for _, r in sorted(zip(order, results), key=lambda pair: pair[0])]


def run_on_dask(tasks, ds: Dataset, cfg: EvalConfig, run):
    """Run the fold tasks through joblib's Dask backend (the dataset is scattered once)."""
    from joblib import Parallel, parallel_config

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("backend", "dask", "needs dask.distributed: pip install 'faceprobe[dask]'") from None
    cluster = None
    try:
        if cfg.scheduler:
            client = Client(cfg.scheduler, timeout=10)
        else:
            workers = cfg.jobs if cfg.jobs > 0 else None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        raise OptionError("scheduler", cfg.scheduler, f"cannot reach the Dask scheduler ({exc})") from None
    try:
        with client, parallel_config(backend="dask", scatter=[ds]):
            return run(Parallel(n_jobs=-1, return_as="generator")(tasks))
    finally:
        if cluster is not None:
            cluster.close()


def _plan_engines(ds: Dataset, cfg: EvalConfig, splits: list, workers: int):
    """``auto``'s engine per head (timed, or remembered), announced with the run's size and its estimate."""
    from ..progress import announce, duration
    from .fitting.calibrate import plan_engines

    cfg, decisions = plan_engines(ds, cfg, splits, workers)
    size = f"{len(splits)} folds x {len(cfg.heads)} heads on {workers} process{'es' if workers > 1 else ''}"
    known = {h: d.estimate() for h, d in decisions.items() if d.estimate() is not None}
    if known:
        rest = [h for h in cfg.heads if h not in known]
        guess = f"; about {duration(sum(known.values()))} for {', '.join(known)}" + (f" ({', '.join(rest)} not timed)" if rest else "")
    else:
        guess = "; an estimate after the first fold"
    announce(f"classify {ds.key}: {size}{guess}", cfg.progress)
    return cfg, decisions


def _aggregate(folds: list[dict], classes: list[str], repeats: int) -> dict:
    failed = [f for f in folds if "error" in f]
    if failed:  # no figures from a subset of folds: they would not be comparable
        first = failed[0]
        return {"summary": {name: None for name in SUMMARY_METRICS}, "per_class": {}, "confusion": None, "folds": folds,
                "error": f"failed in {len(failed)} of {len(folds)} folds (first: repeat {first['repeat']}, fold {first['fold']}: "
                         f"{first['error']})"}
    summary = {}
    for name in SUMMARY_METRICS:
        vals = [f[name] for f in folds if f[name] is not None]
        if not vals:
            summary[name] = None
            continue
        if repeats > 1:  # spread over repeated runs: std of each run's mean
            per_run = [np.mean([f[name] for f in folds if f["repeat"] == r and f[name] is not None]) for r in range(repeats)]
            summary[name] = {"mean": float(np.mean(per_run)), "std": float(np.std(per_run, ddof=1)), "over": "repeats"}
        else:
            summary[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "over": "folds"}
    cm = np.sum([f["confusion"] for f in folds], axis=0)
    pooled = confusion_metrics(cm, classes)
    return {"summary": summary, "per_class": pooled["per_class"], "confusion": cm.tolist(), "folds": folds,
            "pooled": {name: pooled[name] for name in SUMMARY_METRICS if pooled[name] is not None},
            "per_subject": _per_subject(folds), **_cost(folds)}


def _per_subject(folds: list[dict]) -> dict:
    """Per subject: test predictions and the share right, pooled over folds and repeats (which people fail)."""
    right: dict[str, list] = {}
    for f in folds:
        for s, t, p in zip(f.get("test_subjects", []), f["y_true"], f["y_pred"]):
            right.setdefault(str(s), []).append(t == p)
    return {s: {"n": len(v), "accuracy": float(np.mean(v))} for s, v in sorted(right.items())}


def _cost(folds: list[dict]) -> dict:
    """What a head cost: its engines, seconds over folds, and the highest resident memory of a
    fold's process while it ran (``added``: above the memory at its start)."""
    return {"engine": sorted({f["engine"] for f in folds}), "seconds": round(sum(f["seconds"] for f in folds), 3),
            "peak_rss_bytes": max(f["peak_rss_bytes"] for f in folds), "added_rss_bytes": max(f["added_rss_bytes"] for f in folds)}


def evaluate(ds: Dataset, cfg: EvalConfig) -> dict:
    """Evaluate every head under the split protocol.

    Parameters
    ----------
    ds : Dataset
    cfg : EvalConfig

    Returns
    -------
    dict
        ``heads``: per head the ``summary`` (mean and std of each metric), pooled
        ``per_class`` figures and ``confusion`` (summed over test folds, rows true), and the
        per-fold results; ``classes``, ``rows``, ``subjects``, ``splits``, ``notes``.
    """
    from joblib import delayed

    cfg = prepare_config(cfg)
    _check_config(cfg, ds)
    classes = ds.classes
    fixed = ds.fixed if cfg.split.fixed is not None else None
    if cfg.split.fixed is not None and fixed is None:
        raise FaceprobeError("a fixed split needs the dataset's rows of each part (classify.fixedsplit.fixed_rows)")
    splits = [(0, fixed.train, fixed.test)] if fixed is not None else make_splits(ds.y, ds.groups if cfg.split.group else None, cfg.split)
    failed = _check_sizes(ds, cfg, splits)
    heads_given = list(cfg.heads)
    cfg = replace(cfg, heads=[h for h in cfg.heads if h not in failed])
    notes = list(ds.notes)
    for r, train, test in splits:
        missing = sorted(set(classes) - set(ds.y[test]))
        if missing:
            notes.append(f"repeat {r}: a test set has no {', '.join(missing)} rows (macro averages skip them there)")
            break
    per_repeat: dict[int, int] = {}
    workers, cores = _fold_threads(cfg, len(splits))
    cfg, decisions = _plan_engines(ds, replace(cfg, cores=cores), splits, workers)
    tasks = []
    for r, train, test in splits:
        fold = per_repeat.get(r, 0)
        per_repeat[r] = fold + 1
        val = fixed.val if fixed is not None else None
        tasks.append(delayed(_run_fold)(ds, cfg, FoldTask(fold, r, train, test, cfg.split.seed + r, val), classes))
    results = run_fold_tasks(tasks, [len(train) for _, train, _ in splits], ds, cfg, "classify", workers)
    flat = [res for fold in results for res in fold]
    heads = {h: _aggregate([f for f in flat if f["head"] == h], classes, cfg.split.repeats) if h not in failed else
             {"summary": {name: None for name in SUMMARY_METRICS}, "per_class": {}, "confusion": None, "folds": [], "engine": [],
              "error": failed[h]} for h in heads_given}
    if fixed is not None:
        from .protocols.fixed import fixed_figures

        heads = {h: fixed_figures(r, fixed, classes, cfg.split.seed) for h, r in heads.items()}
        notes += fixed.notes
    fold_notes = [n for f in flat for n in f.pop("fold_notes", [])]
    notes += [f"{n} ({fold_notes.count(n)} of {len(splits)} folds)" for n in sorted(set(fold_notes))]
    notes += [f"{h}: no results: {r['error']}" for h, r in heads.items() if "error" in r]
    notes += [d.line for d in decisions.values()]
    return {
        "classes": classes,
        "rows": int(len(ds.y)),
        "subjects": int(len(set(ds.groups))) if ds.has_subjects else None,
        "class_counts": {c: int(np.sum(ds.y == c)) for c in classes},
        "splits": len(splits),
        "notes": notes,
        "heads": heads,
        "engine_plan": {h: d.as_dict() for h, d in decisions.items()},
    }
