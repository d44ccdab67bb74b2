"""Learning curves (issue 27): the same test folds, growing random subsets of training subjects or
images, through the run's own evaluation; refusals; real faces."""

from __future__ import annotations

import numpy as np
import pytest

import faceprobe
from faceprobe.classify.curve import CURVE_DRAWS, CurveSpec, curve_splits, parse_curve
from faceprobe.errors import OptionError


def test_curve_subsets_are_whole_training_subjects_and_keep_the_test_folds():
    groups = np.repeat(np.arange(10), 3).astype(str)
    outer = [(0, np.arange(0, 21), np.arange(21, 30)), (0, np.arange(9, 30), np.arange(0, 9))]
    pairs, short = curve_splits(outer, groups, CurveSpec("subjects", (4,)), 4, seed=0)
    assert short == 0 and len(pairs) == 2 * CURVE_DRAWS
    for (train, test), (_, outer_train, outer_test) in zip(pairs, [o for o in outer for _ in range(CURVE_DRAWS)]):
        assert np.array_equal(test, outer_test) and set(train) <= set(outer_train)
        assert len(set(groups[train])) == 4 and len(train) == 12  # whole people
    pairs, short = curve_splits(outer, groups, CurveSpec("subjects", (8,)), 8, seed=0)
    assert short == 2 and not pairs
    pairs, _ = curve_splits(outer, groups, CurveSpec("images", (5,)), 5, seed=0)
    assert all(len(train) == 5 for train, _ in pairs)


def test_curve_specs_are_parsed_and_bad_ones_refused():
    assert parse_curve("subjects=5,10,all") == CurveSpec("subjects", (5, 10, None))
    assert parse_curve("images=100") == CurveSpec("images", (100,))
    for bad in ("people=5", "subjects=10,5", "subjects=all,5", "subjects=0", "subjects=x", "subjects"):
        with pytest.raises(OptionError, match="curve"):
            parse_curve(bad)


def test_the_last_point_equals_the_runs_own_figure_and_more_subjects_help_on_separable_data():
    rng = np.random.default_rng(0)
    n_subjects, per = 30, 6
    y = np.tile(["a", "b", "c"], n_subjects * per // 3)
    X = rng.normal(size=(len(y), 10)) * 2 + np.eye(10)[np.searchsorted(["a", "b", "c"], y)]
    g = np.repeat(np.arange(n_subjects), per)
    res = faceprobe.evaluate(X, y=y, groups=g, cv=5, head=["logreg"], engine="sklearn", jobs=1, curve="subjects=2,8,all")
    cell = res.cell("logreg")
    points = cell["curve"]["points"]
    assert [p["size"] for p in points] == [2, 8, "all"]
    assert points[-1]["mean"] == pytest.approx(cell["summary"]["balanced_accuracy"]["mean"])
    assert points[0]["fits"] == 5 * CURVE_DRAWS and points[0]["train_images"] == 2 * per
    assert points[0]["mean"] < points[-1]["mean"]
    assert "learning curve: balanced_accuracy (%) by training subjects" in res.format()
    assert points[0]["train_units"] == 2 and points[-1]["train_units"] == 24  # "all": the 24 training subjects of 5 folds of 30


@pytest.mark.filterwarnings("ignore:No artists with labels")  # the lines are mocked here
def test_the_plot_puts_all_at_the_whole_training_folds_size():
    from unittest import mock

    from faceprobe.report import curves

    pts = [{"size": 2, "mean": 0.4, "std": 0.1, "train_units": 2}, {"size": "all", "mean": 0.7, "std": 0.1, "train_units": 24}]
    cells = {"logreg": {"curve": {"unit": "subjects", "sizes": [2, "all"], "draws": 3, "metric": "accuracy", "points": pts}}}
    with mock.patch("matplotlib.axes.Axes.plot", autospec=True) as plot:
        curves.curve_png(cells, "t")
    xs = list(plot.call_args[0][1])
    assert xs == [2.0, 24.0]


def test_a_curve_refuses_subjects_without_grouping_and_works_for_a_target(tiny_cache, invoke, tmp_path):
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--group", "none", "--curve", "subjects=3,all", "-q")
    assert r.exit_code != 0 and "--curve subjects=3,all: counts subjects: it needs splits grouped by subject" in r.output
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", 3, "--curve", "subjects=4,all", "--report", tmp_path / "r.html", "-q")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert "<table class='curve'>" in page and 'alt="learning curve"' in page
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 4))
    res = faceprobe.evaluate(X, y=X[:, 0] + rng.normal(scale=0.1, size=80), groups=np.repeat(np.arange(16), 5), target="t", cv=4,
                             head=["ridge"], curve="images=10,30,all", jobs=1)
    pts = res.cell("ridge")["curve"]["points"]
    assert pts[-1]["mean"] == pytest.approx(res.cell("ridge")["summary"]["ccc"]["mean"]) and pts[0]["train_images"] == 10


@pytest.mark.real
def test_real_faces_learning_curve_by_subjects(real_lite0_eager_cache):
    res = faceprobe.evaluate(str(real_lite0_eager_cache), head=["logreg"], cv=5, engine="sklearn", jobs=-1, curve="subjects=20,80,all")
    pts = res.cell("logreg")["curve"]["points"]
    assert [p["size"] for p in pts] == [20, 80, "all"] and all(p["mean"] is not None for p in pts)
    assert pts[0]["train_images"] < pts[1]["train_images"] < pts[2]["train_images"]
    assert pts[2]["mean"] == pytest.approx(res.cell("logreg")["summary"]["balanced_accuracy"]["mean"])
