"""classify's options, declared once (:class:`~faceprobe.options.OptionTable`).

The table gives :class:`ClassifyOptions` (frozen, keyword-only), the keywords and docstrings of
:func:`faceprobe.evaluate` and :func:`faceprobe.fit`, the flags of ``classify`` and
``faceprobe fit``, the one validation pass (:meth:`~faceprobe.options.OptionTable.validate`, called
by :func:`~faceprobe.classify.plan.make_plan`) and the option table of docs/cli.md.
"""

from __future__ import annotations

from ..ledger.options import recording_options
from ..options import MAX_SEED, Cli, Option, OptionTable, parsed_by, strings_or_dict
from .config import BACKENDS, BALANCE

__all__ = ["CLASSIFY", "ClassifyOptions", "GROUPS", "BALANCE", "BACKENDS"]

GROUPS = ("auto", "subject", "none")

MAX_REPEATS = 1000
"""More repeats than this narrow no published interval further (papers report 10) and cost as many evaluations."""

MAX_PERMUTATIONS = 100_000
"""More permutations than this resolve a p-value below 1e-5, finer than any threshold in use, at the cost of as many evaluations."""


def _permutation_count(n) -> str | None:
    if n > MAX_PERMUTATIONS:
        return (f"{n:,} permutations would cost {n:,} evaluations to resolve p down to 1/{n + 1:,}; {MAX_PERMUTATIONS:,} already "
                f"resolve p = 1e-5, finer than any threshold in use: give at most {MAX_PERMUTATIONS}")
    return None


_BOTH = ("classify", "fit")
_ONE_FIT = "a fixed split is one fit"
_CORPUS = "a cross-corpus run is one fit; `cv` sets the folds of each corpus's own cross-validation"


def is_splitter(value) -> bool:
    """A scikit-learn splitter object (``split`` and ``get_n_splits``), not a number of folds."""
    return hasattr(value, "split") and hasattr(value, "get_n_splits")


def as_list(values) -> list:
    """A value or a sequence of values as a list (``"Training"`` is one value, not eight letters)."""
    return [values] if isinstance(values, str) else list(values or [])


def _cv(value) -> str | None:
    if value == "loso" or is_splitter(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return "expected a number of folds, loso (leave one subject out) or a scikit-learn splitter"
    return None if value >= 2 else "must be >= 2 (or loso)"


def _cv_text(text: str):
    if text == "loso":
        return text
    try:
        return int(text)
    except ValueError:
        return text  # refused by the check, naming the flag


def _head(value) -> str | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        return "expected a head name, a comma list, all, or a sequence of names or scikit-learn estimators"
    return None


def _bins(value) -> str | None:
    if isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value)):
        return None
    return "expected edges such as 0,1,3,16"


def _size(value):
    from .data.diskrows import parse_size

    return parse_size(value)


def _not_blank(value) -> str | None:
    return None if value.strip() else f"choose from: {', '.join(GROUPS)}, or a column such as sequence"


def _engines() -> tuple:
    from .engines import ENGINE_CHOICES

    return ENGINE_CHOICES


def _metrics() -> tuple:
    from .metrics import SUMMARY_METRICS
    from .regression.metrics import REGRESSION_METRICS

    return tuple(SUMMARY_METRICS) + tuple(REGRESSION_METRICS)


def _head_help() -> str:
    from .heads.registry import HEADS
    from .regression.heads import REGRESSORS

    return (f"A head, a comma list, or all (fit: one head); in the API also scikit-learn estimator instances, each fitted "
            f"as a fresh clone per fold. {HEADS.describe()}. With `target`, regressors: {REGRESSORS.describe()}.")


def _param_help() -> str:
    from .heads.registry import HEADS

    return ("Hyperparameter values, e.g. C=0.1,1,10 (every head taking C) or svm.C=0.1,1,10 (svm only); a dict in the API; "
            "several values are chosen by inner CV inside each training fold. "
            + "; ".join(f"{n}: {', '.join(f'{k}={v}' for k, v in h.params.items())}" for n, h in HEADS.items()) + ".")


def _engine_help() -> str:
    from .engines import ENGINES

    return ("Implementation of the heads: auto (per head, the installed engine timed fastest against scikit-learn on this "
            "machine for work of the run's size, among those the head and its parameters were shown faithful on; the timing is "
            "remembered per machine); " + "; ".join(f"{n}: {e.description}" for n, e in ENGINES.items())
            + ". The engine used, and why, is in the notes and the JSON.")


CLASSIFY = OptionTable("classify", [
    Option("cache", "str", "features.h5", "HDF5 feature cache.", _BOTH, (), cli=Cli(short="c")),
    Option("key", "values", None, "Feature key or its backbone prefix (needed when the cache holds several); several keys are "
           "compared on the same folds; A+B fuses two keys.", _BOTH, ("evaluate", "fit"),
           type_text="str, sequence of str or None", cli=Cli(flag="backbone", short="b")),
    Option("head", "object", "all", _head_help, _BOTH, ("evaluate", "fit"), check=_head,
           type_text="str, sequence of str or of scikit-learn estimators"),
    Option("cv", "object", None, "Stratified K-fold cross-validation (10 folds when neither `cv` nor `holdout` is given), loso: "
           "leave one subject out, or (API) any scikit-learn splitter.", _BOTH, ("evaluate", "fit"), check=_cv,
           type_text="int, 'loso', splitter or None", cli=Cli(from_text=_cv_text)),
    Option("holdout", "float", None, "Single stratified split holding out this fraction (0.5 or 0.2 in published work).",
           _BOTH, ("evaluate", "fit"), low=0, high=1, open_low=True, open_high=True, conflicts=(("cv", "choose one protocol"),)),
    Option("repeats", "int", 1, "Repeat the protocol with seeds seed, seed+1, ...; mean ± std over repeats.",
           _BOTH, ("evaluate", "fit"), low=1, high=MAX_REPEATS),
    Option("group", "str", "auto", "auto: group splits by subject when subjects are known; none: random splits; a column "
           "of the image table (e.g. sequence) groups by its values.", _BOTH, ("evaluate", "fit"), check=_not_blank,
           cli=Cli(metavar="auto|subject|none|COLUMN")),
    Option("where", "values", (), "Keep only rows whose column has one of the values (COL!=V... leaves them out); repeat to "
           "combine; columns: subject and the source's extra columns.", _BOTH, ("evaluate", "fit"),
           cli=Cli(metavar="COL=V[,V...]")),
    Option("balance", "str", "none", "Class balancing, inside training folds only.", _BOTH, ("evaluate", "fit"), choices=BALANCE),
    Option("classes", "values", (), "Select or merge labels: NEW=old1,old2 (repeat); rest=* for one-vs-rest.",
           _BOTH, ("evaluate", "fit")),
    Option("min_count", "int", 0, "Leave out classes with fewer images.", _BOTH, ("evaluate", "fit"), low=0),
    Option("missing", "str", "common", "When the keys of a study or fusion do not all hold a row (a geometry key where no face "
           "was found): common: evaluate on the rows every key holds (a note gives what each key lacks); impute: keep every "
           "row, a key's missing vector filled with its training-fold mean.", _BOTH, ("evaluate", "fit"),
           choices=("common", "impute")),
    Option("augmented", "bool", False, "Add training images' augmented views (featurize's `augment`) to training folds.",
           _BOTH, ("evaluate", "fit")),
    Option("params", "object", (), _param_help, _BOTH, ("evaluate", "fit"),
           check=strings_or_dict("expected NAME=V1,V2 strings or a dict of name -> value(s)"),
           type_text="dict or sequence of str", cli=Cli(flag="param", repeat=True)),
    Option("pca", "int", None, "PCA components, fitted inside each training fold.", _BOTH, ("evaluate", "fit"), low=1),
    Option("seed", "int", 0, "Seed of splits, balancing and heads.", _BOTH, ("evaluate", "fit"), low=0, high=MAX_SEED),
    Option("jobs", "int", -1, "Parallel folds (joblib processes); -1: all cores. Numbers do not depend on it.",
           _BOTH, ("evaluate", "fit"), low=1, also=(-1,), cli=Cli(short="j")),
    Option("backend", "str", "local", "dask: run folds on a dask.distributed cluster (same results).",
           _BOTH, ("evaluate", "fit"), choices=BACKENDS),
    Option("scheduler", "str", None, "Dask scheduler address (default with `backend=dask`: a local cluster of `jobs` workers).",
           _BOTH, ("evaluate", "fit")),
    Option("engine", "str", "auto", _engine_help, _BOTH, ("evaluate", "fit"), choices=_engines),
    Option("target", "values", (), "Regression: predict this numeric column (a manifest column, or label for numeric labels); "
           "several for several targets (valence, arousal). Heads are then regressors; figures MAE, RMSE, r, rho, ICC(3,1), CCC.",
           _BOTH, ("evaluate", "fit"), conflicts=(("balance", "balances classes; a continuous target has none"),),
           cli=Cli(metavar="COLUMN")),
    Option("metric", "str", None, "The metric the grid of keys x heads shows and tests (and, with `target`, that inner CV picks "
           "by); default balanced_accuracy, or ccc with `target`. Lower is better for mae and rmse.", _BOTH, ("evaluate", "fit"),
           choices=_metrics),
    Option("max_memory", "str", "auto", "Memory budget, e.g. 8G; past it knn and logreg read features from the cache in blocks, "
           "other heads are refused. auto: half the free memory.", _BOTH, ("evaluate", "fit"), check=parsed_by(_size)),
    Option("bins", "object", None, "With `target`: also score the predictions as ordinal classes between these edges, e.g. "
           "0,1,3,16 for PSPI pain (no pain, trace, pain).", ("classify",), ("evaluate",), check=_bins,
           requires=(("target", "bins a continuous target"),), type_text="str, sequence of numbers or None",
           cli=Cli(metavar="E0,E1,...")),
    Option("normalize", "str", "none", "z-score each subject's (or column value's) vectors with its own images, labels unused "
           "(pain recognition's per-person baseline); transductive, so not for fit.", ("classify",), ("evaluate",),
           cli=Cli(metavar="none|subject|COLUMN")),
    Option("protocol", "str", "auto", "official: the protocol of the corpus the cache was featurized from (featurize with `corpus`: "
           "its published split, subject folds or leave-one-subject-out), with its published figures beside the results; "
           "auto: the same unless `cv`, `holdout`, `split_col`, `group` or cross-corpus filters choose another; none: never. "
           "fit cross-validates its record so, except for a published fixed split (it trains on every row).",
           ("classify", "fit"), ("evaluate", "fit"), choices=("auto", "official", "none")),
    Option("split_col", "str", None, "A fixed split by this column's values (e.g. Usage): one fit on `train`, figures on `test` with "
           "bootstrap 95% intervals, with and without test images that also occur in training.", ("classify",), ("evaluate",),
           conflicts=(("cv", _ONE_FIT), ("holdout", _ONE_FIT), ("repeats", _ONE_FIT)), cli=Cli(metavar="COLUMN")),
    Option("train", "values", (), "`split_col` values of the training part.", ("classify",), ("evaluate",),
           requires=(("split_col", "the column that holds these values"),), cli=Cli(metavar="V[,V...]")),
    Option("test", "values", (), "`split_col` values of the test part.", ("classify",), ("evaluate",),
           requires=(("split_col", "the column that holds these values"),), cli=Cli(metavar="V[,V...]")),
    Option("val", "values", (), "`split_col` values of a validation part: `params` grids are chosen on it (models fitted on `train`) "
           "instead of by inner CV.", ("classify",), ("evaluate",),
           requires=(("split_col", "the column that holds these values"),), cli=Cli(metavar="V[,V...]")),
    Option("aggregate", "str", None, "Also give clip-level figures: the frames of each value of this column (e.g. sequence, "
           "set for video frames) vote by their averaged scores.", ("classify",), ("evaluate",), cli=Cli(metavar="COLUMN")),
    Option("train_where", "values", (), "Cross-corpus: train on the rows these filters select and test on those `test_where` "
           "selects; each corpus's own `cv` is given beside it.", ("classify",), ("evaluate",),
           conflicts=(("split_col", _CORPUS), ("holdout", _CORPUS), ("repeats", _CORPUS)),
           requires=(("test_where", "a cross-corpus run trains on one corpus and tests on another"),),
           cli=Cli(metavar="COL=V[,V...]")),
    Option("test_where", "values", (), "Cross-corpus: the rows to test on.", ("classify",), ("evaluate",),
           requires=(("train_where", "a cross-corpus run trains on one corpus and tests on another"),),
           cli=Cli(metavar="COL=V[,V...]")),
    Option("curve", "str", None, "Learning curve: the same test folds, training on random subsets of N subjects (or "
           "images=N1,...) of each training fold, 3 draws each; mean ± std per size.", ("classify",), ("evaluate",),
           cli=Cli(metavar="subjects=N1,N2,...,all")),
    Option("permutations", "int", 0, "Rerun the evaluation on N label permutations (labels moved between subjects when splits "
           "are grouped) for each cell's p-value against chance; costs N evaluations (the run says how long before it starts; "
           "at most 100,000).", ("classify",), ("evaluate",), low=0, check=_permutation_count, cli=Cli(metavar="N")),
    Option("predictions", "bool", False, "Keep every test prediction (path, true and predicted label, scores) in the results "
           "(a report keeps them for its ROC curves).", ("classify",), ("evaluate",)),
    Option("insight", "str", None, "pca or tsne: 1-NN probes of identity and label and a 2-D map of the vectors, for reports "
           "(classify sets it from `map` when it writes a report).", (), ("evaluate",), choices=("pca", "tsne")),
    Option("faces", "bool", True, "Face thumbnails in reports (False: a report to share).", ("classify",), ("evaluate",),
           cli=Cli(negate_help="With `report`: leave face thumbnails out (a report to share).", negate="no-faces")),
    Option("progress", "bool", True, "Show a progress bar over folds (stderr).", _BOTH, ("evaluate", "fit"),
           cli=Cli(negate="quiet", short="q", negate_help="No progress bar.")),
    *recording_options(_BOTH, ("evaluate", "fit")),
])

ClassifyOptions = CLASSIFY.dataclass(
    "ClassifyOptions", "Options of ``classify``, ``fit``, :func:`faceprobe.evaluate` and :func:`faceprobe.fit`, as given "
    "(keyword-only, immutable); generated from :data:`CLASSIFY`, checked by :func:`~faceprobe.classify.plan.make_plan`.",
    __name__)
