"""What to evaluate and how: the configuration every classify layer reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocols.splits import SplitSpec

__all__ = ["EvalConfig", "HeadPlan", "head_plans", "BALANCE", "BACKENDS", "cores_of"]

BALANCE = ("none", "undersample", "class-weight")
BACKENDS = ("local", "dask")


def cores_of(jobs: int) -> int:
    """``jobs``, or with -1 the cores this process may use."""
    import os

    if jobs > 0:
        return jobs
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class HeadPlan:
    """One head resolved once, for every consumer (folds, inner CV, checks, calibration, records).

    Attributes
    ----------
    spec : HeadSpec
        Its registry entry (or the entry made for an estimator instance).
    grid : dict of str -> list
        The run's ``params`` values this head takes (``NAME`` and ``HEAD.NAME``, the latter winning).
    candidates : tuple of dict
        Every combination of ``grid`` (``({},)`` when none): what inner CV chooses among.
    """

    spec: object
    grid: dict
    candidates: tuple


def head_plans(specs: dict, grid: dict) -> dict[str, HeadPlan]:
    """Each head's :class:`HeadPlan` from its entry and the run's ``params`` grid."""
    from .heads.registry import head_grid, own_grid

    return {h: HeadPlan(spec, own_grid(spec, grid), tuple(head_grid(spec, grid))) for h, spec in specs.items()}


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how (immutable: a changed setting is a new config, ``dataclasses.replace``).

    Attributes
    ----------
    heads : list of str
        Names in :data:`~faceprobe.classify.heads.registry.HEADS`.
    grid : dict of str -> list
        ``--param`` values; each head uses the names it takes. More than one combination
        is chosen by an inner CV inside each outer training fold (nested CV).
    split : SplitSpec
    balance : str
        ``none``, ``undersample`` (training rows of larger classes dropped at random, per
        fold) or ``class-weight`` (as each head's ``balance`` capability says).
    pca : int or None
        PCA components, fitted on the training fold.
    augmented : bool
        Add the training images' augmented views to training folds.
    inner_cv : int
        Folds of the inner CV that picks hyperparameters.
    jobs : int
        Parallel folds (joblib).
    progress : bool
        Show a progress bar over folds (stderr).
    backend : str
        ``local`` (joblib processes on this machine) or ``dask`` (joblib's Dask backend on a
        dask.distributed cluster; the ``dask`` extra). Results are identical either way.
    scheduler : str or None
        Dask scheduler address; None starts a local cluster with ``jobs`` workers.
    engine : str
        ``auto`` (per head, the engine timed fastest on this machine for work of the run's
        shape: :mod:`~faceprobe.classify.fitting.calibrate`), ``sklearn``, ``onedal`` or
        ``cuml`` (:mod:`~faceprobe.classify.engines`).
    cores : int
        Threads one fold's fits may use (set by :func:`~faceprobe.classify.evaluate.evaluate`
        from ``jobs`` and the number of fold processes); results do not depend on it.
    engine_status : dict of str -> (version, why)
        Every engine's status, read once when evaluation starts.
    engine_plan : dict of str -> str
        With ``engine="auto"``: per head, the engine its calibration chose for the dataset being
        evaluated (set by :func:`~faceprobe.classify.fitting.calibrate.plan_engines`); a head
        not in it takes the highest-ranked engine it accepts.
    as_rows : int or None
        None in every evaluation. ``auto``'s calibration (:mod:`~faceprobe.classify.fitting.calibrate`)
        times samples of m training rows standing for the run's folds of ``as_rows``: choices that
        depend on size (the precomputed-kernel path, which kernels are kept) are made as for the
        run's fold, and kernel caches (libsvm's and oneDAL's ``cache_size``) get (m / as_rows)^2
        of their size, so that a sample's kernel outgrows its cache as the run's does.
    specs : dict of str -> HeadSpec
        The heads' registry entries, taken when the plan is made (:meth:`spec`), so that
        worker processes use the same heads, also ones registered in this process only.
    plans : dict of str -> HeadPlan
        Each head resolved once (entry, own grid, candidates) when the plan is made; :meth:`head`.
    """

    heads: list[str]
    grid: dict = field(default_factory=dict)
    split: SplitSpec = field(default_factory=SplitSpec)
    balance: str = "none"
    pca: int | None = None
    augmented: bool = False
    inner_cv: int = 3
    jobs: int = 1
    progress: bool = False
    backend: str = "local"
    scheduler: str | None = None
    engine: str = "auto"
    cores: int = 1
    engine_status: dict = field(default_factory=dict)
    engine_plan: dict = field(default_factory=dict)
    as_rows: int | None = None
    specs: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)

    def engine_for(self, spec, params: dict):
        """The :class:`~faceprobe.classify.engines.EngineChoice` of a head with ``params`` (defaults merged)."""
        from .engines import choose_engine

        requested = self.engine_plan.get(spec.name, self.engine) if self.engine == "auto" else self.engine
        return choose_engine(requested, spec, params, self.engine_status)

    def head(self, name: str) -> HeadPlan:
        """The head's :class:`HeadPlan`: as resolved into ``plans``, else resolved now (a config
        built by hand)."""
        if name in self.plans:
            return self.plans[name]
        return head_plans({name: self.spec(name)}, self.grid)[name]

    def spec(self, head: str):
        """The head's entry: as taken into ``plans`` or ``specs``, else from the registry."""
        if head in self.plans:
            return self.plans[head].spec
        if head in self.specs:
            return self.specs[head]
        from .heads.registry import HEADS

        return HEADS.get(head)
