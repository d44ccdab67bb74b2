"""The Python API a notebook uses: load_features, evaluate -> Results, register_head, predict, plug-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import faceprobe
from faceprobe.classify.heads.registry import HEADS, register_head
from faceprobe.classify.records import cell, fold_records
from faceprobe.errors import OptionError


def _lda(p, seed):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=p["shrinkage"])


@pytest.fixture
def lda_head():
    """A head registered from Python for one test, removed afterwards."""
    spec = register_head("lda_test", _lda, params={"shrinkage": "auto"}, description="shrunk LDA")
    yield spec
    HEADS.unregister("lda_test")


def test_import_faceprobe_loads_neither_torch_sklearn_nor_pandas():
    code = "import sys, faceprobe; faceprobe.__all__; print(sorted(m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert set(faceprobe.__all__) >= {"load_features", "evaluate", "register_head", "predict", "Results", "Features"}


def test_the_api_with_its_signatures_loads_no_scikit_learn_until_a_head_is_built():
    code = ("import sys, inspect, faceprobe; inspect.signature(faceprobe.compute_features); inspect.signature(faceprobe.evaluate); "
            "assert 'head' in faceprobe.evaluate.__doc__ and 'svm' in faceprobe.evaluate.__doc__; "
            "print(sorted(m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # the heads' registry is read for the docs, scikit-learn is not imported (1.1 s)


def test_load_features_gives_matrix_and_obs_table(tiny_cache):
    feats = faceprobe.load_features(str(tiny_cache))
    assert feats.X.dtype == np.float32 and feats.X.shape == (60, 8)
    assert list(feats.obs.columns[:4]) == ["path", "label", "subject", "sha256"]
    assert len(feats.obs) == 60 and feats.key == "toy.none.orig.0000000000"
    assert list(feats.obs["path"]) == sorted(feats.obs["path"])  # rows in path order


def test_evaluate_returns_results_equal_to_the_cli_json(tiny_cache, tmp_path, invoke):
    res = faceprobe.evaluate(str(tiny_cache), head=["logreg", "knn"], cv=3, params={"k": [1, 7]}, predictions=True)
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg,knn", "--cv", 3, "--param", "k=1,7", "-q", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    cli = json.loads((tmp_path / "r.json").read_text())
    for head in ("logreg", "knn"):
        assert cell(res.raw, head)["summary"] == cell(cli, head)["summary"]
        assert cell(res.raw, head)["confusion"] == cell(cli, head)["confusion"]
    tidy = res.to_frame()
    assert list(tidy.columns) == ["key", "head", "repeat", "fold", "metric", "value"]
    assert len(tidy) == 2 * 3 * 6 and set(tidy["head"]) == {"logreg", "knn"}
    acc = tidy[(tidy["head"] == "logreg") & (tidy["metric"] == "accuracy")]["value"].mean()
    assert acc == pytest.approx(cell(res.raw, "logreg")["summary"]["accuracy"]["mean"])
    table = res.summary()
    assert table.loc["balanced_accuracy", ("knn", "mean")] == cell(res.raw, "knn")["summary"]["balanced_accuracy"]["mean"]
    printed = f"{100 * table.loc['accuracy', ('logreg', 'mean')]:.1f} ± {100 * table.loc['accuracy', ('logreg', 'std')]:.1f}"
    assert printed in r.output
    assert res.confusion("knn").to_numpy().sum() == 60 and len(res.predictions()) == 2 * 60


def test_library_errors_name_the_parameter_and_the_cli_the_flag(tiny_cache, invoke):
    with pytest.raises(ValueError, match=r"cv=1: must be >= 2"):
        faceprobe.evaluate(str(tiny_cache), head=["knn"], cv=1)
    with pytest.raises(ValueError, match=r"head='tree': unknown head"):
        faceprobe.evaluate(str(tiny_cache), head=["tree"])
    r = invoke("classify", "-c", tiny_cache, "--head", "knn", "--cv", 1)
    assert r.exit_code == 1 and "--cv 1: must be >= 2" in r.output


def test_registered_head_is_usable_by_evaluate_at_once(tiny_cache, lda_head):
    res = faceprobe.evaluate(str(tiny_cache), head=["lda_test", "logreg"], cv=3, balance="class-weight"
                             if lda_head.balance else "none")
    assert res.heads == ["lda_test", "logreg"]
    assert res.raw["provenance"]["heads"]["lda_test"]["shrinkage"] == "auto"
    assert cell(res.raw, "lda_test")["summary"]["accuracy"]["mean"] > 0.6  # 3 separable classes
    with pytest.raises(ValueError, match="already registered under the name 'lda_test'"):
        register_head("lda_test", _lda)
    with pytest.raises(ValueError, match="lda_test takes no class weights"):
        faceprobe.evaluate(str(tiny_cache), head=["lda_test"], cv=3, balance="class-weight")


def test_plugin_module_registers_a_head_for_the_cli(tiny_cache, tmp_path):
    (tmp_path / "my_heads.py").write_text(textwrap.dedent('''
        import faceprobe

        @faceprobe.register_head("nearest_centroid", params={"shrink": 0.0}, description="nearest class mean")
        def build(p, seed):
            from sklearn.neighbors import NearestCentroid
            return NearestCentroid(shrink_threshold=float(p["shrink"]) or None)
    '''))
    env = {**os.environ, "FACEPROBE_PLUGINS": "my_heads", "PYTHONPATH": str(tmp_path)}
    exe = os.path.join(os.path.dirname(sys.executable), "classify")
    out = subprocess.run([exe, "-c", str(tiny_cache), "--head", "nearest_centroid", "--cv", "3", "-q"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "nearest_centroid" in out.stdout and "balanced accuracy" in out.stdout
    bad = subprocess.run([exe, "-c", str(tiny_cache)], env={**env, "FACEPROBE_PLUGINS": "no_such_plugin"}, capture_output=True, text=True)
    assert bad.returncode != 0 and "FACEPROBE_PLUGINS: cannot import plug-in 'no_such_plugin'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_library_calls_leave_warnings_filters_and_matplotlib_backend_alone(tiny_cache, tmp_path):
    import matplotlib

    before_filters, before_backend = list(warnings.filters), matplotlib.get_backend()
    res = faceprobe.evaluate(str(tiny_cache), head=["dnn", "svm"], cv=3)
    res.report(str(tmp_path / "r.html"))
    assert list(warnings.filters) == before_filters
    assert matplotlib.get_backend() == before_backend


def test_haar_detection_leaves_opencvs_thread_setting_alone():
    import cv2

    from faceprobe.featurize.faces.crop import detect_largest_face
    from tests.conftest import make_face_like

    before = cv2.getNumThreads()
    detect_largest_face(make_face_like(np.random.default_rng(0), 96))
    assert cv2.getNumThreads() == before


def test_random_weights_leave_torchs_global_generator_alone():
    import torch

    from faceprobe.featurize.backbones.load import load_backbone

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    loaded = load_backbone("mobilenet_v3_small", "none", seed=5)
    assert torch.equal(torch.rand(3), expected)
    assert loaded.weights["seed"] == 5


@pytest.mark.real
def test_notebook_session_on_real_faces(real_lite0_eager_cache, tmp_path, lda_head):
    """What a researcher types in a notebook, on the 240 real dev faces."""
    feats = faceprobe.load_features(str(real_lite0_eager_cache), "efficientnet_lite0")
    assert feats.X.shape == (240, 1280) and sorted(set(feats.obs["label"])) == ["anger", "happiness", "neutral", "sadness", "surprise"]
    assert feats.obs["subject"].str.len().min() > 0
    res = faceprobe.evaluate(str(real_lite0_eager_cache), head=["logreg", "lda_test"], cv=5, jobs=2)
    table = res.summary()
    assert list(table.columns.get_level_values(0).unique()) == ["logreg", "lda_test"]
    chance = 1 / 5
    assert table.loc["balanced_accuracy", ("logreg", "mean")] > chance + 0.1
    tidy = res.to_frame()
    assert set(tidy["fold"]) == set(range(5)) and (tidy["key"] == feats.key).all()
    pivot = tidy.pivot_table(index="head", columns="metric", values="value", aggfunc="mean")
    assert pivot.loc["logreg", "accuracy"] == pytest.approx(table.loc["accuracy", ("logreg", "mean")])


def test_results_have_one_flat_shape_for_one_key_and_a_grid(tiny_cache):
    one = faceprobe.evaluate(str(tiny_cache), head=["logreg", "knn"], cv=3).raw
    feats = faceprobe.load_features(str(tiny_cache))
    assert set(one) >= {"keys", "heads", "cells", "folds", "grid", "provenance"} and "study" not in one and "per_key" not in one
    assert one["keys"] == [feats.key] and one["heads"] == ["logreg", "knn"]
    assert len(one["cells"]) == 2 and len(one["folds"]) == 2 * 3
    assert {(f["key"], f["head"], f["repeat"], f["fold"]) for f in one["folds"]} == {(feats.key, h, 0, i) for h in ("logreg", "knn") for i in range(3)}
    # predictions only when asked for
    assert not any(k in f for f in one["folds"] for k in ("y_pred", "y_true", "scores", "test_paths"))
    with pytest.raises(OptionError, match="did not keep its predictions"):
        faceprobe.Results(one).predictions()


def test_evaluate_takes_features_arrays_splitters_and_estimator_instances(tiny_cache):
    from sklearn.base import clone
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats = faceprobe.load_features(str(tiny_cache))
    by_cache = faceprobe.evaluate(str(tiny_cache), head=["logreg"], cv=3)
    by_features = faceprobe.evaluate(feats, head=["logreg"], cv=3)
    assert cell(by_features.raw, "logreg")["summary"] == cell(by_cache.raw, "logreg")["summary"]
    assert by_features.raw["notes"][0].startswith("splits grouped by subject (15 subjects)")

    y, groups = feats.obs["label"].to_numpy(), feats.obs["subject"].to_numpy()
    est = LogisticRegression(C=0.5, max_iter=500)
    res = faceprobe.evaluate(feats.X, y=y, groups=groups, cv=GroupKFold(n_splits=3), head=[est, LinearDiscriminantAnalysis(), "knn"])
    assert res.heads == ["LogisticRegression", "LinearDiscriminantAnalysis", "knn"]
    assert res.raw["provenance"]["split"]["splitter"] == "GroupKFold(n_splits=3, random_state=None, shuffle=False)"
    ours = [f["accuracy"] for f in fold_records(res.raw, "LogisticRegression")]
    theirs = cross_validate(make_pipeline(StandardScaler(), clone(est)), feats.X, y, groups=groups, cv=GroupKFold(n_splits=3),
                            scoring="accuracy")["test_score"]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    with pytest.raises(OptionError, match=r"y: give the labels"):
        faceprobe.evaluate(feats.X, head=["logreg"])
    with pytest.raises(OptionError, match=r"groups='59 values': X has 60 rows"):
        faceprobe.evaluate(feats.X, y=y, groups=groups[:-1], head=["logreg"])


def test_fit_in_the_api_trains_saves_and_predict_reads_it(tiny_cache, tmp_path):
    from faceprobe.classify.model import load_model

    model = faceprobe.fit(str(tiny_cache), "logreg", str(tmp_path / "m.skops"), cv=3, params={"C": 0.5})
    assert model["head"] == "logreg" and model["params"]["C"] == 0.5 and model["trained_rows"] == 60
    assert model["cv"]["summary"]["accuracy"]["mean"] > 0.6
    assert load_model(str(tmp_path / "m.skops"))["key"] == model["key"]
    with pytest.raises(OptionError, match="is not an option of fit"):
        faceprobe.fit(str(tiny_cache), "logreg", str(tmp_path / "n.skops"), folds=3)


def test_a_features_object_honours_min_count_classes_and_where_as_its_cache_does(tiny_cache):
    feats = faceprobe.load_features(str(tiny_cache))
    # without subjects 0 and 3 (each holds anger twice): anger 16 rows, happy and neutral 18
    kw = dict(head="logreg", cv=3, min_count=17, where=["subject!=subj0", "subject!=subj3"], progress=False)
    from_cache = faceprobe.evaluate(str(tiny_cache), **kw)
    from_object = faceprobe.evaluate(feats, **kw)
    assert from_object.raw["classes"] == from_cache.raw["classes"] == ["happy", "neutral"]
    assert from_object.raw["rows"] == from_cache.raw["rows"] == 36
    assert any("fewer than 17 rows: anger (16)" in n for n in from_object.raw["notes"])
    mapped = faceprobe.evaluate(feats, head="logreg", cv=3, classes=["calm=neutral", "happy"], progress=False)
    assert mapped.raw["classes"] == ["calm", "happy"] and mapped.raw["rows"] == 40
    from faceprobe.errors import FaceprobeError

    for data in (feats, str(tiny_cache)):  # the same refusal, naming the option and the value that works
        with pytest.raises(FaceprobeError, match="min_count=21: leaves no class, .*at least two classes.*give at most 20"):
            faceprobe.evaluate(data, head="logreg", cv=3, min_count=21, progress=False)


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_plain_script_without_a_main_guard_runs_with_worker_processes(image_folder, tmp_path, method):
    """Workers started by a fork server or spawn re-import the main script; faceprobe's workers must
    not run the user's top-level calls again (they found the cache locked by the script itself)."""
    from .conftest import TINY

    script = tmp_path / "study.py"
    script.write_text(textwrap.dedent(f"""
        import faceprobe

        print("script body runs")
        s = faceprobe.compute_features({str(image_folder)!r}, {TINY!r}, {str(tmp_path / "f.h5")!r}, weights="none", workers=1,
                                       start_method={method!r}, progress=False, precision="fp32", compile="none")
        print("computed", s["computed"])
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("script body runs") == 1 and "computed 12" in r.stdout


def test_the_api_imports_and_evaluates_under_python_OO_which_drops_docstrings(tiny_cache):
    code = ("import sys, faceprobe; r = faceprobe.evaluate(sys.argv[1], head='logreg', cv=3); "
            "print(faceprobe.evaluate.__doc__ is None, 'cv' in str(faceprobe.evaluate.__signature__), r.summary().shape[0] > 0)")
    out = subprocess.run([sys.executable, "-OO", "-c", code, str(tiny_cache)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-600:]
    assert out.stdout.split() == ["True", "True", "True"]
