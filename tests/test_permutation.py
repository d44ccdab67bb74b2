"""Against chance (issue 27): permutation p-values equal scikit-learn's on the same permutations,
random labels are rarely significant, labels move between subjects when splits are grouped."""

from __future__ import annotations

import numpy as np
import pytest

import faceprobe
from faceprobe.classify.permutation import permutation_record, permuted_values


def test_permutation_p_values_equal_scikit_learns_permutation_test_score_on_the_same_permutations():
    from sklearn.model_selection import StratifiedKFold, permutation_test_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from faceprobe.classify.heads.registry import make_head

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    y = np.where(X[:, 0] + rng.normal(size=80) > 0, "a", "b")
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    res = faceprobe.evaluate(X, y=y, cv=cv, head=["logreg"], engine="sklearn", permutations=30, jobs=1, seed=3)
    rec = res.cell("logreg")["permutation"]
    score, null, p = permutation_test_score(make_pipeline(StandardScaler(), make_head("logreg")), X, y, cv=cv, n_permutations=30,
                                            random_state=3, scoring="balanced_accuracy")
    assert res.cell("logreg")["summary"]["balanced_accuracy"]["mean"] == pytest.approx(score, abs=1e-12)
    assert rec["p"] == pytest.approx(p) and rec["null_mean"] == pytest.approx(null.mean()) and rec["null_std"] == pytest.approx(null.std(ddof=1))
    assert rec["scheme"] == "rows permuted" and res.grid()["p_permutation"].iloc[0] == pytest.approx(p)


@pytest.mark.slow
def test_random_labels_are_not_significant_in_at_least_90_percent_of_seeds():
    significant = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        X = rng.normal(size=(48, 4))
        y = rng.choice(["a", "b"], 48)
        g = np.repeat(np.arange(12), 4)
        res = faceprobe.evaluate(X, y=y, groups=g, cv=4, head=["logreg"], engine="sklearn", permutations=19, jobs=1, seed=seed)
        significant += res.cell("logreg")["permutation"]["p"] < 0.05
    assert significant <= 2, significant


def test_grouped_permutations_move_whole_subjects_labels_and_keep_the_counts():
    groups = np.repeat([f"s{i}" for i in range(10)], 5)
    labels = np.repeat(list("ababababab"), 5)  # one label per person
    rng = np.random.RandomState(0)
    for _ in range(20):
        got = permuted_values(labels, groups, rng)
        assert sorted(got) == sorted(labels)
        for s in set(groups):
            assert len(set(got[groups == s])) == 1  # a person gets another person's block, never a mix
    uneven = np.array(["p"] * 3 + ["q"] * 5 + ["r"] * 2)
    values = np.arange(10)
    out = permuted_values(values, uneven, np.random.RandomState(1))
    assert sorted(out) == list(values)


def test_a_lower_is_better_figure_counts_nulls_at_or_below_it():
    rec = permutation_record(1.0, [0.5, 2.0, 3.0, 1.0], lower_is_better=True, scheme="rows permuted")
    assert rec["p"] == pytest.approx((1 + 2) / 5)
    rec = permutation_record(1.0, [0.5, 2.0, 3.0, None], lower_is_better=False, scheme="rows permuted")
    assert rec["p"] == pytest.approx((1 + 2) / 4) and rec["failed"] == 1


def test_a_regression_target_gets_its_p_value_in_its_direction():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    t = X[:, 0] * 2 + rng.normal(scale=0.2, size=60)
    g = np.repeat(np.arange(12), 5)
    for metric in ("mae", "ccc"):
        res = faceprobe.evaluate(X, y=t, groups=g, target="t", cv=4, head=["ridge"], permutations=9, metric=metric, jobs=1)
        rec = res.cell("ridge")["permutation"]
        assert rec["p"] == pytest.approx(0.1) and rec["scheme"] == "labels moved between subjects"
        assert "against chance (9 permutations" in res.format()


def test_the_cli_reports_chance_in_text_and_csv_and_refuses_a_negative_count(tiny_cache, invoke, tmp_path):
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", 3, "--permutations", 4, "--table", tmp_path / "g.csv", "-q")
    assert r.exit_code == 0, r.output
    assert "balanced_accuracy against chance (4 permutations, labels moved between subjects): logreg p = " in r.output
    head = (tmp_path / "g.csv").read_text().splitlines()[0]
    assert head.endswith(",p_permutation")
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--permutations", -1, "-q")
    assert r.exit_code != 0 and "--permutations -1: must be >= 0" in r.output


@pytest.mark.real
def test_real_faces_permutations_give_a_null_near_chance(real_lite0_eager_cache):
    res = faceprobe.evaluate(str(real_lite0_eager_cache), head=["logreg"], cv=5, permutations=5, jobs=-1, engine="sklearn")
    rec = res.cell("logreg")["permutation"]
    assert rec["scheme"] == "labels moved between subjects" and rec["permutations"] == 5
    assert abs(rec["null_mean"] - 0.2) < 0.08  # five balanced classes: chance is 20 %
    observed = res.cell("logreg")["summary"]["balanced_accuracy"]["mean"]
    assert observed > rec["null_mean"] + 0.05 and 1 / 6 <= rec["p"] <= 0.5


def test_permutations_say_their_cost_before_they_start_and_show_progress_when_output_is_redirected(tiny_cache, capsys):
    faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, permutations=4, progress=True)
    err = capsys.readouterr().err  # pytest's capture is not a terminal: the plain-line form
    start = err.index("permutations: 4 reruns of the evaluation (3 folds x 1 head x 1 key each); the evaluation took")
    assert "so about" in err[start:] and err.index("permutations: 0/4 permutations") > start
    assert "permutations: 4/4 permutations in" in err
    faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, permutations=2, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("n", [100_001, 10**20])
def test_a_permutation_count_beyond_any_use_is_refused_before_work_with_the_limit(tiny_cache, invoke, n):
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", 3, "--permutations", n, "-q")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert f"--permutations {n}: {n:,} permutations would cost {n:,} evaluations" in r.output and "give at most 100000" in r.output


def test_a_permutation_count_given_as_text_is_one_refusal_naming_the_option(tiny_cache):
    from faceprobe.errors import OptionError

    with pytest.raises(OptionError, match=r"permutations='5': expected a whole number, got str"):
        faceprobe.evaluate(str(tiny_cache), head="logreg", permutations="5")
