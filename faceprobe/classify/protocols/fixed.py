"""A fixed split (``--split-col Usage --train Training --test PrivateTest [--val PublicTest]``): one
fit on the training part, metrics on the test part with bootstrap 95 % intervals, and the test
images that also occur in the training part (twins) counted and left out in a second set of
figures.

Twins: a test image is an *exact* twin when its content (bytes, or a CSV row's pixels) is also
listed in the training or validation part; a *near* twin when its 64-bit difference hash
(``/images/dhash``) is within ``NEAR_TWIN_BITS`` bits of a training or validation image's. On
the dev faces, 90 % of 48 x 48 JPEG copies of a face were within 2 bits of the original, and
6 of 1,730 distinct images were within 2 bits of another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import OptionError
from ..metrics import confusion_metrics

__all__ = ["FixedSplit", "FixedRows", "fixed_rows", "add_near_twins", "bootstrap_ci", "fixed_figures", "NEAR_TWIN_BITS", "BOOTSTRAP_ROUNDS", "CI_METRICS"]

NEAR_TWIN_BITS = 2
BOOTSTRAP_ROUNDS = 1000
CI_METRICS = ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro")
"""Metrics given with bootstrap intervals (those that follow from the confusion matrix)."""


@dataclass(frozen=True)
class FixedSplit:
    """Which values of ``column`` make the training, test and (optional) validation parts."""

    column: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    val: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.train or not self.test:
            raise OptionError("split_col", self.column, "needs `train` and `test` values (e.g. `train=Training` `test=PrivateTest`)")
        parts = (("train", self.train), ("test", self.test), ("val", self.val))
        for i, (name, values) in enumerate(parts):
            for other, theirs in parts[i + 1:]:
                both = sorted(set(values) & set(theirs))
                if both:
                    raise OptionError(other, ",".join(theirs), f"{both[0]} is also given to `{name}`; each value belongs to one part")

    def as_dict(self) -> dict:
        return {"column": self.column, "train": list(self.train), "test": list(self.test), "val": list(self.val)}

    def rows(self, ds, images: dict | None) -> "FixedRows":
        """The parts among ``ds``'s rows (needs the cache's image table)."""
        if images is None:
            raise OptionError("split_col", self.column, "a fixed split reads the cache's image table; give arrays a splitter as `cv`")
        return fixed_rows(ds, images, self)


@dataclass
class FixedRows:
    """Row indices of each part, and the test rows that are twins of training or validation rows."""

    train: np.ndarray
    test: np.ndarray
    val: np.ndarray
    exact: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    near: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    notes: list = field(default_factory=list)

    @property
    def twins(self) -> np.ndarray:
        """Per test row: an exact or near twin."""
        return self.exact | self.near


def _values_by_content(images: dict, column: str) -> dict[str, set]:
    """Content hash -> every value ``column`` has over the paths listing that content."""
    from ...cache.store import extra_columns

    n = len(images["path"])
    values = images["subject"] if column == "subject" else extra_columns(images).get(column, np.full(n, "", dtype=object))
    out: dict[str, set] = {}
    for sha, status, value in zip(images["sha256"], images["status"], values):
        if status == "ok":
            out.setdefault(str(sha), set()).add(str(value))
    return out


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    return np.unpackbits(x[..., None].view(np.uint8), axis=-1).sum(-1)


def _near(test_hashes: np.ndarray, ref_hashes: np.ndarray, bits: int) -> np.ndarray:
    """Per test hash: within ``bits`` of some reference hash (both uint64; blocks of 512 rows)."""
    out = np.zeros(len(test_hashes), bool)
    if not len(ref_hashes):
        return out
    for lo in range(0, len(test_hashes), 512):
        x = test_hashes[lo:lo + 512, None] ^ ref_hashes[None, :]
        out[lo:lo + 512] = (_popcount(x) <= bits).any(axis=1)
    return out


def fixed_rows(ds, images: dict, split: FixedSplit) -> FixedRows:
    """The parts of ``split`` among the dataset's rows, with exact and near twins of the test part."""
    if split.column not in ds.columns:
        raise OptionError("split_col", split.column, f"no such column; the cache has: {', '.join(ds.columns)}")
    by_content = _values_by_content(images, split.column)
    found = set().union(*by_content.values()) if by_content else set()
    for name, values in (("train", split.train), ("test", split.test), ("val", split.val)):
        unknown = sorted(set(values) - found)
        if unknown:
            raise OptionError(name, ",".join(values), f"{split.column} has no value {unknown[0]!r}; it has: {', '.join(sorted(found))}")
    sets = [by_content.get(s, set()) for s in ds.sha256]
    part = {name: np.array([bool(v & set(values)) for v in sets]) for name, values in
            (("train", split.train), ("test", split.test), ("val", split.val))}
    for name, values in (("train", split.train), ("test", split.test), ("val", split.val)):
        if values and not part[name].any():  # the row filters emptied a part: say so before any fit
            held = sum(1 for v in by_content.values() if v & set(values))
            raise OptionError(name, ",".join(values), f"no row of this run is in this part ({held} images of the cache are): "
                                                      "the row filters (`where`, `classes`, `min_count`) left none of them")
    test = np.flatnonzero(part["test"])
    exact = (part["train"] | part["val"])[test]
    # as the split says: a test image also listed for training is trained on too (the official
    # protocol, leak included); the figures without twins leave it out of the test part
    rows = FixedRows(np.flatnonzero(part["train"]), test, np.flatnonzero(part["val"] & ~part["test"]), exact)
    add_near_twins(rows, ds, images)
    unused = int((~(part["train"] | part["val"] | part["test"])).sum())
    rows.notes.append(f"fixed split on {split.column}: {len(rows.train)} training, {len(rows.val)} validation, {len(test)} test "
                      f"images" + (f" ({unused} in no part)" if unused else "") + f"; {int(exact.sum())} test images are exact and "
                      f"{int(rows.near.sum())} near twins of training or validation images (figures given with and without them)")
    return rows


def add_near_twins(rows: FixedRows, ds, images: dict) -> None:
    """Mark the test rows whose pixel hash is within ``NEAR_TWIN_BITS`` of a training or validation row's."""
    sha_hash = {str(s): str(h) for s, h in zip(images["sha256"], images.get("dhash", [""] * len(images["sha256"]))) if h}
    hashes = [sha_hash.get(str(s), "") for s in ds.sha256]
    known = np.array([bool(h) for h in hashes], dtype=bool)
    as_int = np.array([int(h, 16) if h else 0 for h in hashes], dtype=np.uint64)
    ref = np.concatenate([rows.train, rows.val]).astype(int)
    test = rows.test
    rows.near = _near(as_int[test], as_int[ref[known[ref]]], NEAR_TWIN_BITS) & known[test] & ~rows.exact
    if not known[test].all():
        rows.notes.append(f"{int((~known[test]).sum())} test images have no pixel hash (featurized before it was stored, or "
                          "decoded on the GPU): only exact twins are found among them")


def _codes(labels, classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in labels], dtype=np.int64)


def _confusion(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrix (rows true) of class codes."""
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], seed: int, rounds: int = BOOTSTRAP_ROUNDS) -> dict:
    """Percentile 95 % intervals of ``CI_METRICS`` over ``rounds`` resamples of the test rows."""
    t, p = _codes(y_true, classes), _codes(y_pred, classes)  # heads predict the dataset's classes only
    rng = np.random.default_rng(seed)
    draws = {m: [] for m in CI_METRICS}
    for _ in range(rounds):
        pick = rng.integers(0, len(t), len(t))
        met = confusion_metrics(_confusion(t[pick], p[pick], len(classes)), classes)
        for m in CI_METRICS:
            draws[m].append(met[m])
    return {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in draws.items()}


def auc_ci(y_true: np.ndarray, scores: np.ndarray, classes: list[str], seed: int, rounds: int = 200) -> list[float] | None:
    """Percentile 95 % interval of ROC AUC over ``rounds`` resamples of the test rows (fewer rounds
    than the confusion figures: each costs a full AUC; resamples with one class only are skipped)."""
    from ..metrics import roc_auc

    rng = np.random.default_rng(seed)
    got = []
    for _ in range(rounds):
        pick = rng.integers(0, len(y_true), len(y_true))
        v = roc_auc(y_true[pick], scores[pick], classes)
        if v is not None:
            got.append(v)
    return [float(np.percentile(got, 2.5)), float(np.percentile(got, 97.5))] if len(got) >= rounds // 2 else None


def fixed_figures(head_result: dict, rows: FixedRows, classes: list[str], seed: int) -> dict:
    """Add bootstrap intervals to a head's summary, and the figures without the twins."""
    if "error" in head_result:
        return head_result
    (fold,) = head_result["folds"]
    y_true, y_pred = np.asarray(fold["y_true"]), np.asarray(fold["y_pred"])
    intervals = bootstrap_ci(y_true, y_pred, classes, seed)
    if fold.get("scores") is not None and head_result["summary"].get("roc_auc_ovr"):
        intervals["roc_auc_ovr"] = auc_ci(y_true, np.asarray(fold["scores"], float), classes, seed)
    for name, ci in intervals.items():
        if head_result["summary"].get(name) and ci is not None:
            head_result["summary"][name] = {**head_result["summary"][name], "over": "test images", "ci": ci}
    keep = ~rows.twins
    if keep.all() or not keep.any():
        return head_result
    met = confusion_metrics(_confusion(_codes(y_true[keep], classes), _codes(y_pred[keep], classes), len(classes)), classes)
    ci = bootstrap_ci(y_true[keep], y_pred[keep], classes, seed)
    head_result["without_twins"] = {"test_images": int(keep.sum()),
                                    **{m: {"mean": met[m], "std": 0.0, "over": "test images", "ci": ci[m]} for m in CI_METRICS}}
    return head_result
