"""Split plans: k-fold, holdout and repeats, grouped by subject when subjects are known."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, replace

import numpy as np

from ...errors import FaceprobeError, OptionError

__all__ = ["SplitSpec", "make_splits"]


@dataclass(frozen=True)
class SplitSpec:
    """How rows are split into training and test sets.

    Attributes
    ----------
    cv : int or None
        Stratified K-fold (grouped when ``group``).
    holdout : float or None
        Fraction of rows (or subjects) held out for testing in a single stratified split.
    repeats : int
        Independent repetitions with seeds ``seed``, ``seed + 1``, ...
    group : bool
        Keep each subject's rows on one side of every split.
    seed : int
    loso : bool
        Leave one subject out: one fold per subject (``cv`` and ``holdout`` None).
    fixed : dict or None
        A fixed split's column and values (:class:`~faceprobe.classify.protocols.fixed.FixedSplit`);
        its rows come with the dataset (``cv`` and ``holdout`` None, one repeat, not grouped).
    splitter : object or None
        Any scikit-learn splitter (``split(X, y, groups)``); it gets the groups when splits are
        grouped (``cv`` and ``holdout`` None; ``repeats`` repeats it as it is).
    """

    cv: int | None = 10
    holdout: float | None = None
    repeats: int = 1
    group: bool = True
    seed: int = 0
    loso: bool = False
    fixed: dict | None = None
    splitter: object = None

    def as_dict(self) -> dict:
        out = asdict(replace(self, splitter=None))
        out["splitter"] = None if self.splitter is None else repr(self.splitter)
        return out

    @property
    def single(self) -> bool:
        """One train/test split (significance tests then compare predictions, not fold scores)."""
        if self.splitter is not None:
            return self.repeats == 1 and self.splitter.get_n_splits() == 1
        return (self.holdout is not None and self.repeats == 1) or self.fixed is not None


def _check(y: np.ndarray, spec: SplitSpec) -> None:
    if (spec.cv is not None) + (spec.holdout is not None) + spec.loso + (spec.fixed is not None) + (spec.splitter is not None) != 1:
        raise FaceprobeError("choose one protocol: `cv=K`, `cv=loso`, `holdout=FRACTION` or `split_col=COLUMN`")
    if spec.loso:
        if not spec.group:
            raise OptionError("cv", "loso", "leaves one subject out: it needs grouping by subject")
        return
    if spec.splitter is not None:
        return
    if spec.cv is not None and spec.cv < 2:
        raise OptionError("cv", spec.cv, "must be >= 2")
    if spec.holdout is not None and not 0.0 < spec.holdout < 1.0:
        raise OptionError("holdout", spec.holdout, "must be between 0 and 1")
    if spec.repeats < 1:
        raise OptionError("repeats", spec.repeats, "must be >= 1")
    counts = Counter(str(v) for v in y)
    need = spec.cv if spec.cv else 2
    small = sorted((n, c) for c, n in counts.items() if n < need)
    if small:
        n, c = small[0]
        hint = f"use `cv={max(2, n)}` or fewer" if spec.cv and n >= 2 else "merge it with `classes`"
        largest = max(counts.values())
        if need > largest:  # no class is large enough: dropping small classes would drop them all
            raise FaceprobeError(f"`cv={need}`: more folds than the largest class has rows ({largest}); use `cv={max(2, n)}` or fewer")
        raise FaceprobeError(f"class {c!r} has {n} rows, fewer than the {need} splits need; {hint}, or drop small classes with `min_count={need}`")


def make_splits(y: np.ndarray, groups: np.ndarray | None, spec: SplitSpec) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """All (repeat, train_index, test_index) triples of a protocol.

    Raises
    ------
    FaceprobeError
        For a class with fewer rows than folds, or with too few subjects to be split.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit

    _check(y, spec)
    out = []
    for r in range(spec.repeats):
        seed = spec.seed + r
        if spec.splitter is not None:
            it = spec.splitter.split(np.zeros((len(y), 1)), y, groups if spec.group else None)
        elif spec.loso:
            from sklearn.model_selection import LeaveOneGroupOut

            it = LeaveOneGroupOut().split(np.zeros(len(y)), y, groups)
        elif spec.cv:
            if spec.group:
                n_groups = len(set(groups))
                if n_groups < spec.cv:
                    if n_groups < 2:
                        raise FaceprobeError("every row has the same group value, so splits cannot be grouped by it; use "
                                             "`group=none`, or group by another column")
                    raise FaceprobeError(f"only {n_groups} subjects for {spec.cv} grouped folds; use `cv={n_groups}` or `group=none`")
                splitter = StratifiedGroupKFold(n_splits=spec.cv, shuffle=True, random_state=seed)
                it = splitter.split(np.zeros(len(y)), y, groups)
            else:
                it = StratifiedKFold(n_splits=spec.cv, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        else:
            if spec.group:
                it = _stratified_group_holdout(y, groups, spec.holdout, seed)
            else:
                it = StratifiedShuffleSplit(n_splits=1, test_size=spec.holdout, random_state=seed).split(np.zeros(len(y)), y)
        for train, test in it:
            out.append((r, np.sort(train), np.sort(test)))
    return out


def _stratified_group_holdout(y, groups, frac, seed):
    """One split holding out about ``frac`` of the rows, whole subjects at a time, per class.

    Subjects are assigned to the test side class by class (by their majority label) in a
    seeded random order until the class's test share reaches ``frac``; a plain
    GroupShuffleSplit ignores classes and can leave rare ones out of the test set.
    """
    rng = np.random.default_rng(seed)
    subjects = np.unique(groups)
    majority = {}
    for s in subjects:
        labels, counts = np.unique(y[groups == s], return_counts=True)
        majority[s] = labels[np.argmax(counts)]
    test_subjects = set()
    for c in np.unique(y):
        members = [s for s in subjects if majority[s] == c]
        rng.shuffle(members)
        target = frac * np.sum(y == c)
        taken = 0
        for s in members:
            if taken >= target:
                break
            test_subjects.add(s)
            taken += np.sum(groups == s)
    test_mask = np.isin(groups, list(test_subjects))
    if test_mask.all() or not test_mask.any():
        raise FaceprobeError("too few subjects to hold some out; use `group=none` or more data")
    yield np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
