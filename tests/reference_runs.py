"""The classify runs whose numbers the refactor must keep, and how their JSON is reduced.

``python -m tests.reference_runs CACHE > tests/data/classify-reference.json`` records them
(run once, before a change that must not move any number); ``test_reference.py`` reruns them.
"""

from __future__ import annotations

import json
import sys

RUNS = {
    "all-heads-grouped-cv5": ["--head", "all", "--cv", "5"],
    "nested-svm-knn": ["--head", "svm,knn", "--param", "C=0.1,1", "--param", "k=3,5", "--cv", "3", "--seed", "1"],
    "holdout-undersample": ["--head", "logreg,dnn", "--holdout", "0.3", "--repeats", "3", "--balance", "undersample"],
    "classweight-pca-random": ["--head", "svm,logreg,mlp", "--balance", "class-weight", "--pca", "20", "--cv", "4", "--group", "none"],
    "out-of-core": ["--head", "knn,logreg", "--max-memory", "64k", "--cv", "3"],
    "one-vs-rest": ["--head", "logreg,knn", "--classes", "happiness", "--classes", "rest=*", "--cv", "5"],
}

FOLD_FIELDS = ("fold", "repeat", "params", "n_train", "n_test", "y_pred", "scores", "accuracy", "balanced_accuracy", "roc_auc_ovr")


def reduce(res: dict) -> dict:
    """The numbers a user sees, from ``classify --json``: per head summary, per class, confusion, folds
    (results of one key, flat since issue 23)."""
    heads = {}
    for c in res["cells"]:
        folds = [f for f in res["folds"] if f["head"] == c["head"]]
        heads[c["head"]] = {
            "summary": c["summary"], "per_class": c["per_class"], "confusion": c["confusion"],
            "folds": [{k: f[k] for k in FOLD_FIELDS} for f in folds],
        }
    return {"classes": res["classes"], "rows": res["rows"], "subjects": res["subjects"], "splits": res["splits"], "heads": heads}


def features_sha256(cache: str) -> str:
    """sha256 of the cache's one feature matrix (rows sorted by image hash), to tell whether
    the features themselves (not classify) differ from the reference's."""
    import hashlib

    import h5py
    import numpy as np

    with h5py.File(cache, "r") as f:
        (group,) = f["features"].values()
        sha = group["sha256"].asstr()[()]
        vectors = group["vectors"][()]
    return hashlib.sha256(vectors[np.argsort(sha)].tobytes()).hexdigest()


def run_all(cache: str, workdir: str) -> dict:
    import os

    from click.testing import CliRunner

    from faceprobe.cli import cli

    out = {"features_sha256": features_sha256(cache)}
    for name, args in RUNS.items():
        path = os.path.join(workdir, f"{name}.json")
        # the reference is scikit-learn's numbers: pinned to its engine (auto may pick oneDAL)
        result = CliRunner().invoke(cli, ["classify", "-c", cache, "-q", "--engine", "sklearn", "--predictions", "--json", path,
                                       *args])
        assert result.exit_code == 0, result.output
        with open(path, encoding="utf-8") as handle:
            out[name] = reduce(json.load(handle))
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        json.dump(run_all(sys.argv[1], tmp), sys.stdout, indent=0, sort_keys=True)
