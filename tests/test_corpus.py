"""Cross-corpus evaluation (issue 27): train on one corpus, test on another, each corpus's own
grouped CV beside it; refusals; real faces split into two corpora by subject."""

from __future__ import annotations

import json

import numpy as np
import pytest

import faceprobe


def _arrays(seed=0):
    """Two corpora of 10 subjects each; corpus B's features are shifted (a domain change)."""
    rng = np.random.default_rng(seed)
    n = 200
    y = np.tile(["a", "b"], n // 2)
    X = rng.normal(size=(n, 6)) + np.where(y == "a", 1.0, -1.0)[:, None] * np.eye(6)[0]
    corpus = np.repeat(["A", "B"], n // 2)
    X[corpus == "B"] += 0.8
    groups = np.repeat(np.arange(20), 10).astype(str)
    from faceprobe.classify.data.arrays import dataset_from_arrays

    return dataset_from_arrays(X, y, groups, columns={"corpus": corpus}), X, y, corpus


def test_cross_corpus_fits_on_one_corpus_and_tests_on_the_other_with_each_corpuss_own_cv():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from faceprobe.classify.run import ClassifyOptions, run_classify

    ds, X, y, corpus = _arrays()
    res = run_classify(ClassifyOptions(head="logreg", train_where=("corpus=A",), test_where=("corpus=B",), cv=5, engine="sklearn",
                                       jobs=1, predictions=True), [ds])
    cell = res["cells"][0]
    fold = res["folds"][0]
    assert fold["n_train"] == 100 and fold["n_test"] == 100
    want = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[corpus == "A"], y[corpus == "A"])
    expected = balanced_accuracy_score(y[corpus == "B"], want.predict(X[corpus == "B"].astype(np.float32)))
    assert cell["summary"]["balanced_accuracy"]["mean"] == pytest.approx(expected, abs=0.011)
    assert "ci" in cell["summary"]["balanced_accuracy"]
    for part in ("train", "test"):
        within = cell["within"][part]
        assert within["rows"] == 100 and within["subjects"] == 10 and within["split"]["group"] and within["split"]["cv"] == 5
        assert within["summary"]["balanced_accuracy"]["over"] == "folds"
    from faceprobe.results import Results

    text = Results(res).format()
    assert "cross-corpus: train where corpus=A, test where corpus=B" in text
    assert "within the train corpus, its own 5-fold CV, grouped by subject (100 images, 10 subjects)" in text


def test_cross_corpus_options_are_refused_when_they_cannot_combine(tiny_cache, invoke):
    for args, want in ((["--train-where", "subject=subj1"], "--train-where subject=subj1: needs --test-where"),
                       (["--train-where", "subject=subj1", "--test-where", "subject=subj2", "--holdout", 0.5],
                        "--holdout 0.5: cannot be combined with --train-where subject=subj1: a cross-corpus run is one fit"),
                       (["--train-where", "subject=subj1", "--test-where", "subject=subj1,subj2"], "rows (e.g."),
                       (["--train-where", "nope=1", "--test-where", "subject=subj2"], "--train-where nope=1: no column 'nope'"),
                       (["--train-where", "subject=zzz", "--test-where", "subject=subj2"], "--train-where subject=zzz: selects no row"),
                       (["--train-where", "subject", "--test-where", "subject=subj2"], "--train-where subject: expected COLUMN=VALUE")):
        r = invoke("classify", "-c", tiny_cache, "--head", "logreg", *args, "-q")
        assert r.exit_code != 0 and want in r.output, (args, r.output)
        assert "Traceback" not in r.output


def test_a_subject_in_both_corpora_is_noted():
    from faceprobe.classify.data.arrays import dataset_from_arrays
    from faceprobe.classify.run import ClassifyOptions, run_classify

    ds, X, y, corpus = _arrays()
    mixed = corpus.copy()
    mixed[[95, 105]] = mixed[[105, 95]]  # subject 9 now has a row in corpus B, subject 10 one in A
    ds = dataset_from_arrays(X, y, ds.groups, columns={"corpus": mixed})
    res = run_classify(ClassifyOptions(head="logreg", train_where=("corpus=A",), test_where=("corpus=B",), cv=5, engine="sklearn",
                                       jobs=1), [ds])
    assert any("2 subjects are in both corpora (e.g. 10)" in n for n in res["notes"]), res["notes"]


@pytest.fixture(scope="module")
def two_corpora(real_dir, tmp_path_factory):
    """The dev faces of people with 4 or more images, split by subject into two manifests (corpus A
    and B), featurized one after the other into one cache (lite0, fp32, eager)."""
    import pandas as pd

    from faceprobe.featurize.pipeline import featurize

    m = pd.read_csv(real_dir / "manifest.csv")
    counts = m["subject"].value_counts()
    m = m[m["subject"].isin(counts[counts >= 4].index)]
    subjects = sorted(m["subject"].unique())
    folder = tmp_path_factory.mktemp("corpora")
    cache = folder / "c.h5"
    for name, part in (("A", subjects[::2]), ("B", subjects[1::2])):
        rows = m[m["subject"].isin(part)].assign(corpus=name)
        rows.to_csv(folder / f"{name}.csv", index=False)
        featurize(str(folder / f"{name}.csv"), backbones=["efficientnet_lite0"], weights=["DEFAULT"],
                                  cache=str(cache), root=str(real_dir / "images"), progress=False, workers=0, precision="fp32",
                                  compile="none")
    return cache, m, subjects


def test_real_faces_cross_corpus_from_the_cli_and_the_api_agree(two_corpora, invoke, tmp_path):
    cache, m, subjects = two_corpora
    r = invoke("classify", "-c", cache, "--head", "logreg,svm", "--train-where", "corpus=A", "--test-where", "corpus=B", "--min-count", 10,
               "--cv", 5, "--engine", "sklearn", "--json", tmp_path / "r.json", "--permutations", 3, "-q")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "r.json").read_text())
    n_a = int((m["subject"].isin(subjects[::2]) & (m["label"] != "fear")).sum())
    fold = res["folds"][0]
    assert fold["n_train"] == n_a and fold["n_test"] == res["rows"] - n_a
    assert not any("in both corpora" in n for n in res["notes"])
    assert all(c["within"]["train"].get("summary") for c in res["cells"])
    assert all("p_permutation" in g for g in res["grid"]) and all(0 < c["permutation"]["p"] <= 1 for c in res["cells"])
    api = faceprobe.evaluate(str(cache), head=["logreg", "svm"], train_where=["corpus=A"], test_where=["corpus=B"], min_count=10,
                             cv=5, engine="sklearn", permutations=3)
    for c in res["cells"]:
        assert api.cell(c["head"])["summary"]["balanced_accuracy"]["mean"] == pytest.approx(c["summary"]["balanced_accuracy"]["mean"])
        assert api.cell(c["head"])["permutation"]["p"] == pytest.approx(c["permutation"]["p"])
    # one fit across people is harder than the training corpus's own grouped CV would suggest, or about as hard
    within = res["cells"][0]["within"]["train"]["summary"]["balanced_accuracy"]["mean"]
    across = res["cells"][0]["summary"]["balanced_accuracy"]["mean"]
    assert 0.15 < across < within + 0.15


def test_corpora_with_no_class_in_common_are_refused_and_classes_only_in_the_test_corpus_are_noted():
    from dataclasses import replace

    from faceprobe.classify.run import ClassifyOptions, run_classify
    from faceprobe.errors import OptionError

    ds, X, y, corpus = _arrays()
    renamed = replace(ds, y=np.where(corpus == "B", np.char.add("other_", y.astype(str)), y).astype(str))
    opts = ClassifyOptions(head="logreg", train_where=("corpus=A",), test_where=("corpus=B",), cv=5, engine="sklearn", jobs=1,
                           progress=False)
    with pytest.raises(OptionError, match=r"test_where='corpus=B': the test corpus's classes \(other_a, other_b\) share none "
                                          r"with the training corpus's \(a, b\): every figure would be 0; map both"):
        run_classify(opts, [renamed])
    partly = replace(ds, y=np.where((corpus == "B") & (y == "b"), "surprise", y).astype(str))
    res = run_classify(opts, [partly])
    assert any("50 test images are of classes the training corpus lacks (surprise): every one of them counts as an error" in n
               for n in res["notes"])
