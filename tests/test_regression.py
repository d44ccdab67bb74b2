"""Continuous targets (issue 26): regressors equal scikit-learn's on the same folds, grids follow the
metric's direction, bad targets are refused before work, fit/predict and reports, and every
protocol on real faces with targets made from the images (tests/data/targets.py)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import faceprobe
from faceprobe.classify.regression.heads import REGRESSORS, make_regressor
from faceprobe.classify.regression.metrics import regression_figures

from .conftest import TINY

sys.path.insert(0, str(Path(__file__).parent / "data"))
from targets import with_targets  # noqa: E402


def _linear(n=240, d=12, subjects=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + rng.normal(scale=0.3, size=n)
    return X.astype(np.float32), y, np.repeat(np.arange(subjects), n // subjects).astype(str)


@pytest.mark.parametrize("head", sorted(REGRESSORS.names()))
def test_every_regressor_equals_scikit_learns_cross_validate_on_the_same_folds(head):
    from sklearn.model_selection import GroupKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, g = _linear()
    cv = GroupKFold(n_splits=4)
    res = faceprobe.evaluate(X, y=y, groups=g, target="t", cv=cv, head=[head], jobs=1, predictions=True)
    pipe = make_pipeline(StandardScaler(), make_regressor(head, seed=0))
    ref = cross_validate(pipe, X, y, groups=g, cv=cv, scoring=("neg_mean_absolute_error", "neg_root_mean_squared_error"),
                         return_indices=True, return_estimator=True)
    folds = res.folds().sort_values("fold")
    np.testing.assert_allclose(folds["mae"], -ref["test_neg_mean_absolute_error"], rtol=1e-4)
    np.testing.assert_allclose(folds["rmse"], -ref["test_neg_root_mean_squared_error"], rtol=1e-4)
    pred = res.predictions().sort_values("fold")
    for f, (est, test) in enumerate(zip(ref["estimator"], ref["indices"]["test"])):
        mine = pred[pred["fold"] == f]
        np.testing.assert_array_equal(mine["path"].astype(int), test)
        want = regression_figures(y[test], est.predict(X[test]))
        got = folds[folds["fold"] == f].iloc[0]
        for name in ("pearson_r", "spearman_rho", "icc_3_1", "ccc"):
            assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-6), name


def test_a_lower_is_better_metric_makes_the_lowest_mean_the_best_cell():
    X, y, g = _linear()
    noise = np.random.default_rng(1).normal(size=(len(X), 40)).astype(np.float32)
    heads = ["ridge", "knn"]
    for metric, pick in (("mae", min), ("ccc", max)):
        res = faceprobe.evaluate(np.hstack([X, noise]), y=y, groups=g, target="t", cv=4, head=heads, jobs=1, metric=metric)
        grid = res.grid()
        best = grid[grid["best"]].iloc[0]
        assert best["mean"] == pick(grid["mean"]) and best["head"] == "ridge"
        assert grid[~grid["best"]]["p_holm"].iloc[0] < 0.05
    assert "mae (lower is better)" in res.format() or "ccc (higher is better)" in res.format()


def test_inner_cv_picks_by_the_metric_and_grouped_splits_keep_subjects_apart():
    X, y, g = _linear()
    res = faceprobe.evaluate(X, y=y, groups=g, target="t", cv=4, head=["ridge"], params={"alpha": [0.01, 1e5]}, jobs=1,
                             predictions=True, metric="mae")
    folds = res.folds()
    assert all(p == {"alpha": 0.01} for p in folds["params"])  # a huge alpha shrinks to the mean: a worse MAE
    scores = folds.iloc[0]["inner_scores"]
    assert scores["alpha=0.01"] < scores["alpha=100000.0"]  # reported as MAE, in its own direction
    pred = res.predictions()
    train_subjects = {f: set(np.unique(_linear()[2])) - set(pred[pred["fold"] == f]["path"].astype(int).map(lambda i: g[i]))
                      for f in range(4)}
    for f in range(4):
        assert not train_subjects[f] & set(pred[pred["fold"] == f]["path"].astype(int).map(lambda i: g[i]))


def test_arrays_with_several_targets_give_one_cell_per_target_and_frames_with_the_target():
    X, y, g = _linear()
    res = faceprobe.evaluate(X, y={"valence": y, "arousal": -2 * y + 1}, groups=g, target=["valence", "arousal"], cv=4,
                             head="ridge,knn", jobs=1)
    assert res.targets == ["valence", "arousal"] and len(res.raw["cells"]) == 4
    frame = res.to_frame()
    assert set(frame["target"]) == {"valence", "arousal"} and set(frame["metric"]) >= {"mae", "ccc", "icc_3_1"}
    a, b = res.cell("ridge", target="valence"), res.cell("ridge", target="arousal")
    assert b["summary"]["mae"]["mean"] == pytest.approx(2 * a["summary"]["mae"]["mean"], rel=1e-3)  # a scaled target: scaled errors
    assert res.cell("ridge", target="valence")["summary"]["ccc"]["mean"] == pytest.approx(b["summary"]["ccc"]["mean"], rel=1e-3)
    assert list(res.grid()["target"]) == ["valence", "valence", "arousal", "arousal"]
    assert res.summary().loc[("arousal", "mae"), ("knn", "mean")] > 0


@pytest.fixture(scope="module")
def tiny_target_cache(tmp_path_factory):
    """12 synthetic images with a manifest of numeric columns, featurized with a tiny random-weight backbone."""
    from faceprobe.featurize.pipeline import featurize

    from .conftest import make_face_like

    root = tmp_path_factory.mktemp("target")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        img = make_face_like(rng, 48)
        img.save(root / f"f{i}.png")
        rows.append({"path": f"f{i}.png", "label": "x", "subject": f"s{i % 6}", "pain": round(float(np.asarray(img).mean()) / 25, 3),
                     "flat": 3, "clip": f"c{i % 12}", "part": "test" if i % 6 == 0 else "train",
                     "broken": "n/a" if i == 7 else str(i), "gappy": "" if i == 9 else str(i)})
    with open(root / "m.csv", "w", newline="") as handle:
        w = csv.DictWriter(handle, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cache = root / "c.h5"
    featurize(str(root / "m.csv"), backbones=[TINY], weights=["none"], cache=str(cache), root=str(root),
                              progress=False, workers=0, precision="fp32", compile="none")
    return cache


def test_bad_targets_are_refused_before_work_naming_the_row_or_the_fold(tiny_target_cache, invoke):
    c = tiny_target_cache
    r = invoke("classify", "-c", c, "--target", "broken", "--cv", 3, "-q")
    assert r.exit_code == 1 and "--target broken: row" in r.output and "f7.png" in r.output and "'n/a', not a number" in r.output
    r = invoke("classify", "-c", c, "--target", "gappy", "--cv", 3, "-q")
    assert r.exit_code == 1 and "f9.png" in r.output and "is missing" in r.output
    r = invoke("classify", "-c", c, "--target", "flat", "--cv", 3, "-q")
    assert r.exit_code == 1 and "repeat 0, fold 0 has the value 3" in r.output and "constant target" in r.output
    r = invoke("classify", "-c", c, "--target", "nope", "-q")
    assert r.exit_code == 1 and "--target nope: not a column" in r.output
    r = invoke("classify", "-c", c, "--target", "pain", "--bins", "0,1", "-q")
    assert r.exit_code == 1 and "--bins 0,1: 2 edges make fewer than two bins; give at least three edges" in r.output
    r = invoke("classify", "-c", c, "--target", "pain", "--bins", "0,3,1", "-q")
    assert r.exit_code == 1 and "--bins 0,3,1: edges must increase" in r.output
    r = invoke("classify", "-c", c, "--target", "pain", "--bins", "0,nan,9", "-q")
    assert r.exit_code == 1 and "--bins 0,nan,9: edges must be numbers, finite except the first and last" in r.output
    r = invoke("classify", "-c", c, "--target", "pain", "--bins", "5,6,7", "--cv", 3, "-q")
    assert r.exit_code == 1 and "--bins 5,6,7: row" in r.output and "outside 5..7" in r.output
    for args, want in ((["--bins", "0,1,3"], "--bins 0,1,3: needs --target: bins a continuous target"),
                       (["--target", "pain", "--balance", "undersample"], "--balance undersample: cannot be combined with --target pain: balances classes"),
                       (["--target", "pain", "--head", "svm"], "--head svm: not a regressor"),
                       (["--target", "pain", "--metric", "f1_macro"], "--metric f1_macro: is a classification metric"),
                       (["--metric", "ccc"], "--metric ccc: is a regression metric"),
                       (["--target", "pain", "--engine", "onedal"], "--engine onedal: regressors run on scikit-learn")):
        r = invoke("classify", "-c", c, *args, "-q")
        assert r.exit_code != 0 and want in r.output, (args, r.output)
        assert "Traceback" not in r.output


def test_fixed_splits_clips_and_bins_work_for_a_target(tiny_target_cache, invoke, tmp_path):
    c = tiny_target_cache
    r = invoke("classify", "-c", c, "--target", "pain", "--head", "ridge,knn", "--param", "knn.k=3", "--split-col", "part",
               "--train", "train", "--test", "test", "--bins", "0,2,4,11", "--json", tmp_path / "r.json", "-q")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "r.json").read_text())
    ridge = next(x for x in res["cells"] if x["head"] == "ridge")
    assert ridge["summary"]["mae"]["over"] == "bootstrap" and ridge["summary"]["mae"]["ci"][0] <= ridge["summary"]["mae"]["mean"]
    assert ridge["bins"]["classes"] == ["[0,2)", "[2,4)", "[4,11]"] and np.sum(ridge["bins"]["confusion"]) == 4
    assert "value [95% CI]" in r.output
    other = next(g for g in res["grid"] if not g["best"])  # one split: Wilcoxon's test on the paired absolute errors
    from faceprobe.significance import wilcoxon_errors

    errors = {x["head"]: np.abs(np.subtract(x["y_pred"], x["y_true"])) for x in _with_predictions(c, tmp_path)}
    best = next(g["head"] for g in res["grid"] if g["best"])
    assert other["p_vs_best"] == pytest.approx(wilcoxon_errors(errors[best], errors[other["head"]]))
    r = invoke("classify", "-c", c, "--target", "pain", "--head", "ridge", "--cv", 3, "--aggregate", "clip", "--json",
               tmp_path / "a.json", "-q")
    assert r.exit_code == 0, r.output
    clips = json.loads((tmp_path / "a.json").read_text())["cells"][0]["clips"]
    assert clips["clips"] == 12 and clips["summary"]["mae"]["mean"] >= 0 and "per clip (12 test clips" in r.output


def _with_predictions(cache, tmp_path):
    res = faceprobe.evaluate(str(cache), target="pain", head="ridge,knn", params=["knn.k=3"], split_col="part", train=["train"],
                             test=["test"], predictions=True)
    return res.raw["folds"]


def test_fit_and_predict_a_regressor_give_the_pipelines_values(tiny_target_cache, invoke, tmp_path):
    from faceprobe.classify.model import load_model

    c = tiny_target_cache
    out = tmp_path / "m.skops"
    r = invoke("fit", "-c", c, "--target", "pain", "--head", "ridge", "--cv", 3, "-o", out)
    assert r.exit_code == 0 and "to predict pain; cross-validated ccc" in r.output, r.output
    model = load_model(str(out))
    assert model["task"] == "regression" and model["target"] == "pain" and model["params"]["alpha"] == "auto"
    folder = Path(c).parent
    r = invoke("predict", folder / "m.csv", "--model", out, "--root", folder, "-c", c, "-o", tmp_path / "p.csv", "-q")
    assert r.exit_code == 0, r.output
    import pandas as pd

    from faceprobe.api import load_features

    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns) == ["path", "pain", "reason"] and len(pred) == 24
    feats = load_features(str(c))
    want = dict(zip(feats.obs["path"].map(lambda p: Path(p).name), model["pipeline"].predict(feats.X)))
    np.testing.assert_allclose(pred["pain"], [want[Path(p).name] for p in pred["path"]], rtol=1e-5)
    r = invoke("fit", "-c", c, "--target", "pain", "--target", "flat", "--head", "ridge", "-o", tmp_path / "two.skops")
    assert r.exit_code == 1 and "fit trains one model for one target" in r.output


def test_a_regression_report_has_scatter_and_per_subject_plots_and_escapes_text(tiny_target_cache, invoke, tmp_path):
    c = tiny_target_cache
    r = invoke("classify", "-c", c, "--target", "pain", "--head", "ridge,knn", "--param", "knn.k=3", "--cv", 3, "--report",
               tmp_path / "r.html", "--table", tmp_path / "t.tex", "-q")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert page.count('alt="ridge scatter"') == 1 and 'alt="knn per-subject error"' in page
    assert "Pooled over all test predictions" in page
    assert r"ccc (higher is better)" in (tmp_path / "t.tex").read_text()
    res = faceprobe.evaluate(str(c), target="pain", head="ridge", cv=3)
    res.report(str(tmp_path / "r.md"))
    md = (tmp_path / "r.md").read_text()
    assert "| MAE |" in md and "largest errors by subject" in md


# ---- real faces -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_targets(real_dir, tmp_path_factory):
    """The dev faces of subjects with 4 or more images (598 faces, 59 people), with brightness and
    score (brightness / 10 + a per-subject offset + noise) targets, a part and a clip column,
    featurized with efficientnet_lite0 (fp32, eager: the same vectors on every run)."""
    import pandas as pd

    from faceprobe.featurize.pipeline import featurize

    m = pd.read_csv(real_dir / "manifest.csv")
    counts = m["subject"].value_counts()
    rows = with_targets(m[m["subject"].isin(counts[counts >= 4].index)].to_dict("records"), real_dir / "images")
    subjects = sorted({r["subject"] for r in rows})
    for i, r in enumerate(rows):
        r["part"] = "test" if subjects.index(r["subject"]) % 4 == 0 else "train"
        r["clip"] = f"{r['subject']}-{i % 2}"  # two clips per person
    folder = tmp_path_factory.mktemp("real-targets")
    pd.DataFrame(rows).to_csv(folder / "m.csv", index=False)
    cache = folder / "c.h5"
    featurize(str(folder / "m.csv"), backbones=["efficientnet_lite0"], weights=["DEFAULT"], cache=str(cache),
                              root=str(real_dir / "images"), progress=False, workers=0, precision="fp32", compile="none")
    return cache


def test_real_faces_brightness_is_predicted_under_grouped_cv(real_targets):
    res = faceprobe.evaluate(str(real_targets), target="brightness", head="svr,ridge", cv=5, jobs=-1)
    for head in ("svr", "ridge"):
        pooled = res.cell(head)["pooled"]
        assert pooled["pearson_r"] > 0.2 and pooled["ccc"] > 0.15, (head, pooled)
    assert "splits grouped by subject (59 subjects)" in " ".join(res.notes)


def test_real_faces_a_subject_baseline_target_shows_the_leak_of_random_splits(real_targets):
    grouped = faceprobe.evaluate(str(real_targets), target="score", head="svr", cv=5, jobs=-1).cell("svr")["pooled"]["ccc"]
    leaky = faceprobe.evaluate(str(real_targets), target="score", head="svr", cv=5, group="none", jobs=-1).cell("svr")["pooled"]["ccc"]
    assert leaky > grouped + 0.1, (leaky, grouped)  # random splits learn each person's offset from their other images


@pytest.mark.parametrize("protocol", [
    {"cv": "loso"}, {"holdout": 0.3}, {"cv": 3, "repeats": 2}, {"split_col": "part", "train": ["train"], "test": ["test"]},
    {"cv": 3, "params": {"svr.C": [0.1, 1, 10]}}, {"cv": 3, "normalize": "subject"}, {"cv": 3, "aggregate": "clip"},
    {"cv": 3, "bins": "0,40,60,100"}, {"cv": 3, "pca": 20},
])
def test_real_faces_a_target_runs_through_every_protocol(real_targets, protocol):
    res = faceprobe.evaluate(str(real_targets), target="brightness", head="svr,knn", jobs=-1, **protocol)
    for head in ("svr", "knn"):
        c = res.cell(head)
        assert "error" not in c and c["pooled"]["mae"] < 20 and len(c["per_subject"]) >= 10
    assert len(res.raw["grid"]) == 2 and sum(g["best"] for g in res.raw["grid"]) == 1
    if "aggregate" in protocol:
        assert res.cell("svr")["clips"]["clips"] == 2 * 59
    if "bins" in protocol:
        assert res.cell("svr")["bins"]["classes"] == ["[0,40)", "[40,60)", "[60,100]"]


def test_open_outer_bin_edges_make_open_bins():
    from faceprobe.classify.regression.targets import bin_labels, bin_names, parse_bins

    edges = parse_bins("-inf,8,inf")
    assert edges == (-np.inf, 8.0, np.inf)
    assert bin_names(edges) == ["[-inf,8)", "[8,inf]"]
    assert list(bin_labels(np.array([-1e300, 7.9, 8.0, 1e300]), edges)) == ["[-inf,8)", "[-inf,8)", "[8,inf]", "[8,inf]"]


def _target_arrays(values, groups=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(len(values), 5)) + np.asarray(values, float)[:, None]
    return X, np.asarray(values, float), groups if groups is not None else np.array([f"s{i % 6}" for i in range(len(values))])


@pytest.mark.parametrize("scale, message", [(1e300, r"row 4 has 5e\+300: beyond 1e\+100 squared errors overflow, so no figure .* divide it by 1e300"),
                                            (1e-300, r"its values span only 4e-300: below 1e-100 variances underflow, .* multiply it by 1e300")])
def test_a_target_on_a_scale_that_overflows_or_underflows_is_refused_before_any_fold(scale, message):
    from faceprobe.errors import OptionError

    X, values, groups = _target_arrays(np.arange(24) % 5 + 1)
    with pytest.raises(OptionError, match=message):
        faceprobe.evaluate(X, y=values * scale, groups=groups, target="pain", head="ridge", cv=3, progress=False)


def test_figures_of_a_small_scale_target_show_significant_digits_not_zeros():
    from faceprobe.report.regression import _n, _v

    assert _n(2.5e-5) == "2.5e-05" and _n(0.0451) == "0.045" and _n(0) == "0.000" and _n(3.2e7) == "3.2e+07"
    assert _v({"mean": 2e-5, "std": 1e-6}) == "2e-05 ± 1e-06"


def test_under_loso_a_target_constant_within_each_subject_gives_no_fold_agreement_figures_and_says_why():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"s{i}" for i in range(6)], 5)
    values = np.repeat(np.arange(6, dtype=float), 5)  # each person has one value
    X = rng.normal(size=(30, 4)) + values[:, None]
    res = faceprobe.evaluate(X, y=values, groups=groups, target="pain", head="ridge", cv="loso", progress=False).raw
    cell = res["cells"][0]
    for m in ("ccc", "icc_3_1", "pearson_r", "spearman_rho"):
        assert cell["summary"][m] is None  # not 0.000 ± 0.000
    assert cell["pooled"]["ccc"] is not None and cell["summary"]["mae"]["mean"] > 0
    assert any("in 6 of 6 test folds every row has the same pain" in n and "not given" in n for n in res["notes"])
    from faceprobe.classify.regression.metrics import ccc, icc_3_1

    assert np.isnan(ccc(np.ones(4), np.array([0.9, 1.1, 1.0, 1.2]))) and np.isnan(icc_3_1(np.column_stack([np.ones(4), np.arange(4.0)])))
    assert ccc(np.arange(4.0), np.arange(4.0)) == pytest.approx(1.0)
