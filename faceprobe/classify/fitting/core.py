"""The one evaluation core: every task's outer folds made, checked, run and summarised the same way.

A task (:class:`~faceprobe.classify.evaluate.Classification`,
:class:`~faceprobe.classify.regression.task.Regression`) supplies what differs:

``ready(ds, cfg)``
    The configuration made ready once (registry entries, engines' status), and what the options
    cannot do on ``ds`` refused before any fold is made.
``splits(ds, cfg)``
    The outer folds, (repeat, train, test) triples.
``check(ds, cfg, splits)``
    Refuse what cannot work before any fold runs; return the heads whose own defaults cannot fit.
``plan_engines(ds, cfg, splits, workers)``
    ``(cfg, decisions)``: the engine of each head (``decisions`` None where the task has one engine).
``fold(ds, cfg, fold_task)``
    The fold's work: ``choose(head)`` -> (params, inner scores), ``fit(head, params)`` -> what was
    fitted, ``record(head, params, fitted)`` -> the fold record's engine, sizes, figures and
    predictions, and ``notes`` (a set).
``summarize(per_head, ds, cfg)``
    Each head's figures from its fold records (or the reason it failed, a string).
``split_notes``, ``after_notes``, ``describe``, ``desc``
    What the result says before and after the fold notes, its classes, the progress bar's name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ...errors import first_line
from ..config import EvalConfig
from ..engines.threads import thread_map
from ..heads.memory import PeakRSS
from .parallel import fold_threads, run_fold_tasks

__all__ = ["FoldTask", "evaluate_task", "pick_params", "best_of"]


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


def best_of(cands: list[dict], scores: list[float], sign: float = 1) -> tuple[dict, dict]:
    """The candidate with the highest score (the first on ties), and every candidate's score
    (``scores`` oriented so that higher is better; ``sign`` -1 reports a lower-is-better metric in
    its own sign)."""
    best = max(range(len(cands)), key=lambda i: (scores[i], -i))
    return cands[best], {", ".join(f"{k}={v}" for k, v in sorted(c.items())): sign * s for c, s in zip(cands, scores)}


def pick_params(cands: list[dict], splits: list, score: Callable, cores: int = 1, sign: float = 1) -> tuple[dict, dict]:
    """The grid combination with the best mean ``score(params, train, test)`` over ``splits``
    (inner folds, or one fixed training/validation pair); candidates are independent, so the
    same scores come on any number of threads ``cores``."""
    if len(cands) == 1:
        return cands[0], {}
    tasks = [(params, split) for params in cands for split in splits]
    vals = thread_map(lambda t: score(t[0], *t[1]), tasks, cores)
    n = len(splits)
    return best_of(cands, [float(np.mean(vals[i * n:(i + 1) * n])) for i in range(len(cands))], sign)


def _run_fold(ds, cfg: EvalConfig, fold_task: FoldTask, task) -> list[dict]:
    """One fold, every head. BLAS runs single-threaded, so the numbers do not depend on ``jobs``
    or on the machine's core count (iterative solvers such as lbfgs sum in a
    thread-count-dependent order)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fold_heads(ds, cfg, fold_task, task)


def _fold_heads(ds, cfg: EvalConfig, fold_task: FoldTask, task) -> list[dict]:
    work = task.fold(ds, cfg, fold_task)
    out = []
    for head in cfg.heads:
        where = {"head": head, "fold": fold_task.fold, "repeat": fold_task.repeat}
        try:
            with PeakRSS() as mem:
                params, inner = work.choose(head)
                fitted = work.fit(head, params)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 -- one head failing (a plug-in may raise anything) must not lose the others
            out.append({**where, "error": first_line(exc)})
            continue
        rec = work.record(head, params, fitted)
        out.append({**where, "params": params, "inner_scores": inner, "engine": rec.pop("engine"), "cores": rec.pop("cores"),
                    "seconds": round(mem.seconds, 3), "peak_rss_bytes": int(mem.peak), "added_rss_bytes": int(mem.added),
                    **rec})
    if work.notes and out:
        out[-1]["fold_notes"] = sorted(work.notes)
    return out


def evaluate_task(ds, cfg: EvalConfig, task) -> dict:
    """Evaluate every head of ``cfg`` on ``ds`` under its split protocol, as ``task`` fits and scores.

    Returns
    -------
    dict
        ``heads`` (per head what ``task.summarize`` made of its folds), ``classes``, ``rows``,
        ``subjects``, ``class_counts``, ``splits``, ``notes``, and ``engine_plan`` where the task
        chose engines.
    """
    from joblib import delayed

    cfg = task.ready(ds, cfg)
    splits = task.splits(ds, cfg)
    failed = task.check(ds, cfg, splits)
    heads_given = list(cfg.heads)
    cfg = replace(cfg, heads=[h for h in cfg.heads if h not in failed])
    fixed = ds.fixed if cfg.split.fixed is not None else None
    notes = list(ds.notes) + task.split_notes(ds, splits)
    workers, cores = fold_threads(cfg, len(splits))
    cfg, decisions = task.plan_engines(ds, replace(cfg, cores=cores), splits, workers)
    per_repeat: dict[int, int] = {}
    tasks = []
    for r, train, test in splits:
        fold = per_repeat.get(r, 0)
        per_repeat[r] = fold + 1
        fold_task = FoldTask(fold, r, train, test, cfg.split.seed + r, fixed.val if fixed is not None else None)
        tasks.append(delayed(_run_fold)(ds, cfg, fold_task, task))
    results = run_fold_tasks(tasks, [len(train) for _, train, _ in splits], ds, cfg, task.desc, workers)
    flat = [res for fold in results for res in fold]
    fold_notes = [n for f in flat for n in f.pop("fold_notes", [])]
    heads = task.summarize({h: failed[h] if h in failed else [f for f in flat if f["head"] == h] for h in heads_given}, ds, cfg)
    notes += list(fixed.notes) if fixed is not None else []
    notes += [f"{n} ({fold_notes.count(n)} of {len(splits)} folds)" for n in sorted(set(fold_notes))]
    notes += [f"{h}: no results: {r['error']}" for h, r in heads.items() if "error" in r]
    notes += task.after_notes(ds, splits, decisions)
    out = {**task.describe(ds), "rows": int(len(ds.y)), "subjects": int(len(set(ds.groups))) if ds.has_subjects else None,
           "splits": len(splits), "notes": notes, "heads": heads}
    if decisions is not None:
        out["engine_plan"] = {h: d.as_dict() for h, d in decisions.items()}
    return out
