"""classify: metrics, splits, leakage guards, heads, CLI; real features at the end."""

import json
import subprocess
import sys

import numpy as np
import pytest

from faceprobe.classify.data.dataset import load_dataset, parse_class_map
from faceprobe.classify.evaluate import EvalConfig, evaluate
from faceprobe.classify.heads.registry import HEADS
from faceprobe.classify.fitting.folds import make_fold
from faceprobe.classify.metrics import fold_metrics
from faceprobe.classify.protocols.splits import SplitSpec, make_splits
from faceprobe.errors import FaceprobeError
import faceprobe
from faceprobe.errors import OptionError

def test_metrics_against_hand_computed_case():
    y = np.array(["a", "a", "a", "b", "b", "c"])
    p = np.array(["a", "a", "b", "b", "c", "c"])
    m = fold_metrics(y, p, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert m["per_class"]["b"]["precision"] == pytest.approx(1 / 2)
    assert m["per_class"]["c"]["specificity"] == pytest.approx(4 / 5)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    f1_b = 2 * 0.5 * 0.5 / 1.0
    assert m["per_class"]["b"]["f1"] == pytest.approx(f1_b)
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_grouped_splits_never_split_a_subject():
    y = np.array(["a", "b"] * 30)
    groups = np.repeat([f"s{i}" for i in range(15)], 4)
    for _, train, test in make_splits(y, groups, SplitSpec(cv=5, group=True, seed=1)):
        assert not set(groups[train]) & set(groups[test])
    for _, train, test in make_splits(y, groups, SplitSpec(cv=None, holdout=0.2, group=True, repeats=3)):
        assert not set(groups[train]) & set(groups[test])
        assert 0.1 < len(test) / len(y) < 0.35


def test_too_small_class_names_it():
    y = np.array(["a"] * 20 + ["rare"] * 3)
    with pytest.raises(FaceprobeError, match="class 'rare' has 3 rows, fewer than the 5 splits need; use `cv=3`"):
        make_splits(y, None, SplitSpec(cv=5, group=False))


def test_scaler_pca_and_undersampling_fit_on_training_rows_only(tmp_path, synthetic_cache):
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5")))
    train, test = np.arange(0, 36), np.arange(36, 48)
    ds.X[test] += 1000.0  # if test rows leaked into the scaler, training rows would collapse
    cfg = EvalConfig(heads=["logreg"], pca=3, balance="undersample")
    fold = make_fold(ds, train, test, cfg, seed=0)
    Xtr, ytr, Xte = fold.X_train, fold.ytr, fold.X_test
    assert np.allclose(Xtr.mean(axis=0), 0, atol=1e-4)
    assert Xte.mean() > 50 or Xte.mean() < -50 or np.abs(Xte).max() > 50
    _, counts = np.unique(ytr, return_counts=True)
    assert len(set(counts)) == 1


def test_augmented_views_reach_training_folds_only(tmp_path, synthetic_cache):
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", views=("hflip",))), "toy", with_views=True)
    assert set(ds.views) == {"hflip"}
    train, test = np.arange(0, 30), np.arange(30, 48)
    fold = make_fold(ds, train, test, EvalConfig(heads=["knn"], augmented=True), seed=0)
    ytr, gtr, Xte = fold.ytr, fold.gtr, fold.X_test
    assert len(ytr) == 60 and Xte.shape[0] == 18
    assert set(gtr) == set(ds.groups[train])  # views carry their source image's subject


def test_every_head_runs_on_grouped_folds(tmp_path, synthetic_cache):
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", n_subjects=15)))
    res = evaluate(ds, EvalConfig(heads=["dnn", "knn", "logreg", "mlp", "svm"], split=SplitSpec(cv=3, group=True)))
    for h, r in res["heads"].items():
        assert 0.0 <= r["summary"]["accuracy"]["mean"] <= 1.0
        assert np.sum(r["confusion"]) == 60
    assert res["heads"]["logreg"]["summary"]["accuracy"]["mean"] > 0.6


def test_nested_grid_records_choices(tmp_path, synthetic_cache):
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", n_subjects=15)))
    res = evaluate(ds, EvalConfig(heads=["svm", "knn"], grid={"C": [0.01, 10], "k": [1, 7]}, split=SplitSpec(cv=3, group=True)))
    for f in res["heads"]["svm"]["folds"]:
        assert f["params"]["C"] in (0.01, 10) and len(f["inner_scores"]) == 2
    with pytest.raises(FaceprobeError, match="params='gamma': no selected head takes it"):
        evaluate(ds, EvalConfig(heads=["knn"], grid={"gamma": [1]}))


def test_parallel_equals_serial(tmp_path, synthetic_cache):
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5")))
    a = evaluate(ds, EvalConfig(heads=["logreg", "knn"], split=SplitSpec(cv=3), jobs=1))
    b = evaluate(ds, EvalConfig(heads=["logreg", "knn"], split=SplitSpec(cv=3), jobs=2))
    for h in a["heads"]:
        assert a["heads"][h]["summary"] == b["heads"][h]["summary"]


def test_class_map():
    assert parse_class_map(["pain=pain,grimace", "nopain=neutral"]) == {"pain": "pain", "grimace": "pain", "neutral": "nopain"}
    with pytest.raises(FaceprobeError, match="mapped to both"):
        parse_class_map(["a=x", "b=x"])


def test_cli_table_json_and_errors(tmp_path, synthetic_cache, invoke):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=15)
    r = invoke("classify", "--cache", cache, "--head", "logreg,knn", "--cv", 3, "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert "grouped by subject (15 subjects)" in r.output
    assert "balanced accuracy" in r.output and "confusion matrix" in r.output and "logreg" in r.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["provenance"]["split"]["group"] is True and data["provenance"]["seed"] == 0
    r2 = invoke("classify", "--cache", cache, "--head", "logreg", "--cv", 3, "--group", "none")
    assert "NOT grouped by subject" in r2.output
    for args, msg in [
        (("--head", "tree"), f"--head tree: unknown head; choose from: {', '.join(HEADS.names())}, all"),
        (("--backbone", "resnet"), "unknown feature key 'resnet'"),
        (("--cv", 50), "--cv 50: more folds than the largest class has rows (20); use --cv 20 or fewer"),
        (("--classes", "pain=grimace"), "--classes grimace: unknown label(s)"),
    ]:
        res = invoke("classify", "--cache", cache, *args)
        assert res.exit_code == 1 and msg in res.output, res.output


def test_foreign_file_refused(tmp_path, invoke):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = 1
    r = invoke("classify", "--cache", tmp_path / "x.h5")
    assert r.exit_code == 1 and "not a faceprobe cache" in r.output


def test_classify_fit_and_loading_a_model_never_import_torch(tmp_path, synthetic_cache):
    """skops lists scikit-learn's estimators on import, a walk that would import torch through
    scikit-learn's vendored array-API shim; classify, fit and loading a .skops model stay torch-free."""
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=15)
    model = tmp_path / "m.skops"
    code = ("import sys; from faceprobe.cli import cli; from faceprobe.classify.model import load_model; "
            f"cli(['classify', '--cache', r'{cache}', '--head', 'logreg', '--cv', '3'], standalone_mode=False); "
            f"cli(['fit', '--cache', r'{cache}', '--head', 'logreg', '--cv', '2', '-o', r'{model}'], standalone_mode=False); "
            f"assert load_model(r'{model}')['head'] == 'logreg'; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('TORCHLESS')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "TORCHLESS" in out.stdout


def test_real_features_grouped_vs_random(real_lite0_cache):
    """Both protocols on the real faces: grouped folds never share a person, random ones do."""
    ds = load_dataset(str(real_lite0_cache))
    assert len(ds.y) == 240 and ds.has_subjects
    acc, shared = {}, {}
    for name, group in (("grouped", True), ("random", False)):
        split = SplitSpec(cv=5, group=group)
        res = evaluate(ds, EvalConfig(heads=["logreg"], split=split))
        acc[name] = res["heads"]["logreg"]["summary"]["accuracy"]["mean"]
        shared[name] = sum(len(set(ds.groups[tr]) & set(ds.groups[te])) for _, tr, te in make_splits(ds.y, ds.groups, split))
    assert shared["grouped"] == 0 and shared["random"] > 0  # people with several faces straddle random folds
    assert 0.3 < acc["grouped"] <= 1.0 and 0.3 < acc["random"] <= 1.0  # five balanced classes: chance is 0.2


def test_fast_path_equals_plain_sklearn(tmp_path, synthetic_cache):
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from faceprobe.classify.heads.registry import make_head

    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", n_subjects=15, d=16)))
    split = SplitSpec(cv=3, group=True, seed=2)
    heads = ["dnn", "knn", "logreg", "mlp", "svm"]
    ours = evaluate(ds, EvalConfig(heads=heads, split=split, jobs=2))
    folds = [(tr, te) for _, tr, te in make_splits(ds.y, ds.groups, split)]
    with threadpool_limits(limits=1):
        for h in heads:
            plain = cross_validate(make_pipeline(StandardScaler(), make_head(h, seed=split.seed)), ds.X, ds.y, cv=folds,
                                   scoring=["accuracy", "balanced_accuracy"])
            got = [f["accuracy"] for f in ours["heads"][h]["folds"]]
            assert got == pytest.approx(list(plain["test_accuracy"]), abs=1e-12), h
            got = [f["balanced_accuracy"] for f in ours["heads"][h]["folds"]]
            assert got == pytest.approx(list(plain["test_balanced_accuracy"]), abs=1e-12), h


def test_precomputed_matrices_match_estimators_on_grids(tmp_path, monkeypatch, synthetic_cache):
    from faceprobe.classify.heads import fastpath

    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", n_subjects=15)))
    cfg = EvalConfig(heads=["svm", "knn"], grid={"C": [0.1, 10], "gamma": ["scale", 0.05], "kernel": ["rbf", "linear"],
                                                 "k": [1, 5], "metric": ["euclidean", "cosine"], "weights": ["uniform", "distance"]},
                     split=SplitSpec(cv=3, group=True))
    fast = evaluate(ds, cfg)
    monkeypatch.setattr(fastpath, "MAX_ROWS", 0)  # force the plain estimators
    plain = evaluate(ds, cfg)
    for h in ("svm", "knn"):
        for a, b in zip(fast["heads"][h]["folds"], plain["heads"][h]["folds"]):
            assert a["params"] == b["params"] and a["confusion"] == b["confusion"]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_results(tmp_path, synthetic_cache):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    ds = load_dataset(str(synthetic_cache(tmp_path / "c.h5", n_subjects=15)))
    cfg = dict(heads=["logreg", "svm", "dnn"], split=SplitSpec(cv=3), jobs=2)
    local = evaluate(ds, EvalConfig(**cfg))
    dask = evaluate(ds, EvalConfig(**cfg, backend="dask"))
    for h in local["heads"]:
        assert local["heads"][h]["summary"] == dask["heads"][h]["summary"]
        assert [f["confusion"] for f in local["heads"][h]["folds"]] == [f["confusion"] for f in dask["heads"][h]["folds"]]


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(tmp_path, synthetic_cache, invoke):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=15)
    r = invoke("classify", "--cache", cache, "--head", "logreg", "--cv", 3, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert r.exit_code == 1 and "cannot reach the Dask scheduler" in r.output, r.output


def test_classify_exits_non_zero_when_every_head_failed(synthetic_cache, tmp_path, invoke):
    from faceprobe.cache.store import commit, read_images

    cache = synthetic_cache(tmp_path / "c.h5")
    images = read_images(str(cache))  # a training part holding one class: no head can be trained
    images["extra"] = np.asarray(['{"part": "%s"}' % ("train" if lab == "anger" else "test") for lab in images["label"]], dtype=object)
    commit(str(cache), images=images)
    r = invoke("classify", "-c", cache, "--head", "logreg,svm", "--split-col", "part", "--train", "train", "--test", "test")
    assert r.exit_code == 1 and "\nError: no head gave results (2 of 2 failed); first, logreg on" in "\n" + r.output, r.output


def test_ctrl_c_in_classify_does_not_claim_results_were_kept(tiny_cache, invoke, monkeypatch):
    from faceprobe.classify import evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "evaluate_task", interrupted)  # the core every task's folds run in
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", 3)
    assert r.exit_code == 130 and "interrupted; nothing was written" in r.output and "kept" not in r.output


def test_grouping_by_a_column_with_one_value_suggests_what_works(synthetic_cache, tmp_path, invoke):
    from faceprobe.cache.store import read_images
    from faceprobe.cache.store import commit

    cache = synthetic_cache(tmp_path / "c.h5")
    images = read_images(str(cache))
    images["extra"] = np.asarray(['{"site": "one"}'] * len(images["path"]), dtype=object)
    commit(str(cache), images=images)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "--group", "site")
    assert r.exit_code == 1 and "splits cannot be grouped by it; use --group none" in r.output and "--cv 1" not in r.output


def test_knn_default_k_too_large_fails_knn_only_and_says_it_was_the_default(synthetic_cache, tmp_path):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=3, per_subject=4)  # 12 rows: 4 training rows per class in 3 folds
    res = faceprobe.evaluate(str(cache), head=["knn", "logreg"], cv=3, group="none", params={"knn.k": [3]})
    assert "error" not in res.cell("knn")
    small = synthetic_cache(tmp_path / "s.h5", n_subjects=2, per_subject=3)  # 6 rows, 3 in training: knn's k=5 cannot fit
    res = faceprobe.evaluate(str(small), head=["knn", "logreg"], cv=2, group="none")
    assert res.cell("knn")["error"].startswith("its default k=5 is more than the 3 training rows of the smallest fold")
    assert "error" not in res.cell("logreg")
    with pytest.raises(OptionError, match=r"params='k=5': knn: more than the 3 training rows"):
        faceprobe.evaluate(str(small), head=["knn", "logreg"], cv=2, group="none", params={"k": [5]})


def test_clips_split_across_grouped_folds_are_warned_about(synthetic_cache, tmp_path):
    from faceprobe.cache.store import commit, read_images

    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=12, per_subject=4)
    images = read_images(str(cache))  # a "clip" spans two people, so subject-grouped folds split it
    images["extra"] = np.asarray([f'{{"sequence": "q{i // 8}"}}' for i in range(len(images["path"]))], dtype=object)
    commit(str(cache), images=images)
    res = faceprobe.evaluate(str(cache), head="logreg", cv=3, aggregate="sequence")
    assert any("sequence clips have frames in more than one test fold" in n and "`group=sequence`" in n for n in res.notes)
    kept = faceprobe.evaluate(str(cache), head="logreg", cv=3, aggregate="sequence", group="sequence")
    assert not any("more than one test fold" in n for n in kept.notes)
