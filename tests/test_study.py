"""Many keys on the same folds: the grid, its significance tests, fusion, LOSO and paper tables."""

from __future__ import annotations

import csv
import json
import math

import h5py
import numpy as np
import pytest

import faceprobe
from faceprobe.significance import corrected_t_test, holm, mcnemar_test
from faceprobe.classify.records import cell, fold_records
from faceprobe.errors import OptionError

GOOD, NOISE = "toy.none.orig.0000000000", "noise.none.orig.1111111111"


@pytest.fixture
def two_key_cache(tmp_path, synthetic_cache):
    """The synthetic cache plus a key of pure noise over the same images (the last image left out of it)."""
    cache = synthetic_cache(tmp_path / "two.h5", n_subjects=15)
    with h5py.File(cache, "r+") as f:
        f.copy(f["features"][GOOD], f["features"], NOISE)
        g = f["features"][NOISE]
        g["vectors"][...] = np.random.default_rng(1).normal(size=g["vectors"].shape).astype(np.float32)
        for name in ("sha256", "vectors", "face", "box", "run"):  # one image fewer than the good key
            g[name].resize(g[name].shape[0] - 1, axis=0)
    return cache


def test_significance_helpers_match_their_formulas():
    assert holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    a, b = np.array([0.8, 0.82, 0.79, 0.85, 0.81]), np.array([0.7, 0.75, 0.72, 0.74, 0.70])
    d = a - b
    t = d.mean() / math.sqrt((1 / 5 + 0.25) * d.var(ddof=1))
    from scipy import stats

    assert corrected_t_test(a, b, 0.25) == pytest.approx(2 * stats.t.sf(abs(t), 4))
    assert corrected_t_test(a, a, 0.25) == 1.0
    assert mcnemar_test([1, 1, 1, 0], [0, 0, 0, 0]) == mcnemar_test([0, 0, 0, 0], [1, 1, 1, 0]) == pytest.approx(0.25)


def test_grid_of_two_keys_is_paired_and_marks_the_noise_key_worse(two_key_cache, invoke, tmp_path):
    r = invoke("classify", "-c", two_key_cache, "-b", "toy", "-b", "noise", "--head", "logreg,knn", "--cv", 5, "-q", "--predictions",
               "--json", tmp_path / "r.json", "--table", tmp_path / "g.csv")
    assert r.exit_code == 0, r.output
    assert (f"note: of 60 images the keys hold: {NOISE} lacks 1; evaluated on the 59 every key holds, so all comparisons are "
            "paired (--missing impute keeps the others)") in r.output
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["rows"] == 59 and res["keys"] == [GOOD, NOISE]
    folds = {k: [f["test_paths"] for f in fold_records(res, "logreg", k)] for k in res["keys"]}
    assert folds[GOOD] == folds[NOISE]  # the same outer folds for every key
    cells = {(c["key"], c["head"]): c for c in res["grid"]}
    best = max(res["grid"], key=lambda c: c["mean"])
    assert best["key"] == GOOD and best["best"] and best["p_vs_best"] is None
    for head in ("logreg", "knn"):
        noise = cells[(NOISE, head)]
        assert noise["p_holm"] < 0.05 and not noise["tied"] and noise["p_holm"] >= noise["p_vs_best"]
    rows = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert list(rows[0]) == ["key", "head", "metric", "mean", "std", "folds", "p_vs_best", "p_holm", "tied", "engine"] and len(rows) == 4
    for row in rows:  # the engine each head ran on, as the provenance records it
        used = res["provenance"]["engines"][row["head"]]
        assert row["engine"] == "+".join(f"{e['engine']} {e['version']}" for e in used) and used
    assert "* best cell; = not significantly worse than it (corrected resampled t-test over paired folds" in r.output


def test_fusion_concatenates_keys_and_tables_render(two_key_cache, invoke, tmp_path):
    r = invoke("classify", "-c", two_key_cache, "-b", "toy", "-b", "toy+noise", "--head", "logreg", "--cv", 3, "-q",
               "--table", tmp_path / "g.tex", "--report", tmp_path / "r.html")
    assert r.exit_code == 0, r.output
    assert f"{GOOD} + {NOISE}" in r.output
    tex = (tmp_path / "g.tex").read_text()
    assert tex.startswith("\\begin{tabular}{lr}") and "\\toprule" in tex and "\\textbf{" in tex and "\\bottomrule" in tex
    page = (tmp_path / "r.html").read_text()
    assert "<table id='grid'>" in page and "<ul id='toc'>" in page and page.count("class='metrics'") == 2


def test_loso_has_one_fold_per_subject_and_pooled_figures(tiny_cache, invoke, tmp_path):
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "loso", "-q", "--predictions", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "r.json").read_text())
    folds = fold_records(res, "logreg")
    assert len(folds) == res["subjects"] == 15 and all(len({p.split("_")[0] for p in f["test_paths"]}) == 1 for f in folds)
    assert "leave-one-subject-out" in r.output and "pooled over all test predictions" in r.output
    cm = np.array(cell(res, "logreg")["confusion"])
    assert cell(res, "logreg")["pooled"]["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    bad = invoke("classify", "-c", tiny_cache, "--cv", "loso", "--group", "none")
    assert bad.exit_code == 1 and "--cv loso: leaves one subject out: it cannot be combined with --group none" in bad.output


def test_single_holdout_compares_with_mcnemar(two_key_cache, invoke):
    r = invoke("classify", "-c", two_key_cache, "-b", "toy", "-b", "noise", "--head", "logreg", "--holdout", 0.3, "-q")
    assert r.exit_code == 0, r.output
    assert "McNemar's test on the pooled predictions" in r.output


def test_api_evaluates_several_keys_into_one_grid(two_key_cache):
    res = faceprobe.evaluate(str(two_key_cache), ["toy", "noise"], head=["logreg"], cv=3)
    assert res.keys == [GOOD, NOISE]
    grid = res.grid()
    assert list(grid["key"]) == [GOOD, NOISE] and grid["best"].tolist() == [True, False]
    assert set(res.to_frame()["key"]) == {GOOD, NOISE}
    assert res.summary().loc[GOOD, ("logreg", "mean")] == grid.loc[0, "mean"]


@pytest.mark.real
def test_study_on_real_faces_ranks_imagenet_features_above_random_weights(real_lite0_eager_cache, tmp_path):
    """Three keys on the real faces: genuine ImageNet features, random-weight features, and their fusion."""
    from faceprobe.featurize.pipeline import featurize
    from tests.conftest import REAL_DIR, TINY

    import shutil

    cache = tmp_path / "study.h5"
    shutil.copy(real_lite0_eager_cache, cache)
    featurize(str(REAL_DIR / "demo.csv"), backbones=[TINY], weights=["none"], cache=str(cache), root=str(REAL_DIR / "images"),
                              progress=False, workers=0, precision="fp32", compile="none")
    res = faceprobe.evaluate(str(cache), ["efficientnet_lite0", TINY, f"efficientnet_lite0+{TINY}"], head=["logreg"], cv=10, jobs=2)
    grid = res.grid().set_index("key")
    assert grid["mean"].idxmax() != grid.index[1]  # random weights are never the best
    lite0 = grid.index[0]
    assert grid.loc[lite0, "mean"] > grid.loc[grid.index[1], "mean"]


def test_head_scoped_params_reach_that_head_only(tiny_cache):
    res = faceprobe.evaluate(str(tiny_cache), head=["svm", "logreg"], cv=3, params={"svm.C": [0.1, 10], "C": [5]})
    prov = res.raw["provenance"]["heads"]
    assert prov["svm"]["grid"] == {"C": [0.1, 10]} and prov["logreg"]["grid"] == {"C": [5]}
    assert {f["params"]["C"] for f in fold_records(res.raw, "logreg")} == {5}
    assert all(len(f["inner_scores"]) == 2 for f in fold_records(res.raw, "svm"))
    with pytest.raises(ValueError, match="params='knn.k': no selected head takes it"):
        faceprobe.evaluate(str(tiny_cache), head=["svm"], cv=3, params={"knn.k": [3]})


def test_markdown_table_bolds_the_best_cell_and_bad_suffixes_are_refused(two_key_cache, invoke, tmp_path):
    r = invoke("classify", "-c", two_key_cache, "-b", "toy", "-b", "noise", "--head", "logreg", "--cv", 3, "-q", "--table", tmp_path / "g.md")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "g.md").read_text().splitlines()
    assert lines[0] == "| key | logreg |" and lines[2].startswith(f"| {GOOD} | **") and not lines[3].count("**")
    bad = invoke("classify", "-c", two_key_cache, "--table", tmp_path / "g.xlsx")
    assert bad.exit_code == 1 and "--table" in bad.output and "a table is .csv, .tex, .md" in bad.output


def test_keys_with_no_image_in_common_are_refused_for_a_grid_and_a_fusion(tmp_path, invoke):
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    rng = np.random.default_rng(0)
    spec = {"backbone": "toy", "weights_sha256": "0" * 64, "transform": {}, "output": "x", "crop": {"method": "none", "equalize": False},
            "view": "orig", "view_params": {}}
    rows = {"path": [], "sha256": [], "label": [], "subject": [], "status": []}
    parts = {}
    for k, name in enumerate(("toy.none.orig.000000000a", "toy.none.orig.000000000b")):
        sha = [f"{k}{i:03d}".ljust(64, "c") for i in range(20)]
        for i, h in enumerate(sha):
            for c, v in zip(rows, (f"/x/{k}_{i}.jpg", h, "ab"[i % 2], f"s{i}", "ok")):
                rows[c].append(v)
        parts[name] = {"spec": {**spec, "output": name}, "sha256": np.array(sha), "vectors": rng.normal(size=(20, 4)).astype(np.float32),
                       "face": np.full(20, -1, np.int8), "box": np.full((20, 4), -1, np.int32)}
    cache = tmp_path / "two.h5"
    commit(str(cache), images={c: np.array(v) for c, v in rows.items()}, parts=[Part({"run_id": "r"}, {}, parts)])
    for keys in (["toy.none.orig.000000000a", "toy.none.orig.000000000b"], ["toy.none.orig.000000000a+toy.none.orig.000000000b"]):
        with pytest.raises(OptionError, match="these keys hold no image in common"):
            faceprobe.evaluate(str(cache), keys, head="logreg", cv=2)
    r = invoke("classify", "-c", cache, "-b", "toy.none.orig.000000000a", "-b", "toy.none.orig.000000000b", "--head", "logreg")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "hold no image in common" in r.output


def test_a_fusion_of_a_key_with_itself_is_refused(two_key_cache, invoke):
    res = invoke("classify", "-c", two_key_cache, "-b", f"{GOOD}+{GOOD.rsplit('.', 1)[0]}", "--head", "logreg", "--cv", "3")
    assert res.exit_code == 1 and "with itself (its block would count twice)" in res.output
