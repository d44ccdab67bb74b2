"""A regression run: every target, every key, every regressor on the same folds; grids with the
metric's direction; flat records with a ``target`` field (classify's shape otherwise)."""

from __future__ import annotations

import time

from dataclasses import replace

import numpy as np

from ...errors import FaceprobeError, OptionError
from ..records import flatten
from .metrics import REGRESSION_METRICS
from ..study import grid_cells
from .evaluate import TargetSpec, evaluate_target
from .figures import clip_figures
from .targets import check_in_bins, target_values

__all__ = ["regress"]


def _clips(per_key: dict, datasets: list, column: str, repeats: int) -> None:
    for d in datasets:
        if column not in d.columns:
            raise OptionError("aggregate", column, f"no such column; the cache has: {', '.join(sorted(d.columns))}")
        clip_of = dict(zip(d.paths.tolist(), np.asarray(d.columns[column]).astype(str).tolist()))
        for r in per_key[d.key]["heads"].values():
            if "error" not in r:
                r["clips"] = clip_figures(r["folds"], clip_of, column, repeats)
                split = r["clips"]["split_clips"]
                note = (f"{split} {column} values have frames in several test folds (each part counts as a clip); "
                        f"`group={column}` keeps them together")
                if split and note not in per_key[d.key]["notes"]:
                    per_key[d.key]["notes"].append(note)


def _permutations(per_key: dict, datasets: list, cfg, target: TargetSpec, o, seconds_each: float) -> None:
    """Each cell's p-value against ``o.permutations`` permutations of the target (between subjects when grouped)."""
    from ..permutation import add_permutations

    quiet = replace(cfg, progress=False)

    def score(d, values):
        try:
            return evaluate_target(replace(d, notes=[]), quiet, replace(target, values=values))
        except FaceprobeError:  # a permutation left a training fold constant: no score
            return None

    add_permutations(per_key, datasets, cfg, metric=target.metric, values=target.values, n=o.permutations, seed=o.seed,
                     score=score, lower_is_better=target.lower_is_better, seconds_each=seconds_each)


def _one_target(plan, datasets: list, cfg, target: TargetSpec) -> dict:
    o = plan.options
    t_eval = time.perf_counter()
    per_key = {d.key: evaluate_target(d, cfg, target) for d in datasets}
    t_eval = time.perf_counter() - t_eval
    failed = [(k, h, r["error"]) for k, res in per_key.items() for h, r in res["heads"].items() if "error" in r]
    if len(failed) == len(per_key) * len(cfg.heads):
        key, head, why = failed[0]
        raise FaceprobeError(f"no head gave results ({len(failed)} of {len(failed)} failed); first, {head} on {key}: {why}")
    if o.aggregate:
        _clips(per_key, datasets, o.aggregate, cfg.split.repeats)
    if o.permutations:
        _permutations(per_key, datasets, cfg, target, o, t_eval)
    if o.train_where:
        from ..protocols.corpus import add_within_corpus

        def run_eval(sub, c):
            return evaluate_target(sub, c, replace(target, values=target_values(sub, target.column)))

        add_within_corpus(per_key, datasets, cfg, o, run_eval)
    if plan.curve is not None:
        from ..curve import add_curves
        from .evaluate import target_splits

        add_curves(per_key, datasets, cfg, plan.curve, plan.metric, lambda sub, c: evaluate_target(sub, c, target),
                   lambda d: target_splits(d, cfg))
    grid = grid_cells(per_key, plan.metric, single_split=cfg.split.single, lower_is_better=target.lower_is_better,
                      regression=True)
    from ..permutation import with_chance

    with_chance(grid, per_key)
    res = flatten(per_key, list(cfg.heads), keep_predictions=o.predictions)
    for record in res["cells"] + res["folds"] + grid:
        record["target"] = target.column
    values = target.values
    res["grid"] = grid
    res["target_summary"] = {target.column: {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                             "min": float(values.min()), "max": float(values.max())}}
    return res


def regress(plan, datasets: list, split) -> tuple[dict, object]:
    """Evaluate the plan's regressors on each of its targets; returns (flat results, the config used).

    Raises
    ------
    OptionError
        For a target column that is missing, not numeric, or outside the bins (before any fold runs).
    """
    cfg = replace(plan.eval, split=split)
    targets = []
    for column in plan.targets:
        values = target_values(datasets[0], column)  # every key has the same rows, in one order
        if plan.bins is not None:
            check_in_bins(datasets[0], values, plan.bins, column)
        targets.append(TargetSpec(column, values, plan.metric, plan.bins))
    out = None
    for target in targets:
        res = _one_target(plan, datasets, cfg, target)
        if out is None:
            out = res
            continue
        out["cells"] += res["cells"]
        out["folds"] += res["folds"]
        out["grid"] += res["grid"]
        out["target_summary"].update(res["target_summary"])
        out["notes"] += [n for n in res["notes"] if n not in out["notes"]]
    out.update(task="regression", targets=list(plan.targets), metric=plan.metric,
               direction=REGRESSION_METRICS[plan.metric], bins=None if plan.bins is None else list(plan.bins))
    return out, cfg
