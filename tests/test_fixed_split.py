"""Fixed splits (--split-col Usage --train ... --test ... --val ...), twins and bootstrap intervals (issue 17)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import faceprobe
from faceprobe.errors import OptionError

from .conftest import TINY, make_face_like
from faceprobe.classify.records import cell, fold_records


@pytest.fixture(scope="module")
def fer_cache(tmp_path_factory):
    """A FER-2013-format CSV of 60 synthetic grey faces, 2 classes: 40 Training, 10 PublicTest,
    10 PrivateTest, of which 2 are exact copies and 1 a near copy (2 pixels changed) of
    Training faces. Featurized with the tiny random-weight backbone."""
    from .conftest import _invoke

    root = tmp_path_factory.mktemp("fer")
    rng = np.random.default_rng(1)
    faces = [np.asarray(make_face_like(rng, 48, colour=False)) for _ in range(60)]
    labels = [i % 2 for i in range(60)]
    faces[50], faces[51] = faces[0].copy(), faces[1].copy()
    labels[50], labels[51] = labels[0], labels[1]
    near = faces[2].copy()
    near[0, 0] = near[0, 0] // 2
    near[47, 47] = near[47, 47] // 2
    faces[52], labels[52] = near, labels[2]
    usage = ["Training"] * 40 + ["PublicTest"] * 10 + ["PrivateTest"] * 10
    with open(root / "fer.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", " pixels", "Usage"])
        for face, lab, use in zip(faces, labels, usage):
            w.writerow([3 if lab else 6, " ".join(map(str, face.ravel())), use])
    cache = root / "c.h5"
    r = _invoke("featurize", root / "fer.csv", "-b", TINY, "-w", "none", "-c", cache, "--precision", "fp32", "--compile", "none",
                "--workers", 0, "-q")
    assert r.exit_code == 0, r.output
    return str(cache)


def test_fixed_split_trains_on_train_reports_test_with_intervals_and_twins(fer_cache):
    res = faceprobe.evaluate(fer_cache, head="logreg", split_col="Usage", train="Training", test="PrivateTest", val="PublicTest",
                             params={"C": [0.01, 1.0]})
    raw = res.raw
    assert any("40 training, 10 validation, 10 test images; 2 test images are exact and 1 near twins" in n for n in raw["notes"])
    head = cell(raw, "logreg")
    (fold,) = fold_records(raw, "logreg")
    assert fold["n_train"] == 40 and fold["n_test"] == 10
    assert set(fold["inner_scores"]) == {"C=0.01", "C=1.0"}  # chosen on the validation part
    acc = head["summary"]["accuracy"]
    assert acc["ci"][0] <= acc["mean"] <= acc["ci"][1] and acc["ci"][1] - acc["ci"][0] > 0
    assert head["without_twins"]["test_images"] == 7
    assert raw["provenance"]["split"]["fixed"] == {"column": "Usage", "train": ["Training"], "test": ["PrivateTest"], "val": ["PublicTest"]}
    text = res.format()
    assert "fixed split on Usage: train Training, test PrivateTest, validation PublicTest" in text
    assert "without the twins of training images (7 test images left)" in text
    assert "logreg: hyperparameters chosen on the validation part (Usage PublicTest): C=" in text and "inner CV" not in text


def test_fixed_split_is_reproducible(fer_cache):
    a = faceprobe.evaluate(fer_cache, head="logreg", split_col="Usage", train="Training", test="PrivateTest")
    b = faceprobe.evaluate(fer_cache, head="logreg", split_col="Usage", train="Training", test="PrivateTest")
    assert cell(a.raw, "logreg")["summary"] == cell(b.raw, "logreg")["summary"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(split_col="Usage", train="Training", test="PrivateTest", cv=5), r"cv=5: cannot be combined with `split_col=Usage`: a fixed split is one fit"),
    (dict(split_col="Usage", train="Training", test="Nope"), r"test=.Nope.: Usage has no value 'Nope'; it has: PrivateTest, PublicTest, Training"),
    (dict(split_col="Usage", train="Training", test="Training"), r"test=.Training.: Training is also given to `train`"),
    (dict(split_col="Usage", train="Training"), r"needs `train` and `test` values"),
    (dict(train="Training"), r"train=.Training.: needs `split_col`"),
    (dict(split_col="Camera", train="a", test="b"), r"split_col=.Camera.: no such column"),
    (dict(split_col="Usage", train="Training", test="PublicTest", where="Usage=Training"),
     r"test=.PublicTest.: no row of this run is in this part \(10 images of the cache are\): the row filters"),
])
def test_fixed_split_bad_combinations_are_refused(fer_cache, kwargs, message):
    with pytest.raises(OptionError, match=message):
        faceprobe.evaluate(fer_cache, head="logreg", **kwargs)


def test_fixed_split_from_the_command_line(fer_cache, invoke):
    r = invoke("classify", "-c", fer_cache, "--head", "logreg", "--split-col", "Usage", "--train", "Training", "--test", "PrivateTest",
               "-q", "-j", 1)
    assert r.exit_code == 0, r.output
    assert "metric (%) [95% CI]" in r.output and "without the twins" in r.output
    r = invoke("classify", "-c", fer_cache, "--head", "logreg", "--split-col", "Usage", "--train", "Training", "--test", "PrivateTest",
               "--holdout", 0.2)
    assert r.exit_code == 1 and r.output.strip().startswith("Error: --holdout 0.2: cannot be combined with --split-col Usage: a fixed split is one fit")


def test_real_faces_fixed_split_finds_resized_copies_as_near_twins(real_dir, tmp_path, featurize_cli):
    """120 dev faces as Training and 30 as PrivateTest, 10 of them 48 px grey JPEG copies of
    Training faces: the copies are found as near twins, and no distinct face is."""
    from PIL import Image

    rows = list(csv.DictReader(open(real_dir / "manifest.csv")))[:150]
    out = tmp_path / "imgs"
    out.mkdir()
    lines = [["path", "label", "Usage"]]
    for i, r in enumerate(rows):
        img = Image.open(real_dir / "images" / (rows[i - 120]["path"] if 120 <= i < 130 else r["path"])).convert("L")
        if 120 <= i < 130:
            img = img.resize((48, 48), Image.BILINEAR)
        img.save(out / f"{i:03d}.jpg", quality=80)
        lines.append([f"{i:03d}.jpg", rows[i - 120]["label"] if 120 <= i < 130 else r["label"], "Training" if i < 120 else "PrivateTest"])
    with open(tmp_path / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows(lines)
    cache = tmp_path / "c.h5"
    assert featurize_cli(tmp_path / "m.csv", cache, "--root", out).exit_code == 0
    res = faceprobe.evaluate(str(cache), head="logreg", split_col="Usage", train="Training", test="PrivateTest",
                             classes=["happiness", "rest=*"])
    note = next(n for n in res.raw["notes"] if n.startswith("fixed split"))
    near = int(note.split(" near twins")[0].rsplit(" ", 1)[1])
    assert 9 <= near <= 10 and "0 test images are exact" in note


def test_fixed_split_reports_show_intervals_and_the_figures_without_twins(fer_cache, tmp_path):
    res = faceprobe.evaluate(fer_cache, head="logreg", split_col="Usage", train="Training", test="PrivateTest")
    acc = cell(res.raw, "logreg")["summary"]["accuracy"]
    shown = f"{100 * acc['mean']:.1f} [{100 * acc['ci'][0]:.1f}, {100 * acc['ci'][1]:.1f}]"
    res.report(str(tmp_path / "r.html"))
    res.report(str(tmp_path / "r.md"))
    page, md = (tmp_path / "r.html").read_text(), (tmp_path / "r.md").read_text()
    assert "Metrics (%, value [95 % bootstrap interval])" in page and shown in page and shown in md
    assert "without the twins of training images (7 test images left)" in page
    assert "without the twins of training images (7 test images left):" in md


def test_a_study_on_a_fixed_split_compares_keys_with_mcnemar(tmp_path):
    """Two backbones on the same fixed split: one test set, so cells are compared with McNemar's
    test on the paired test predictions (a t-test over one fold has no spread)."""
    from .conftest import _invoke

    rng = np.random.default_rng(3)
    with open(tmp_path / "fer.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i in range(40):
            w.writerow([3 if i % 2 else 6, " ".join(map(str, np.asarray(make_face_like(rng, 48, colour=False)).ravel())),
                        "Training" if i < 28 else "PrivateTest"])
    cache = tmp_path / "c.h5"
    r = _invoke("featurize", tmp_path / "fer.csv", "-b", TINY, "-b", "resnet18", "-w", "none", "-c", cache, "--precision", "fp32",
                "--compile", "none", "--workers", 0, "-q")
    assert r.exit_code == 0, r.output
    res = faceprobe.evaluate(str(cache), [TINY, "resnet18"], head="logreg", split_col="Usage", train="Training", test="PrivateTest")
    cells = res.raw["grid"]
    assert len(cells) == 2 and all(c["folds"] == 1 for c in cells)
    assert "McNemar's test on the pooled predictions" in res.format() and "t-test" not in res.format()
    other = [c for c in cells if c["p_vs_best"] is not None and not np.isnan(c["p_vs_best"])]
    assert len(other) == 1 and 0.0 < other[0]["p_vs_best"] <= 1.0
