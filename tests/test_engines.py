"""Engines for heads: choice, refusal, faithfulness to scikit-learn, every core of one fit, memory, cuML by mocks."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
from sklearn.svm import SVC

from faceprobe.classify.engines.wrappers import Coded, RowBlocks
from faceprobe.classify.engines import ENGINES, check_engine, choose_engine, engine_status
from faceprobe.classify.heads.registry import HEADS
from faceprobe.classify.engines.pairwise import PairwiseSVC
from faceprobe.errors import OptionError
from faceprobe.classify.records import cell, fold_records

HAS_ONEDAL = engine_status("onedal")[1] is None
needs_onedal = pytest.mark.skipif(not HAS_ONEDAL, reason="scikit-learn-intelex is not installed (pip install 'faceprobe[fast]')")
CUML_WHY = engine_status("cuml")[1]
needs_cuml = pytest.mark.skipif(CUML_WHY is not None, reason=f"cuML cannot run here: {CUML_WHY}")


def _blobs(n=900, d=40, k=5, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 0.6
    y = rng.integers(0, k, n)
    X = (centres[y] + rng.normal(size=(n, d)) * spread).astype(np.float32)
    return X, np.array([f"c{i}" for i in range(k)])[y]


# --- choosing and refusing -------------------------------------------------------------------------------

def test_auto_without_a_calibration_takes_the_highest_ranked_usable_engine_the_params_allow():
    svm = HEADS.get("svm")
    status = {"sklearn": ("1", None), "onedal": ("2", None), "cuml": (None, "no CUDA device")}
    p = svm.merged({})
    assert choose_engine("auto", svm, p, status).name == "onedal"
    assert choose_engine("auto", svm, p, {**status, "cuml": ("3", None)}).name == "cuml"
    poly = choose_engine("auto", svm, svm.merged({"kernel": "poly"}), status)
    assert poly.name == "sklearn" and "kernel=poly" in poly.note
    assert choose_engine("auto", HEADS.get("mlp"), HEADS.get("mlp").merged({}), status).name == "sklearn"
    assert choose_engine("sklearn", svm, p, status).name == "sklearn"


def test_a_named_engine_that_is_missing_or_fits_no_head_is_refused_with_one_line():
    with pytest.raises(OptionError) as e:
        check_engine("nosuch", {"svm": HEADS.get("svm")})
    assert "choose from" in str(e.value)
    if engine_status("cuml")[1]:
        with pytest.raises(OptionError) as e:
            check_engine("cuml", {"svm": HEADS.get("svm")})
        assert "faceprobe[gpu]" in str(e.value) or "CUDA" in str(e.value)
    if HAS_ONEDAL:
        with pytest.raises(OptionError) as e:
            check_engine("onedal", {"mlp": HEADS.get("mlp")}, dict(HEADS.items()))
        assert "knn, logreg, svm" in str(e.value)


def test_cli_engine_refusal_names_the_flag(invoke, tiny_cache):
    res = invoke("classify", "-c", tiny_cache, "--head", "mlp", "--engine", "onedal" if HAS_ONEDAL else "cuml", "--cv", "3", "-q")
    assert res.exit_code != 0
    assert res.output.strip().startswith("Error: --engine") and len(res.output.strip().splitlines()) == 1


# --- scikit-learn on every core: the same model ----------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"kernel": "linear"}, {"class_weight": "balanced"}, {"kernel": "poly"}, {"gamma": 0.02, "C": 10.0}])
def test_pairwise_svc_equals_sklearn_svc_on_synthetic_data(kw):
    X, y = _blobs()
    Xtr, ytr, Xte = X[:700], y[:700], X[700:]
    ref = SVC(**kw).fit(Xtr, ytr)
    ovo = SVC(decision_function_shape="ovo", **kw).fit(Xtr, ytr).decision_function(Xte)
    for jobs in (1, 3):
        mine = PairwiseSVC(SVC(**kw), n_jobs=jobs).fit(Xtr, ytr)
        np.testing.assert_array_equal(mine.predict(Xte), ref.predict(Xte))
        np.testing.assert_allclose(mine.pairwise_decision(Xte), ovo, atol=1e-9)
        np.testing.assert_allclose(mine.decision_function(Xte), ref.decision_function(Xte), atol=1e-9)


def test_pairwise_svc_on_a_precomputed_kernel_and_two_classes():
    X, y = _blobs(k=4)
    K = X[:600].astype(np.float64) @ X[:600].astype(np.float64).T
    Kte = X[600:].astype(np.float64) @ X[:600].astype(np.float64).T
    ref = SVC(kernel="precomputed").fit(K, y[:600])
    mine = PairwiseSVC(SVC(kernel="precomputed"), n_jobs=2).fit(K, y[:600])
    np.testing.assert_array_equal(mine.predict(Kte), ref.predict(Kte))
    two = y[:600] != y[0]
    mine2 = PairwiseSVC(SVC(), n_jobs=2).fit(X[:600][two], (y[:600][two] == y[1]).astype(int))
    np.testing.assert_array_equal(mine2.predict(X[600:]), SVC().fit(X[:600][two], (y[:600][two] == y[1]).astype(int)).predict(X[600:]))


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("k", [1, 4, 5])
def test_knn_prediction_is_the_first_most_probable_class_even_with_ties(weights, k):
    """classify reads knn's predictions off its probabilities (one neighbour search): the same as predict."""
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(k)
    X = rng.integers(0, 3, size=(600, 3)).astype(float)  # many equal distances, some zero
    y = np.array(list("abcd"))[rng.integers(0, 4, 600)]
    m = KNeighborsClassifier(k, weights=weights).fit(X[:400], y[:400])
    np.testing.assert_array_equal(HEADS.get("knn").from_scores(m.classes_, m.predict_proba(X[400:])), m.predict(X[400:]))


def _svm_builds(onedal: bool):
    builds = {"SVC": lambda: SVC(), "PairwiseSVC": lambda: PairwiseSVC(SVC(), n_jobs=2)}
    if onedal:
        builds["onedal"] = lambda: HEADS.get("svm").engines["onedal"].build(HEADS.get("svm").merged({}), 0, 2)
    return builds


@pytest.mark.parametrize("k", [2, 3, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_svm_prediction_is_libsvms_vote_read_off_the_decision_values(k, seed):
    """classify reads svm's predictions off its one-vs-rest decision values (one kernel pass): libsvm's vote, ties included."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(700, 4)).astype(np.float32)  # weak signal: many tied votes among 6 classes
    y = np.array([f"c{i}" for i in range(k)])[rng.integers(0, k, 700)]
    X[:, 0] += (y == "c0") * 0.8
    ties = 0
    for name, build in _svm_builds(HAS_ONEDAL).items():
        m = build().fit(X[:500], y[:500])
        dec = m.decision_function(X[500:])
        np.testing.assert_array_equal(HEADS.get("svm").from_scores(m.classes_, dec), m.predict(X[500:]), err_msg=name)
        if dec.ndim == 2:
            top = np.sort(np.rint(dec), axis=1)
            ties += int(np.sum(top[:, -1] == top[:, -2]))
    assert k < 6 or ties > 0, "the case must include tied votes"


def test_row_blocks_predict_as_the_plain_estimator():
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _blobs(n=1500)
    plain = KNeighborsClassifier(7).fit(X[:1000], y[:1000])
    blocks = RowBlocks(KNeighborsClassifier(7), n_jobs=2).fit(X[:1000], y[:1000])
    np.testing.assert_array_equal(blocks.predict(X[1000:]), plain.predict(X[1000:]))
    np.testing.assert_array_equal(blocks.predict_proba(X[1000:]), plain.predict_proba(X[1000:]))


def test_a_model_saved_when_the_wrappers_lived_in_builds_still_loads(tmp_path, monkeypatch):
    from sklearn.neighbors import KNeighborsClassifier

    from faceprobe.classify.model import _load_skops
    from faceprobe.classify.engines import wrappers

    sio = pytest.importorskip("skops.io")
    X, y = _blobs(n=300)
    model = RowBlocks(KNeighborsClassifier(5), n_jobs=2).fit(X[:200], y[:200])
    monkeypatch.setattr(wrappers.RowBlocks, "__module__", "faceprobe.classify.engines.builds")
    sio.dump({"model": model}, tmp_path / "old.skops")
    monkeypatch.undo()
    assert "faceprobe.classify.engines.builds.RowBlocks" in sio.get_untrusted_types(file=tmp_path / "old.skops")
    loaded = _load_skops(str(tmp_path / "old.skops"))["model"]
    assert type(loaded) is wrappers.RowBlocks
    np.testing.assert_array_equal(loaded.predict(X[200:]), model.predict(X[200:]))


def _fixed_split_cache(tmp_path, n=1200, d=24, k=5, seed=0):
    """A cache of separable-ish rows, a Usage column with Training and PrivateTest parts."""
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit
    from tests.conftest import SPEC

    X, y = _blobs(n=n, d=d, k=k, seed=seed, spread=1.3)
    sha = [f"{i:064x}" for i in range(n)]
    usage = np.where(np.arange(n) < int(n * 0.75), "Training", "PrivateTest")
    images = {"path": np.array([f"/x/{i}.png" for i in range(n)]), "sha256": np.array(sha), "label": y,
              "subject": np.array([f"s{i % 60}" for i in range(n)]), "status": np.array(["ok"] * n),
              "extra": np.array([json.dumps({"Usage": u}) for u in usage])}
    feats = {"toy.none.orig.0000000000": {"spec": SPEC, "sha256": np.array(sha), "vectors": X, "face": np.full(n, -1, np.int8),
                                         "box": np.full((n, 4), -1, np.int32)}}
    path = tmp_path / "fixed.h5"
    commit(str(path), images=images, parts=[Part({"run_id": "r"}, {}, feats)])
    return path


def test_a_single_fit_uses_every_job_with_identical_results(tmp_path):
    """A fixed split is one task: with jobs=2 its svm pairs and knn blocks run on two threads; numbers unchanged."""
    import faceprobe

    cache = _fixed_split_cache(tmp_path)
    runs = {}
    for jobs in (1, 2):
        res = faceprobe.evaluate(str(cache), head=["svm", "knn", "logreg"], split_col="Usage", train="Training", test="PrivateTest",
                                 jobs=jobs, engine="sklearn", predictions=True).raw
        runs[jobs] = res
        for h in ("svm", "knn", "logreg"):
            assert fold_records(res, h)[0]["cores"] == jobs
    for h in ("svm", "knn", "logreg"):
        a, b = fold_records(runs[1], h)[0], fold_records(runs[2], h)[0]
        assert a["y_pred"] == b["y_pred"]
        np.testing.assert_array_equal(np.array(a["scores"]), np.array(b["scores"]))


def test_results_report_engine_seconds_and_peak_memory_per_head(tmp_path):
    import faceprobe

    cache = _fixed_split_cache(tmp_path, n=400)
    res = faceprobe.evaluate(str(cache), head=["svm", "mlp"], split_col="Usage", train="Training", test="PrivateTest", engine="sklearn").raw
    for h in ("svm", "mlp"):
        head = cell(res, h)
        assert head["engine"] == ["sklearn"] and head["seconds"] > 0
        assert head["peak_rss_bytes"] >= head["added_rss_bytes"] >= 0 and head["peak_rss_bytes"] > 10 << 20
    assert res["provenance"]["engines"]["svm"][0]["engine"] == "sklearn"
    assert any(n.startswith("engines (sklearn): svm on sklearn") for n in res["notes"])


def test_a_run_whose_head_would_not_fit_in_memory_is_refused_before_work(tmp_path, invoke):
    cache = _fixed_split_cache(tmp_path, n=400)
    from faceprobe.classify.data.diskrows import choose_memory

    need = choose_memory(400, 24).need  # enough for the matrix, too little for svm's working copies and kernel cache
    res = invoke("classify", "-c", cache, "--head", "svm", "--split-col", "Usage", "--train", "Training", "--test", "PrivateTest",
                 "--max-memory", str(need + 1000), "--engine", "sklearn", "--jobs", "1", "-q")
    assert res.exit_code != 0
    line = res.output.strip()
    assert line.startswith("Error: --max-memory") and "svm on sklearn needs about" in line and len(line.splitlines()) == 1


# --- oneDAL: faithful to scikit-learn ------------------------------------------------------------------------

def _reference(head: str, p: dict) -> dict:
    """scikit-learn's parameters for the reference: the same, except that an iterative solver
    (logreg's lbfgs) runs to convergence. At its default tol=1e-4, lbfgs stops where its own
    answer still moves (on 28,000 face vectors, 1.7 % of test predictions change between tol
    1e-4 and 1e-6): the reference is the model, not one early stop on the way to it."""
    return {**p, "tol": 1e-8, "max_iter": 100000} if head == "logreg" else p


def _agreement(X, y, head, params, folds=5, engine="onedal"):
    """An engine against scikit-learn: (share of test images predicted alike over all folds, largest
    difference of a fold's accuracy in points)."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    spec = HEADS.get(head)
    p = spec.merged(params)
    out = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        sc = StandardScaler().fit(X[tr])
        Xtr, Xte = sc.transform(X[tr]).astype(np.float32), sc.transform(X[te]).astype(np.float32)
        ref = spec.build(_reference(head, p), 0).fit(Xtr, y[tr]).predict(Xte)
        fast = spec.engines[engine].build(p, 0, 2).fit(Xtr, y[tr]).predict(Xte)
        out.append(((ref == fast).sum(), len(te), 100 * abs((ref == y[te]).mean() - (fast == y[te]).mean())))
    return sum(o[0] for o in out) / sum(o[1] for o in out), max(o[2] for o in out)


ACCEPTED = [(h, params) for h, params in [
    ("svm", {}), ("svm", {"kernel": "linear"}), ("svm", {"C": 10.0}), ("svm", {"gamma": "auto"}),
    ("knn", {}), ("knn", {"metric": "cosine"}), ("knn", {"metric": "manhattan"}), ("knn", {"weights": "distance"}), ("knn", {"k": 1}),
    ("logreg", {}), ("logreg", {"C": 0.1})]]


CUML_ACCEPTED = [(h, p) for h, p in ACCEPTED if HEADS.get(h).engines["cuml"].accepts(HEADS.get(h).merged(p)) is None]
CASES = ([pytest.param("onedal", h, p, marks=needs_onedal, id=f"onedal-{h}-{p}") for h, p in ACCEPTED]
         + [pytest.param("cuml", h, p, marks=needs_cuml, id=f"cuml-{h}-{p}") for h, p in CUML_ACCEPTED])


@pytest.mark.parametrize("engine,head,params", CASES)
def test_engine_agrees_with_sklearn_on_synthetic_data(engine, head, params):
    assert HEADS.get(head).engines[engine].accepts(HEADS.get(head).merged(params)) is None
    X, y = _blobs(n=1500, d=64, k=6, seed=3, spread=1.6)
    agree, diff = _agreement(X, y, head, params, engine=engine)
    assert agree >= 0.99 and diff <= 0.5, (head, params, agree, diff)


@pytest.mark.real
@pytest.mark.parametrize("engine,head,params", CASES)
def test_engine_agrees_with_sklearn_on_real_faces(engine, head, params, real_lite0_cache):
    from faceprobe.classify.data.dataset import load_dataset

    ds = load_dataset(str(real_lite0_cache))
    agree, diff = _agreement(np.asarray(ds.X), ds.y, head, params, engine=engine)
    assert agree >= 0.99 and diff <= 0.5, (head, params, agree, diff)


@needs_onedal
def test_onedal_repeats_its_numbers_and_says_so(tmp_path):
    import faceprobe

    cache = _fixed_split_cache(tmp_path)
    a, b = (faceprobe.evaluate(str(cache), head=["svm", "knn", "logreg"], split_col="Usage", train="Training", test="PrivateTest",
                               engine="onedal", jobs=2, predictions=True).raw for _ in range(2))
    for h in ("svm", "knn", "logreg"):
        assert cell(a, h)["engine"] == ["onedal"]
        assert fold_records(a, h)[0]["y_pred"] == fold_records(b, h)[0]["y_pred"]
        assert fold_records(a, h)[0]["scores"] == fold_records(b, h)[0]["scores"]
    assert a["provenance"]["engines"]["svm"][0]["version"] == engine_status("onedal")[0]


# --- cuML: the CUDA path, with a stand-in module --------------------------------------------------------------

class _CodesOnly:
    """Stands in for a cuML estimator: takes float32 rows and int32 class codes only, returns a 'device array'."""

    def __init__(self, inner, **kw):
        self.inner, self.kw = inner, kw

    def set_params(self, **p):
        self.inner.set_params(**p)
        return self

    def fit(self, X, y, **kw):
        assert X.dtype == np.float32 and y.dtype == np.int32
        self.inner.fit(X, y, **kw)
        return self

    def predict(self, X):
        return types.SimpleNamespace(get=lambda: self.inner.predict(X))

    def predict_proba(self, X):
        return self.inner.predict_proba(X)


class _SvcCodesOnly(_CodesOnly):
    """cuML's SVC: scores by ``decision_function`` (no ``probability=True``, which scikit-learn 1.9
    deprecates and 1.11 removes)."""

    def decision_function(self, X):
        return self.inner.decision_function(X)


@pytest.fixture
def fake_cuml(monkeypatch):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    cuml = types.ModuleType("cuml")
    cuml.__version__ = "99.0-mock"
    svm, nb, lm = (types.ModuleType(f"cuml.{m}") for m in ("svm", "neighbors", "linear_model"))
    svm.SVC = lambda kernel, C, gamma, multiclass_strategy, output_type: _SvcCodesOnly(SVC(kernel=kernel, C=C, gamma=gamma))
    nb.KNeighborsClassifier = lambda n_neighbors, metric, output_type: _CodesOnly(KNeighborsClassifier(n_neighbors, metric=metric))
    lm.LogisticRegression = lambda C, max_iter, tol, output_type: _CodesOnly(LogisticRegression(C=C, max_iter=max_iter, tol=tol))
    cuml.svm, cuml.neighbors, cuml.linear_model = svm, nb, lm
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    for name, mod in {"cuml": cuml, "cuml.svm": svm, "cuml.neighbors": nb, "cuml.linear_model": lm, "cupy": cupy}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return cuml


def test_cuml_path_codes_labels_and_records_the_engine(fake_cuml, tmp_path):
    import faceprobe

    assert engine_status("cuml") == ("99.0-mock", None)
    cache = _fixed_split_cache(tmp_path, n=400)
    res = faceprobe.evaluate(str(cache), head=["svm", "knn", "logreg", "mlp"], split_col="Usage", train="Training",
                             test="PrivateTest", engine="cuml", predictions=True).raw
    for h in ("svm", "knn", "logreg"):
        assert cell(res, h)["engine"] == ["cuml"]
        assert set(fold_records(res, h)[0]["y_pred"]) <= set(res["classes"])
    assert cell(res, "mlp")["engine"] == ["sklearn"]
    assert res["provenance"]["engines"]["knn"] == [{"engine": "cuml", "version": "99.0-mock", "device": "cuda"}]
    ref = faceprobe.evaluate(str(cache), head=["logreg"], split_col="Usage", train="Training", test="PrivateTest", engine="sklearn",
                             predictions=True).raw
    assert fold_records(res, "logreg")[0]["y_pred"] == fold_records(ref, "logreg")[0]["y_pred"]


def test_cuml_without_a_device_is_refused(fake_cuml, monkeypatch):
    monkeypatch.setattr(sys.modules["cupy"].cuda.runtime, "getDeviceCount", lambda: 0)
    with pytest.raises(OptionError) as e:
        check_engine("cuml", {"svm": HEADS.get("svm")})
    assert "no CUDA device" in str(e.value)
    assert choose_engine("auto", HEADS.get("svm"), HEADS.get("svm").merged({}),
                         {n: engine_status(n) for n in ENGINES.names()}).name in ("onedal", "sklearn")


def test_coded_wrapper_maps_codes_back_to_labels():
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs(n=300, k=3)
    est = Coded(_CodesOnly(LogisticRegression())).fit(X, y)
    assert set(est.predict(X)) <= set(y) and list(est.classes_) == sorted(set(y))
    assert est.predict_proba(X).shape == (300, 3)
    assert not hasattr(est, "decision_function")


@pytest.fixture(scope="module")
def fer_style_cache(real_dir, tmp_path_factory):
    """6,000 FER-format 48 x 48 grey faces drawn from the dev faces (random crops, flips, noise;
    training and test people disjoint), featurized with efficientnet_lite0: the scale at which
    oneDAL's SVC, run as scikit-learn-intelex ships it, stopped short of libsvm's solution."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from scale_data import build

    work = tmp_path_factory.mktemp("fer-style")
    build(real_dir, work, total_train=5000, train_point=5000, test_rows=1000)
    return work / "scale.h5"


@needs_onedal
@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize("head", ["svm", "knn"])
def test_onedal_agrees_with_sklearn_on_5000_augmented_real_faces(head, fer_style_cache):
    """At 5,000 training rows (svm: about 4,100 support vectors), oneDAL's default SVC agreed with
    libsvm on only 87 % of test faces; faceprobe's oneDAL svm (float64 rows, tol 1e-5) must agree
    on >= 99 %, with accuracy within 0.5 points."""
    from sklearn.preprocessing import StandardScaler

    from faceprobe.classify.data.dataset import load_dataset

    ds = load_dataset(str(fer_style_cache))
    usage = ds.columns["Usage"]
    tr, te = np.flatnonzero(usage == "Training"), np.flatnonzero(usage == "PrivateTest")
    X = np.asarray(ds.X)
    sc = StandardScaler().fit(X[tr])
    Xtr, Xte = sc.transform(X[tr]).astype(np.float32), sc.transform(X[te]).astype(np.float32)
    spec = HEADS.get(head)
    p = spec.merged({})
    ref = spec.build(p, 0).fit(Xtr, ds.y[tr]).predict(Xte)
    fast = spec.engines["onedal"].build(p, 0, 2).fit(Xtr, ds.y[tr]).predict(Xte)
    agree = float(np.mean(ref == fast))
    diff = 100 * abs(np.mean(ref == ds.y[te]) - np.mean(fast == ds.y[te]))
    assert agree >= 0.99 and diff <= 0.5, (head, agree, diff)


def test_engines_command_lists_every_engine_with_its_status(invoke):
    res = invoke("engines", "--json")
    assert res.exit_code == 0
    rows = {r["engine"]: r for r in json.loads(res.output)}
    assert set(rows) == set(ENGINES.names())
    assert rows["sklearn"]["usable"] and set(rows["sklearn"]["heads"]) == set(HEADS.names())
    assert rows["onedal"]["usable"] == HAS_ONEDAL and set(rows["onedal"]["heads"]) == {"knn", "logreg", "svm"}
    assert rows["cuml"]["usable"] == (CUML_WHY is None) and rows["cuml"]["device"] == "cuda"
    text = invoke("engines").output
    assert "sklearn" in text and "heads:" in text


@needs_onedal
def test_a_model_fitted_on_onedal_names_the_extra_where_it_is_missing(tmp_path, monkeypatch):
    from faceprobe.classify.model import load_model
    from faceprobe.classify.run import ClassifyOptions, run_fit

    cache = _fixed_split_cache(tmp_path, n=300)
    out = tmp_path / "m.joblib"
    model = run_fit(ClassifyOptions(cache=str(cache), head="svm", cv=3, engine="onedal"), str(out))
    assert model["engine"]["engine"] == "onedal"
    assert load_model(str(out), allow_pickle=True)["engine"] == model["engine"]
    monkeypatch.setitem(sys.modules, "sklearnex", None)  # as where scikit-learn-intelex is not installed
    with pytest.raises(OptionError) as e:
        load_model(str(out), allow_pickle=True)
    assert "onedal engine" in str(e.value) and "faceprobe[fast]" in str(e.value)


# --- auto by calibration -------------------------------------------------------------------------------

from faceprobe.classify.fitting import calibrate  # noqa: E402

FAKE_STATUS = {"sklearn": ("1", None), "onedal": ("2", None), "cuml": (None, "no CUDA device")}


def _planned(tmp_path, monkeypatch, law, n=1200, heads=("svm",), grid=None, train_share=0.75, memo=None):
    """plan_engines on a fixed split of ``n`` rows with the timed work replaced by ``law(engine, rows)``
    seconds and oneDAL taken as usable, decisions remembered in ``memo`` (default: in ``tmp_path``);
    returns (decisions, calls made as (engine, rows))."""
    from dataclasses import replace

    from faceprobe.classify.config import EvalConfig
    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.evaluate import prepare_config

    calls = []

    def fake(ds, cfg, head, engine, train, test, seed):
        if len(train) > 2 * calibrate.WARM_UP_ROWS:  # not the untimed warm-up runs
            calls.append((engine, len(train)))
        return law(engine, len(train))

    monkeypatch.setattr(calibrate, "_time", fake)
    monkeypatch.setattr(calibrate, "calibrations_path", lambda: memo or tmp_path / "engines.json")
    tmp_path.mkdir(exist_ok=True)
    ds = load_dataset(str(_fixed_split_cache(tmp_path, n=n, d=8)))
    cut = int(n * train_share)
    cfg = replace(prepare_config(EvalConfig(heads=list(heads), grid=grid or {})), engine_status=FAKE_STATUS)
    cfg, decisions = calibrate.plan_engines(ds, cfg, [(0, np.arange(cut), np.arange(cut, n))])
    assert cfg.engine_plan == {h: d.engine for h, d in decisions.items()}
    return decisions, calls


def test_auto_picks_an_engine_that_gains_with_size_from_samples_smaller_than_the_run(tmp_path, monkeypatch):
    """scikit-learn grows as n^2, the other engine as n^1.5: 1.25x slower at 256 rows, faster from 512."""
    law = {"sklearn": lambda m: 1e-5 * m ** 2, "onedal": lambda m: 2e-4 * m ** 1.5}
    decisions, calls = _planned(tmp_path, monkeypatch, lambda e, m: law[e](m), n=6000)
    d = decisions["svm"]
    assert d.engine == "onedal" and d.rows == 4500
    assert max(m for _, m in calls) < 4500  # decided on samples, within the budget
    assert "faster than scikit-learn" in d.reason and "predicted" in d.reason
    assert d.predicted["onedal"] < calibrate.MARGIN * d.predicted["sklearn"]


def _ratio_law(ratio):
    """scikit-learn's seconds grow as 1e-6 m^2; the other engine's are ``ratio(m)`` times those."""
    return lambda e, m: 1e-6 * m ** 2 * (ratio(m) if e == "onedal" else 1.0)


def test_auto_times_a_predicted_crossing_on_larger_samples_and_keeps_scikit_learn_when_it_fades(tmp_path, monkeypatch):
    """3x slower at 256 rows, 2x at 512 (a crossing predicted), then flattening: 1.125x at 4,096 of 9,000."""
    decisions, calls = _planned(tmp_path, monkeypatch, _ratio_law(lambda m: 1.0 + 2.0 * 256 / m), n=12000)
    d = decisions["svm"]
    assert d.engine == "sklearn" and "slower than scikit-learn at 4,096 rows" in d.reason
    assert max(m for _, m in calls) * calibrate.TRUST >= 9000  # timed up to a quarter of the run before deciding


def test_auto_takes_an_engine_slower_on_small_samples_when_a_quarter_of_the_run_predicts_it_faster(tmp_path, monkeypatch):
    """3.5x slower at 256 rows, falling as m^-0.4: 1.16x slower at 4,096, predicted 1.2x faster at the run's 9,000."""
    decisions, calls = _planned(tmp_path, monkeypatch, _ratio_law(lambda m: 3.5 * (m / 256) ** -0.4), n=12000)
    d = decisions["svm"]
    assert d.engine == "onedal" and "slower than scikit-learn at 4,096 rows, predicted" in d.reason and "faster at the run's" in d.reason


def test_auto_never_acts_on_a_crossing_predicted_from_samples_far_smaller_than_the_run(tmp_path, monkeypatch):
    """The same fall, but the largest budget ends the samples far below a quarter of 45,000 rows."""
    law = _ratio_law(lambda m: 3.5 * (m / 256) ** -0.4)
    decisions, calls = _planned(tmp_path, monkeypatch, lambda e, m: 30 * law(e, m), n=60000)
    d = decisions["svm"]
    assert max(m for _, m in calls) * calibrate.TRUST < 45000
    assert d.engine == "sklearn" and "not seen on a sample of at least 1/4" in d.reason


def test_auto_stops_timing_once_no_size_could_change_the_answer(tmp_path, monkeypatch):
    """10x slower at 256 rows cannot become faster by 900 rows under the widest growth gap: one size timed."""
    law = {"sklearn": lambda m: 1e-4 * m ** 2, "onedal": lambda m: 1e-3 * m ** 2}
    decisions, calls = _planned(tmp_path, monkeypatch, lambda e, m: law[e](m), n=1200)
    assert decisions["svm"].engine == "sklearn"
    assert len({m for _, m in calls}) == 1 and max(m for _, m in calls) <= calibrate.FIRST_ROWS


def test_auto_times_nothing_else_when_the_work_is_small(tmp_path, monkeypatch):
    decisions, calls = _planned(tmp_path, monkeypatch, lambda e, m: 1e-9 * m ** 2, n=1200)
    assert decisions["svm"].engine == "sklearn" and decisions["svm"].reason.startswith("small work")
    assert [e for e, _ in calls] == ["sklearn"]


def test_a_calibration_is_remembered_per_shape_and_made_again_for_another_grid(tmp_path, monkeypatch):
    law = {"sklearn": lambda m: 1e-5 * m ** 2, "onedal": lambda m: 2e-4 * m ** 1.5}
    memo = tmp_path / "memo.json"
    first, calls = _planned(tmp_path, monkeypatch, lambda e, m: law[e](m), n=3000, memo=memo)
    again, calls_again = _planned(tmp_path / "2", monkeypatch, lambda e, m: law[e](m), n=3000, memo=memo)
    assert calls and not calls_again
    assert again["svm"].remembered and again["svm"].engine == first["svm"].engine and again["svm"].seconds == 0
    other, calls_other = _planned(tmp_path / "3", monkeypatch, lambda e, m: law[e](m), n=3000, grid={"svm.C": [1, 10]}, memo=memo)
    assert calls_other and not other["svm"].remembered


def test_a_remembered_decision_of_the_wrong_shape_is_timed_again_and_replaced(tmp_path, monkeypatch):
    import json

    law = {"sklearn": lambda m: 1e-5 * m ** 2, "onedal": lambda m: 2e-4 * m ** 1.5}
    memo = tmp_path / "memo.json"
    first, _ = _planned(tmp_path, monkeypatch, lambda e, m: law[e](m), n=3000, memo=memo)
    (key,) = json.loads(memo.read_text())
    for forged in ({**first["svm"].as_dict(), "engine": 5}, {**first["svm"].as_dict(), "engine": "gpu9"},
                   {**first["svm"].as_dict(), "rows": "many"}, {**first["svm"].as_dict(), "timed": []}, ["svm", "onedal"]):
        memo.write_text(json.dumps({key: forged}))
        again, calls = _planned(tmp_path / "again", monkeypatch, lambda e, m: law[e](m), n=3000, memo=memo)
        assert calls and not again["svm"].remembered and again["svm"].engine == first["svm"].engine
        assert json.loads(memo.read_text())[key]["engine"] == first["svm"].engine  # the forged entry replaced


def test_a_head_with_a_plan_is_not_timed_again(tmp_path, monkeypatch):
    """Permutations evaluate the same rows with the run's plan: no head is timed twice."""
    from dataclasses import replace

    from faceprobe.classify.config import EvalConfig
    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.evaluate import prepare_config

    monkeypatch.setattr(calibrate, "_time", lambda *a: pytest.fail("timed again"))
    ds = load_dataset(str(_fixed_split_cache(tmp_path, n=400, d=8)))
    cfg = replace(prepare_config(EvalConfig(heads=["svm"])), engine_status=FAKE_STATUS, engine_plan={"svm": "onedal"})
    cfg, decisions = calibrate.plan_engines(ds, cfg, [(0, np.arange(300), np.arange(300, 400))])
    assert decisions == {} and cfg.engine_for(HEADS.get("svm"), HEADS.get("svm").merged({})).name == "onedal"


@needs_onedal
def test_auto_runs_each_head_on_the_engine_its_calibration_chose_with_that_engines_numbers(tmp_path):
    """Real timings (no stand-ins): the results record the decision, the folds ran on it, and the
    predictions are those of the same engine asked for by name."""
    import faceprobe

    cache = _fixed_split_cache(tmp_path, n=1400, d=32)
    kw = dict(head=["svm", "logreg"], split_col="Usage", train="Training", test="PrivateTest", predictions=True)
    res = faceprobe.evaluate(str(cache), engine="auto", **kw).raw
    plan = res["provenance"]["engine_plan"]["toy.none.orig.0000000000"]
    for head in ("svm", "logreg"):
        chosen = plan[head]["engine"]
        assert cell(res, head)["engine"] == [chosen]
        assert any(n.startswith(f"engine auto: {head} on {chosen}") for n in res["notes"])
        same = faceprobe.evaluate(str(cache), engine=chosen, **kw).raw
        assert fold_records(res, head)[0]["y_pred"] == fold_records(same, head)[0]["y_pred"]
        timed = plan[head]["timed"]
        if "onedal" in timed:  # timed: the choice was not slower where both ran
            at = {e: dict(map(tuple, pts)) for e, pts in timed.items()}
            size = max(at["sklearn"])
            assert at[chosen][size] <= at["sklearn" if chosen == "onedal" else "onedal"][size] * (1 / calibrate.MARGIN)


def test_on_the_dev_faces_auto_keeps_small_work_on_scikit_learn_with_its_numbers(real_lite0_cache):
    import faceprobe

    kw = dict(head=["svm", "knn", "logreg"], cv=3, min_count=5, predictions=True)
    res = faceprobe.evaluate(str(real_lite0_cache), engine="auto", **kw).raw
    ref = faceprobe.evaluate(str(real_lite0_cache), engine="sklearn", **kw).raw
    for head in ("svm", "knn", "logreg"):
        assert cell(res, head)["engine"] == ["sklearn"]
        assert [f["y_pred"] for f in fold_records(res, head)] == [f["y_pred"] for f in fold_records(ref, head)]
    if HAS_ONEDAL:
        plan = next(iter(res["provenance"]["engine_plan"].values()))
        assert all(d["reason"].startswith("small work") for d in plan.values())


def test_a_calibration_sample_takes_the_code_path_and_kernel_cache_pressure_of_the_run_it_stands_for(tmp_path):
    """300 rows standing for a 30,000-row fold: no precomputed 300 x 300 kernel (the run's fold is too
    large for one), and libsvm's cache shrunk by (300 / 30,000)^2 as the run's kernel outgrows it."""
    from dataclasses import replace

    from faceprobe.classify.config import EvalConfig
    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.evaluate import prepare_config
    from faceprobe.classify.fitting.folds import make_fold

    ds = load_dataset(str(_fixed_split_cache(tmp_path, n=400, d=8)))
    cfg = prepare_config(EvalConfig(heads=["svm"], engine="sklearn"))

    def fitted(c):
        fold = make_fold(ds, np.arange(300), np.arange(300, 400), c, 0)
        return fold.fit_predict("svm", {}, np.arange(300), None, fold.ytr)[0]

    assert fitted(cfg).kernel == "precomputed"
    standing = fitted(replace(cfg, as_rows=30000))
    assert standing.kernel == "rbf" and standing.cache_size == pytest.approx(200 * (300 / 30000) ** 2)


def test_a_failed_calibration_keeps_scikit_learn_and_is_not_remembered(tmp_path, monkeypatch):
    def law(e, m):
        if e == "onedal":
            raise RuntimeError("oneDAL: out of memory")
        return 1e-5 * m ** 2

    first, _ = _planned(tmp_path, monkeypatch, law, n=3000)
    assert first["svm"].engine == "sklearn" and "calibration failed (RuntimeError: oneDAL: out of memory)" in first["svm"].reason
    again, calls = _planned(tmp_path / "2", monkeypatch, law, n=3000, memo=tmp_path / "engines.json")
    assert calls and not again["svm"].remembered


def test_small_work_records_its_prediction_and_is_where_no_calibration_can_pay(tmp_path, monkeypatch):
    """Below SMALL_WORK_S even the smallest calibration would cost more than its share of the run."""
    assert calibrate.SMALL_WORK_S == calibrate.BUDGET_S[0] / calibrate.BUDGET_SHARE
    decisions, calls = _planned(tmp_path, monkeypatch, lambda e, m: 1e-6 * m ** 2, n=1200)  # about 0.8 s for the run
    d = decisions["svm"]
    assert d.reason.startswith("small work") and [e for e, _ in calls] == ["sklearn"]
    assert d.predicted["sklearn"] == pytest.approx(1e-6 * 256 ** 2 * (900 / 256) ** 2, rel=1e-3)


def test_a_heads_declared_growth_bounds_what_small_samples_show():
    """logreg's lbfgs grows at least as n^1.5: two samples dominated by fixed costs (n^0.14) do not
    predict a 10x larger run to take only 1.4x as long."""
    from faceprobe.classify.heads.registry import HEADS

    points = [(256, 1.0), (512, 1.1)]
    assert calibrate._at(points, 5120) == pytest.approx(1.1 * 10 ** 0.5)  # the generic floor
    growth = HEADS.get("logreg").growth
    assert calibrate._at(points, 5120, growth) == pytest.approx(1.1 * 10 ** growth[0])
    assert calibrate._at([(256, 1.0)], 2560, growth) == pytest.approx(10 ** growth[1])  # one point: quadratic, within the range
