"""``engine="auto"``: each head runs on the engine measured fastest on this machine for work of the run's shape.

A fixed rank (oneDAL before scikit-learn) was right on the Intel AMX machine where oneDAL was
benchmarked and 5.5x slower than faceprobe's own scikit-learn engine on an AMD EPYC: there the
nested svm grid shares each gamma's kernel across C values on scikit-learn, while oneDAL's svm
(float64 rows at tol 1e-5, for fidelity) refits from scratch, and oneDAL's logreg has more
per-call overhead than lbfgs on a few thousand rows. Which engine wins depends on the CPU, the
libraries, the head, its grid and the problem's size, so it is measured:

* The unit timed is one outer fold's work for the head, exactly as the run does it (inner-CV
  grid included, every fit and prediction) on a stratified sample of the run's own training
  rows, on the cores one fold gets.
* A sample stands for the run's fold (``EvalConfig.as_rows``): it takes the code paths the
  fold's size takes (faceprobe's scikit-learn svm and knn work on precomputed n x n matrices up
  to 12,000 rows, on libsvm's 200 MB kernel cache beyond), and its kernel caches get
  (m / n)^2 of their size, so that its kernel outgrows its cache as the run's does. Timed with
  their own size's paths, 8,192 rows of face vectors showed oneDAL's svm 1.2x slower than
  scikit-learn; at the run's 28,000 rows it was 5.3x faster.
* Samples grow from 256 rows, doubling up to the run's training rows. scikit-learn is timed
  first at each size; when its time for the whole run is under :data:`SMALL_WORK_S`, no other
  engine is timed (nothing to gain that would pay for timing it). Growth stops at the run's
  size; when no ratio can cross the choice by the run's size, taking engines' growth exponents
  to differ by at most :data:`GAP`; or when the next size would exceed the budget
  (:data:`BUDGET_SHARE` of scikit-learn's predicted time for the run, within
  :data:`BUDGET_S`). Each engine first makes one untimed run on a few rows (imports, set-up).
  Beyond the largest size timed, each engine's time is extrapolated as ``t = a n^b`` from its
  last two sizes, its ratio kept within what :data:`GAP` allows.
* The decision: on a sample of at least 1/:data:`TRUST` of the run's rows, a candidate is chosen
  when it is predicted to take at most :data:`MARGIN` of scikit-learn's time at the run's size;
  on smaller samples, when it took at most that on the largest one (growth exponents read off
  small samples, where fixed costs weigh most, misled both ways on face vectors: oneDAL's svm
  looked 4x slower at 28,000 rows from 265 and 518). Where the prediction contradicts the
  largest sample, larger samples are timed within the largest budget until it is trusted.

Decisions are remembered in ``$FACEPROBE_HOME/engines.json`` keyed by everything they depend on
(CPU model and flags, cores per fold, library versions, head, grid, inner CV, PCA, balance,
features, classes and the training rows rounded to half powers of two), so a rerun, a study
over keys of one size, permutations and repeated runs time nothing. Delete the file to time
again. The results record each head's decision, its timings and its reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ...errors import first_line
from ...machine import cpu_info, home_dir, read_memo, write_memo

__all__ = ["EngineDecision", "plan_engines", "calibrations_path", "SMALL_WORK_S", "MARGIN", "BUDGET_SHARE", "BUDGET_S",
           "FIRST_ROWS", "GAP", "TRUST", "WARM_UP_ROWS", "candidates_of"]

FIRST_ROWS = 256
"""Rows of the first (smallest) sample timed."""
TRUST = 4
"""A candidate slower on every sample but predicted faster at the run's size (svm: libsvm's kernel
cache holds the samples' kernels but not the run's) is timed on growing samples up to the run's
rows / TRUST, within the largest budget; the prediction is taken from there, never from smaller."""
WARM_UP_ROWS = 64
"""Rows of the untimed run each engine makes first."""
MARGIN = 0.9
"""A candidate must be predicted to take at most this share of scikit-learn's time (timing noise)."""
BUDGET_SHARE = 0.05
"""Share of scikit-learn's predicted time for the run that calibration may spend per head ..."""
BUDGET_S = (1.0, 60.0)
"""... kept within these seconds."""
SMALL_WORK_S = BUDGET_S[0] / BUDGET_SHARE
"""scikit-learn's predicted head time for the whole run (20 s) under which no other engine is timed:
below it even the smallest calibration (:data:`BUDGET_S`) would cost more than its share
(:data:`BUDGET_SHARE`) of the run, more than choosing could gain (at 2 s, a first logreg run on the
dev faces took 2.3x scikit-learn's time, calibrating included)."""
GAP = 0.5
"""The most an engine's growth exponent is taken to differ from scikit-learn's (the widest seen: svm,
plain scikit-learn n^1.97 against oneDAL n^1.55 on an Intel Xeon): a ratio timed at m rows can move
by at most (n / m) ** GAP by n rows. It settles a choice early and bounds an extrapolation."""
_FAILED = "calibration failed"
_CLOSE = 1.3
"""A ratio within this factor of 1 at the largest size timed is timed again (noise decides less)."""
_EXPONENT = (0.5, 2.5)
"""Growth exponents outside this range (noise on small samples) are clipped."""


@dataclass(frozen=True)
class EngineDecision:
    """The engine ``auto`` chose for one head on one dataset, and why.

    Attributes
    ----------
    head, engine : str
    reason : str
        One line: the measured and predicted ratios, or why nothing else was timed.
    rows : int
        Training rows of the run's largest outer fold (the size the prediction is for).
    timed : dict of str -> list of [rows, seconds]
        Each engine's time for one fold's work of the head, per sample size.
    predicted : dict of str -> float
        Each timed engine's predicted seconds for the run's work of the head (every fold).
    seconds : float
        Time spent calibrating (0 when remembered).
    remembered : bool
        Taken from an earlier calibration on this machine.
    """

    head: str
    engine: str
    reason: str
    rows: int
    timed: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    seconds: float = 0.0
    remembered: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    def estimate(self) -> float | None:
        """Predicted seconds of the run's work of the head on the chosen engine, where it was timed on a
        sample of at least 1/:data:`TRUST` of the run's rows (small samples misjudged a 28,000-row svm by
        70x: their fixed costs hide how the work grows); else None."""
        points = self.timed.get(self.engine, [])
        return self.predicted.get(self.engine) if points and points[-1][0] * TRUST >= self.rows else None

    @property
    def line(self) -> str:
        """``svm on sklearn: onedal 6.1x slower ...`` (a note of the results)."""
        return f"engine auto: {self.head} on {self.engine}: {self.reason}" + (" (remembered)" if self.remembered else "")


def calibrations_path():
    """Where decisions are remembered: ``$FACEPROBE_HOME/engines.json``."""
    return home_dir("engines.json")


def _machine(cfg) -> dict:
    """What every decision on this machine depends on: the CPU, the cores one fold gets, the versions."""
    import scipy

    cpu = cpu_info()
    versions = {"numpy": np.__version__, "scipy": scipy.__version__,
                **{e: status[0] for e, status in sorted(cfg.engine_status.items())}}
    return {"cpu": cpu["model"], "flags": cpu["flags"], "cores": cfg.cores, "versions": versions}


def _key(machine: dict, cfg, head: str, rows: int, features: int, classes: int, fits: tuple) -> str:

    parts = {**machine, "head": head, "grid": json.dumps(cfg.head(head).grid, sort_keys=True, default=str),
             "inner_cv": cfg.inner_cv, "group": cfg.split.group, "balance": cfg.balance, "features": features,
             "classes": classes, "rows": round(2 * math.log2(max(rows, 1))) / 2, "fits": fits}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _sample(y: np.ndarray, rows: np.ndarray, m: int, rng: np.random.Generator, least: int) -> np.ndarray:
    """About ``m`` of ``rows``, each class in its share and with at least ``least`` rows (or all it has)."""
    if m >= len(rows):
        return rows
    out = []
    for c in np.unique(y[rows]):
        mine = rows[y[rows] == c]
        take = min(len(mine), max(least, round(m * len(mine) / len(rows))))
        out.append(rng.choice(mine, size=take, replace=False))
    return np.sort(np.concatenate(out))


def _time(ds, cfg, head: str, engine: str, train: np.ndarray, test: np.ndarray, seed: int) -> float:
    """Seconds of one fold's work of ``head`` on ``engine``: inner-CV grid, fit and prediction."""
    from threadpoolctl import threadpool_limits

    from .folds import choose_params, make_fold

    cfg = replace(cfg, engine=engine, engine_plan={}, heads=[head], progress=False)
    with threadpool_limits(limits=1):
        fold = make_fold(ds, train, test, cfg, seed)
        t0 = time.perf_counter()
        params, _ = choose_params(head, cfg, fold, seed)
        fold.fit_predict(head, params, np.arange(len(fold.ytr)), None, fold.ytr)
        return time.perf_counter() - t0


def _at(points: list, n: int, growth: tuple = _EXPONENT) -> float:
    """Seconds at ``n`` rows from ``[(rows, seconds), ...]``: the last point grown as the last two grew
    (quadratically from a single point), the exponent kept within the head's ``growth``."""
    (m1, t1), exponent = points[-1], 2.0
    if len(points) > 1 and points[-2][0] < m1:
        m0, t0 = points[-2]
        exponent = math.log(max(t1, 1e-6) / max(t0, 1e-6)) / math.log(m1 / m0)
    exponent = min(max(exponent, growth[0], _EXPONENT[0]), growth[1], _EXPONENT[1])
    return t1 * (n / m1) ** exponent if n > m1 else t1


@dataclass
class _Ladder:
    """The timings of one head's calibration as it grows."""

    n: int
    fits: float
    timed: dict
    growth: tuple = _EXPONENT

    @property
    def spent(self) -> float:
        """Seconds timed so far."""
        return sum(sec for points in self.timed.values() for _, sec in points)

    def total(self, engine: str) -> float:
        """Predicted seconds of the run's work of the head on ``engine``."""
        return _at(self.timed[engine], self.n, self.growth) * self.fits

    def spread(self) -> float:
        """How far a ratio timed on the largest sample may move by the run's size (:data:`GAP`)."""
        return (self.n / self.timed["sklearn"][-1][0]) ** GAP

    def ratios(self, engine: str) -> tuple[float, float]:
        """(at the largest size timed, predicted at the run's size) of ``engine`` to scikit-learn; the
        prediction grows each as it grew over its last two sizes, kept within :meth:`spread`."""
        here = self.timed[engine][-1][1] / max(self.timed["sklearn"][-1][1], 1e-6)
        there = self.total(engine) / max(self.total("sklearn"), 1e-9)
        return here, min(max(there, here / self.spread()), here * self.spread())

    def trusted(self) -> bool:
        """The largest sample is close enough to the run's size (:data:`TRUST`) to believe a predicted crossing."""
        return self.timed["sklearn"][-1][0] * TRUST >= self.n

    def crossing(self, candidates: list[str]) -> bool:
        """For some candidate the prediction at the run's size contradicts the sample (slower there, faster
        here, or the reverse) before the samples are trusted: worth timing larger ones."""
        return not self.trusted() and any((here > 1.0) != (there > 1.0) for here, there in map(self.ratios, candidates))

    def settled(self, candidates: list[str]) -> bool:
        """No candidate's choice can change by the run's size: timed at it, or every ratio moved by the
        widest gap (:meth:`spread`) stays on one side of the choice."""
        if self.timed["sklearn"][-1][0] >= self.n:
            return True
        spread = self.spread()
        return all(here / spread > MARGIN or (here <= 1.0 and here * spread <= MARGIN)
                   for here, _ in map(self.ratios, candidates))


def _sizes(n: int) -> list[int]:
    sizes = [min(n, FIRST_ROWS)]
    while sizes[-1] < n:
        sizes.append(min(n, 2 * sizes[-1]))
    return sizes


def _warm_up(ds, cfg, head: str, engines: list[str], train_rows: np.ndarray, test_rows: np.ndarray, seed: int) -> None:
    """One small untimed run per engine, so that no timing pays an engine's first imports and set-up."""
    rng = np.random.default_rng(seed)
    train = _sample(ds.y, train_rows, min(len(train_rows), WARM_UP_ROWS), rng, cfg.inner_cv + 1)
    for engine in engines:
        try:
            _time(ds, cfg, head, engine, train, test_rows[:20], seed)
        except Exception:  # noqa: BLE001 - a sample too small for the grid's inner CV: the ladder says so
            pass


def _measure(ds, cfg, head: str, candidates: list[str], rows: tuple, n: int, fits: float, seed: int) -> _Ladder:
    """Time scikit-learn and the candidates on growing samples (scikit-learn alone, once, when the
    work is too small to time others: :data:`SMALL_WORK_S`)."""
    train_rows, test_rows = rows
    rng = np.random.default_rng(seed)
    ladder = _Ladder(n, fits, {e: [] for e in ["sklearn", *candidates]}, cfg.spec(head).growth)
    _warm_up(ds, cfg, head, ["sklearn"], train_rows, test_rows, seed)
    at = replace(cfg, as_rows=n)  # samples take the run's size-dependent paths and meet its kernel caches' pressure
    for m in _sizes(n):
        train = _sample(ds.y, train_rows, m, rng, cfg.inner_cv + 1)
        test = rng.choice(test_rows, size=min(len(test_rows), max(20, round(m * len(test_rows) / max(len(train_rows), 1)))),
                          replace=False)
        ladder.timed["sklearn"].append([len(train), _time(ds, at, head, "sklearn", train, test, seed)])
        if len(ladder.timed["sklearn"]) == 1 and ladder.total("sklearn") < SMALL_WORK_S:  # grown quadratically, as svm grows
            return ladder  # small work: decided by _calibrate from scikit-learn's one timing
        if len(ladder.timed["sklearn"]) == 1:
            _warm_up(ds, cfg, head, candidates, train_rows, test_rows, seed)
        for c in candidates:
            ladder.timed[c].append([len(train), _time(ds, at, head, c, train, test, seed)])
        budget = BUDGET_S[1] if ladder.crossing(candidates) else min(max(BUDGET_SHARE * ladder.total("sklearn"), BUDGET_S[0]),
                                                                     BUDGET_S[1])
        next_cost = sum(_at(ladder.timed[e], min(n, 2 * m), ladder.growth) for e in ladder.timed)
        if ladder.settled(candidates) or ladder.spent + next_cost > budget:
            break
    close = [c for c in candidates if 1 / _CLOSE <= ladder.ratios(c)[0] <= _CLOSE]
    if close:  # a close call is timed once more on the same rows; each engine keeps its faster time
        for engine in ["sklearn", *close]:
            again = _time(ds, at, head, engine, train, test, seed)
            ladder.timed[engine][-1][1] = min(ladder.timed[engine][-1][1], again)
    return ladder


def _words(r: float) -> str:
    return f"{1 / r:.1f}x faster" if r < 1 else f"{r:.1f}x slower"


def _decide(ladder: _Ladder, candidates: list[str]) -> tuple[str, str]:
    """(engine, reason) from the timings. On a sample of at least 1/:data:`TRUST` of the run's rows
    the prediction at the run's size decides; on smaller ones the largest sample does (a growth
    exponent read off small samples, where fixed costs weigh most, is not acted on)."""
    size, trusted = ladder.timed["sklearn"][-1][0], ladder.trusted()
    best = min(candidates, key=lambda c: ladder.ratios(c)[1 if trusted else 0])
    here, there = ladder.ratios(best)
    said = f"{best} {_words(here)} than scikit-learn at {size:,} rows"
    if size < ladder.n:
        said += f", predicted {_words(there)} at the run's {ladder.n:,}"
    deciding = there if trusted else here
    if deciding <= MARGIN:
        return best, said
    if deciding <= 1.0:
        return "sklearn", f"{said}: within the {100 * (1 - MARGIN):.0f} % margin, kept on scikit-learn"
    if there <= MARGIN:
        return "sklearn", f"{said}: a crossing not seen on a sample of at least 1/{TRUST} of the run's rows, kept on scikit-learn"
    return "sklearn", said


def _calibrate(ds, cfg, head: str, candidates: list[str], rows: tuple, n: int, fits: float, seed: int) -> EngineDecision:
    t0 = time.perf_counter()
    try:
        got = _measure(ds, cfg, head, candidates, rows, n, fits, seed)
    except Exception as exc:  # noqa: BLE001 - a candidate that cannot run the work here is not chosen
        return EngineDecision(head, "sklearn", f"{_FAILED} ({first_line(exc)}); kept on scikit-learn", n,
                              seconds=round(time.perf_counter() - t0, 3))
    timed = {e: [[m, round(s, 4)] for m, s in pts] for e, pts in got.timed.items() if pts}
    if set(timed) == {"sklearn"}:
        total = got.total("sklearn")
        return EngineDecision(head, "sklearn", f"small work: about {total:.1f} s on scikit-learn for the run; no other engine "
                              "timed", n, timed, {"sklearn": round(total, 3)}, round(time.perf_counter() - t0, 3))
    engine, reason = _decide(got, candidates)
    predicted = {e: round(got.total(e), 3) for e in timed}
    return EngineDecision(head, engine, reason, n, timed, predicted, round(time.perf_counter() - t0, 3))


def candidates_of(cfg, head: str) -> list[str]:
    """The usable engines other than scikit-learn that ``head`` runs on for some combination of its grid."""

    spec = cfg.spec(head)
    combos = [spec.merged(p) for p in cfg.head(spec.name).candidates]
    return [name for name, build in spec.engines.items()
            if not cfg.engine_status.get(name, (None, "unknown"))[1] and any(build.accepts(p) is None for p in combos)]


def _remembered(value, head: str, candidates: list[str]):
    """The remembered decision for ``head``, or None when there is none or it is not one this run
    can use (written by another version, edited by hand, or naming an engine not usable now):
    such an entry is timed again and overwritten, never trusted."""
    if not isinstance(value, dict):
        return None
    try:
        decision = replace(EngineDecision(**value), seconds=0.0, remembered=True)
    except TypeError:
        return None
    ok = (decision.head == head and decision.engine in ("sklearn", *candidates) and isinstance(decision.reason, str)
          and isinstance(decision.rows, int) and not isinstance(decision.rows, bool)
          and isinstance(decision.timed, dict) and isinstance(decision.predicted, dict))
    return decision if ok else None


def plan_engines(ds, cfg, splits: list, workers: int = 1) -> tuple:
    """Decide, for ``engine="auto"``, each head's engine for this dataset and split.

    Parameters
    ----------
    ds : Dataset
    cfg : EvalConfig
        Prepared (engine status taken) with ``cores`` set to the threads one fold gets.
    splits : list of (repeat, train, test)
        The outer folds (the largest training fold is the size decided for).
    workers : int
        Folds run at once (to predict the run's wall time).

    Returns
    -------
    cfg, decisions : EvalConfig, dict of str -> EngineDecision
        ``cfg`` with ``engine_plan`` set; a head with no other usable engine, or already in
        ``cfg.engine_plan``, has no decision.
    """
    if cfg.engine != "auto" or (ds.memory is not None and not ds.memory.in_memory):
        return cfg, {}
    _, train, test = max(splits, key=lambda s: len(s[1]))
    test = test if len(test) else np.arange(len(ds.y))
    n, fits = len(train), len(splits) / max(1, workers)
    features, classes = cfg.pca or ds.X.shape[1], len(np.unique(ds.y[train]))
    decisions, memo, machine = {}, read_memo(calibrations_path()), _machine(cfg)
    for head in (h for h in cfg.heads if h not in cfg.engine_plan):  # a plan given (permutations of the same rows) stands
        candidates = candidates_of(cfg, head)
        if not candidates:
            continue
        key = _key(machine, cfg, head, n, features, classes, (len(splits), workers))
        held = _remembered(memo.get(key), head, candidates)
        if held is not None:
            decisions[head] = held
            continue
        decisions[head] = _calibrate(ds, cfg, head, candidates, (train, test), n, fits, 0)
        if not decisions[head].reason.startswith(_FAILED):  # a failure is not remembered: the next run tries again
            write_memo(calibrations_path(), key, decisions[head].as_dict())
    return replace(cfg, engine_plan={**cfg.engine_plan, **{h: d.engine for h, d in decisions.items()}}), decisions
