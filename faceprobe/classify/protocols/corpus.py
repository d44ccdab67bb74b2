"""Cross-corpus evaluation: train on the rows one set of filters selects, test on the rows another
selects (``train_where=["corpus=ck"]``, ``test_where=["corpus=tw"]``), one fit as a fixed split
(bootstrap intervals, McNemar's or Wilcoxon's test between cells), with each corpus's own
subject-grouped cross-validation beside it, so the drop from within to across corpora is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import OptionError
from ..data.columns import Where, parse_where
from .fixed import FixedRows, add_near_twins

__all__ = ["CorpusSplit", "parse_corpus", "within_parts", "add_within_corpus"]


def _matches(ds, filters: tuple[Where, ...], param: str) -> np.ndarray:
    keep = np.ones(len(ds.y), bool)
    for w in filters:
        if w.column not in ds.columns and w.column != "label":
            raise OptionError(param, str(w), f"no column {w.column!r}; the cache has: {', '.join(['label', *sorted(ds.columns)])}")
        values = np.asarray(ds.y if w.column == "label" else ds.columns[w.column]).astype(str)
        hit = np.isin(values, list(w.values))
        keep &= hit if w.keep else ~hit
    return keep


@dataclass(frozen=True)
class CorpusSplit:
    """Row filters of the training and the test corpus (every filter of a part must hold)."""

    train: tuple[Where, ...]
    test: tuple[Where, ...]

    def as_dict(self) -> dict:
        return {"train_where": [str(w) for w in self.train], "test_where": [str(w) for w in self.test]}

    def describe(self) -> str:
        return f"cross-corpus: train where {' & '.join(map(str, self.train))}, test where {' & '.join(map(str, self.test))}"

    def masks(self, ds) -> tuple[np.ndarray, np.ndarray]:
        """Which rows are in the training and in the test corpus.

        Raises
        ------
        OptionError
            For a filter naming a column the data does not have, an empty part, or rows in both.
        """
        train, test = _matches(ds, self.train, "train_where"), _matches(ds, self.test, "test_where")
        for name, mask, filters in (("train_where", train, self.train), ("test_where", test, self.test)):
            if not mask.any():
                raise OptionError(name, " ".join(map(str, filters)), "selects no row; check the column's values")
        both = train & test
        if both.any():
            raise OptionError("test_where", " ".join(map(str, self.test)), f"{int(both.sum())} rows (e.g. {ds.paths[both][0]}) are "
                                                                          "also selected by `train_where`; the corpora must not share rows")
        return train, test

    def _class_check(self, ds, train: np.ndarray, test: np.ndarray) -> list[str]:
        """The test corpus's classes the training corpus lacks; refuses corpora with no class in common."""
        trained, tested = set(ds.y[train]) - {""}, set(ds.y[test]) - {""}
        if trained and tested and not trained & tested:
            raise OptionError("test_where", " ".join(map(str, self.test)),
                              f"the test corpus's classes ({', '.join(sorted(tested)[:8])}) share none with the training corpus's "
                              f"({', '.join(sorted(trained)[:8])}): every figure would be 0; map both to common names with "
                              "`classes` (e.g. happy=happy,happiness)")
        return sorted(tested - trained)

    def rows(self, ds, images: dict | None) -> FixedRows:
        """The two corpora among ``ds``'s rows; near twins across them (pixel hashes) when the image table is at hand."""
        train, test = self.masks(ds)
        only_test = self._class_check(ds, train, test)
        rows = FixedRows(np.flatnonzero(train), np.flatnonzero(test), np.zeros(0, int), np.zeros(int(test.sum()), bool))
        rows.near = np.zeros(int(test.sum()), bool)
        if images is not None:
            add_near_twins(rows, ds, images)
        shared = sorted(set(ds.groups[train]) & set(ds.groups[test]) - {""})
        rows.notes.append(f"{self.describe()}: {len(rows.train)} training and {len(rows.test)} test images; "
                          f"{int(rows.near.sum())} test images are near twins of training images (figures given with and without them)")
        if only_test:
            n = int(np.isin(ds.y[test], only_test).sum())
            rows.notes.append(f"{n} test images are of classes the training corpus lacks ({', '.join(only_test)}): every one of "
                              "them counts as an error; map them to a trained class or leave them out with `classes`")
        if shared:
            rows.notes.append(f"{len(shared)} subjects are in both corpora (e.g. {shared[0]}): those people are not new to the "
                              "model, so the figures are not purely cross-person")
        return rows


def parse_corpus(train_where, test_where) -> CorpusSplit | None:
    """Both filter lists parsed, or None when neither is given.

    Raises
    ------
    OptionError
        When only one of them is given.
    """
    parsed = []
    for name, specs in (("train_where", train_where), ("test_where", test_where)):
        try:
            parsed.append(tuple(parse_where(specs)))
        except OptionError as exc:
            raise OptionError(name, exc.value, exc.why) from None
    train, test = parsed
    if not train and not test:
        return None
    if not train or not test:
        missing, given = ("train_where", test) if not train else ("test_where", train)
        raise OptionError(missing, None, f"a cross-corpus run needs both `train_where` and `test_where` (given: {' '.join(map(str, given))})")
    return CorpusSplit(train, test)


def within_parts(ds, rows: FixedRows, group: str, cv, seed: int) -> list[tuple[str, object, object]]:
    """Each corpus as its own dataset with its own cross-validation: ``[(part, dataset, SplitSpec)]``
    (grouped by subject as ``group`` says; ``cv`` folds, ``loso``, or 5 when not given)."""
    from dataclasses import replace

    from ..data.groups import with_groups
    from .splits import SplitSpec

    out = []
    for part, idx in (("train", rows.train), ("test", rows.test)):
        sub, grouped = with_groups(replace(ds.subset(idx), fixed=None, notes=[]), group)
        loso = cv == "loso"
        out.append((part, sub, SplitSpec(cv=None if loso else (cv or 5), holdout=None, group=grouped, seed=seed, loso=loso)))
    return out


def add_within_corpus(per_key: dict, datasets: list, cfg, o, run_eval) -> None:
    """Each corpus's own cross-validation beside a cross-corpus fit: ``within`` per head, per part
    (``summary`` of ``run_eval(dataset, cfg)``, or the ``error`` that stopped it)."""
    from dataclasses import replace

    from ...errors import FaceprobeError

    for d in datasets:
        for part, sub, split in within_parts(d, d.fixed, o.group, o.cv, o.seed):
            try:
                res = run_eval(sub, replace(cfg, split=split, progress=False))
            except (FaceprobeError, OptionError) as exc:
                res = {"error": str(exc)}
                per_key[d.key]["notes"].append(f"no figures within the {part} corpus: {exc}")
            for h, r in per_key[d.key]["heads"].items():
                got = res.get("heads", {}).get(h, {})
                entry = {"rows": int(len(sub.y)), "subjects": int(len(set(sub.groups))), "split": split.as_dict()}
                if "error" in res or "error" in got:
                    entry["error"] = res.get("error") or got["error"]
                else:
                    entry["summary"] = got["summary"]
                r.setdefault("within", {})[part] = entry
