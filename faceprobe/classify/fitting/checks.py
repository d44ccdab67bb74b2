"""What is refused before any fold runs: ``params`` no head takes or a declaration rejects, PCA
components and neighbour counts the smallest training fold cannot hold, heads the memory budget
cannot hold, grouping without subjects."""

from __future__ import annotations

import numpy as np

from ...errors import OptionError
from ..config import EvalConfig
from .folds import check_heads
from .parallel import fold_threads

__all__ = ["check_grid", "check_options", "check_sizes", "row_limits"]


def check_grid(cfg: EvalConfig) -> None:
    """Refuse ``params`` names no selected head takes, and values a head's declaration rejects."""
    taken = set().union(*(set(cfg.spec(h).params) | {f"{h}.{p}" for p in cfg.spec(h).params} for h in cfg.heads))
    stray = sorted(set(cfg.grid) - taken)
    if stray:
        raise OptionError("params", stray[0], f"no selected head takes it ({', '.join(cfg.heads)}); HEAD.NAME sets one head's")
    for h in cfg.heads:
        spec = cfg.spec(h)
        for name, values in cfg.head(spec.name).grid.items():
            for v in values:
                spec.check(name, v)


def check_options(ds, cfg: EvalConfig) -> None:
    """Refuse what the options cannot do on this dataset, before its folds are made."""
    check_grid(cfg)
    if cfg.pca is not None and not 1 <= cfg.pca <= ds.X.shape[1]:
        raise OptionError("pca", cfg.pca, f"must be between 1 and {ds.X.shape[1]}, the feature size")
    check_heads(ds, cfg)
    if cfg.split.group and not ds.has_subjects:
        raise OptionError("group", "subject", "the cache does not know every image's subject; use none")


def check_sizes(ds, cfg: EvalConfig, splits: list) -> dict[str, str]:
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
        grid = len(cfg.head(spec.name).candidates) > 1
        limit = n - -(-n // cfg.inner_cv) if grid else n  # the inner CV trains on about (inner_cv - 1) / inner_cv of it
        given = cfg.head(spec.name).grid
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


def _check_memory(ds, cfg: EvalConfig, splits: list) -> None:
    """Refuse, before any fold runs, a head whose largest fold would not fit in the memory budget."""
    from ..data.diskrows import format_size
    from ..heads.memory import head_need

    memory = ds.memory
    if memory is None or not memory.in_memory:
        return
    n = max(len(train) for _, train, _ in splits) * (1 + (len(ds.views) if cfg.augmented else 0))
    m = max(len(test) for _, _, test in splits)
    d, k = cfg.pca or ds.X.shape[1], len(ds.classes)
    workers, cores = fold_threads(cfg, len(splits))
    for h in cfg.heads:
        spec = cfg.spec(h)
        engine = cfg.engine_for(spec, spec.merged(cfg.head(spec.name).candidates[0])).name
        need = memory.need + workers * head_need(h, engine, n, m, d, k, cores)
        if need > memory.budget:
            raise OptionError("max_memory", format_size(memory.budget), f"{h} on {engine} needs about {format_size(need)} for "
                              f"{workers} fold(s) of {n} training rows x {d} at once (features included); give at least that, "
                              "or fewer parallel folds (jobs)")
