"""Learning curves: the same test folds, training on growing random subsets of each training fold
(whole subjects, or images), repeated draws; mean and spread per size answer "how many people
do I need".

``curve="subjects=5,10,20,all"`` (or ``images=100,500,all``) evaluates every head at each size
through the run's own machinery: the subsets and test folds are handed to the evaluation as a
splitter, so scaling, PCA, balancing, inner CV, engines and metrics are those of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import FaceprobeError, OptionError

__all__ = ["CurveSpec", "parse_curve", "curve_splits", "learning_curve", "add_curves", "CURVE_DRAWS"]

CURVE_DRAWS = 3
"""Random subsets drawn per outer fold and size (the size ``all`` is one: the whole training fold)."""


@dataclass(frozen=True)
class CurveSpec:
    """``unit`` (``subjects`` or ``images``) and the sizes (None: all of the training fold)."""

    unit: str
    sizes: tuple

    def as_dict(self) -> dict:
        return {"unit": self.unit, "sizes": ["all" if s is None else s for s in self.sizes], "draws": CURVE_DRAWS}


def parse_curve(text: str | None) -> CurveSpec | None:
    """``"subjects=5,10,20,all"`` -> CurveSpec; None stays None.

    Raises
    ------
    OptionError
        Naming ``curve``, for another unit, a size that is not a positive whole number or ``all``,
        or sizes that do not increase.
    """
    if not text:
        return None
    unit, eq, values = str(text).partition("=")
    unit = unit.strip()
    if not eq or unit not in ("subjects", "images"):
        raise OptionError("curve", text, "expected subjects=N1,N2,...,all or images=N1,N2,...,all")
    sizes = []
    for v in (x.strip() for x in values.split(",") if x.strip()):
        if v == "all":
            sizes.append(None)
            continue
        if not v.isdigit() or int(v) < 1:
            raise OptionError("curve", text, f"{v!r} is not a positive whole number or all")
        sizes.append(int(v))
    numbers = [s for s in sizes if s is not None]
    if not sizes or numbers != sorted(set(numbers)) or (None in sizes and sizes[-1] is not None):
        raise OptionError("curve", text, "give increasing sizes, all last (subjects=5,10,20,all)")
    return CurveSpec(unit, tuple(sizes))


class _Splits:
    """Precomputed (train, test) pairs as a scikit-learn splitter."""

    def __init__(self, pairs: list):
        self.pairs = pairs

    def split(self, X=None, y=None, groups=None):
        yield from self.pairs

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"learning-curve subsets ({len(self.pairs)})"


def curve_splits(outer: list, groups: np.ndarray, spec: CurveSpec, size: int | None, seed: int) -> tuple[list, int]:
    """For one size: (train subset, test) pairs over the outer folds and draws, and how many
    folds were too small for the size (left out)."""
    rng = np.random.default_rng(seed)
    pairs, short = [], 0
    for _, train, test in outer:
        if size is None:
            pairs.append((train, test))
            continue
        units = np.unique(groups[train]) if spec.unit == "subjects" else train
        if len(units) < size:
            short += 1
            continue
        for _ in range(CURVE_DRAWS):
            pick = rng.choice(units, size, replace=False)
            sub = train[np.isin(groups[train], pick)] if spec.unit == "subjects" else np.sort(pick)
            pairs.append((sub, test))
    return pairs, short


def learning_curve(ds, cfg, spec: CurveSpec, metric: str, run_eval, outer: list) -> dict:
    """Per head: the metric's mean and std over folds and draws at each size (``run_eval(dataset, cfg)``
    is the run's evaluation of one dataset)."""
    from ..progress import progress
    from .protocols.splits import SplitSpec

    out: dict = {}
    notes = []
    sizes = list(enumerate(spec.sizes))
    for i, size in progress(sizes, len(sizes), f"learning curve ({ds.key})", "size", cfg.progress):
        pairs, short = curve_splits(outer, ds.groups, spec, size, cfg.split.seed + 1000 * i)
        label = "all" if size is None else size
        if short:
            notes.append(f"learning curve: {short} of {len(outer)} training folds have fewer than {size} {spec.unit} (left out at that size)")
        if not pairs:
            for h in cfg.heads:
                out.setdefault(h, []).append({"size": label, "mean": None, "std": None, "fits": 0})
            continue
        units = float(np.mean([len(np.unique(ds.groups[tr])) if spec.unit == "subjects" else len(tr) for tr, _ in pairs]))
        split = SplitSpec(cv=None, holdout=None, group=cfg.split.group, seed=cfg.split.seed, splitter=_Splits(pairs))
        try:
            res = run_eval(replace(ds, notes=[], fixed=None), replace(cfg, split=split, progress=False))
        except (FaceprobeError, OptionError) as exc:  # a subset too small or too uniform for the heads
            notes.append(f"learning curve at {label} {spec.unit}: no figures ({exc})")
            res = {"heads": {h: {"folds": []} for h in cfg.heads}}
        for h in cfg.heads:
            vals = [f.get(metric) for f in res["heads"][h]["folds"] if f.get(metric) is not None]
            n_train = [f["n_train"] for f in res["heads"][h]["folds"] if "n_train" in f]
            out.setdefault(h, []).append({"size": label, "mean": float(np.mean(vals)) if vals else None,
                                          "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else None, "fits": len(vals),
                                          "train_images": float(np.mean(n_train)) if n_train else None,
                                          "train_units": round(units, 1)})
    return {"heads": out, "notes": notes, **spec.as_dict()}


def add_curves(per_key: dict, datasets: list, cfg, spec: CurveSpec, metric: str, run_eval, outer_of) -> None:
    """Each head's learning curve (``curve`` in its record); ``outer_of(dataset)`` gives the run's outer folds."""
    for d in datasets:
        got = learning_curve(d, cfg, spec, metric, run_eval, outer_of(d))
        for h, r in per_key[d.key]["heads"].items():
            if "error" not in r:
                r["curve"] = {"unit": got["unit"], "sizes": got["sizes"], "draws": got["draws"], "metric": metric,
                              "points": got["heads"].get(h, [])}
        per_key[d.key]["notes"] += [n for n in got["notes"] if n not in per_key[d.key]["notes"]]
