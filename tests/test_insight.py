"""Faces to look at (issue 27): per-person accuracy, the most confidently wrong faces, identity and
label probes with a 2-D map, a --no-faces report, and the report rendered by a real browser."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import faceprobe
from faceprobe.classify.insight import feature_insight
from faceprobe.report.insight import wrong_faces


def test_probes_see_identity_when_each_person_has_an_offset():
    from faceprobe.classify.data.arrays import dataset_from_arrays

    rng = np.random.default_rng(0)
    people, per = 12, 6
    offsets = rng.normal(scale=4, size=(people, 8))
    y = np.tile(["a", "b", "c"], people * per // 3)
    X = np.repeat(offsets, per, axis=0) + rng.normal(scale=0.3, size=(people * per, 8))
    ds = dataset_from_arrays(X, y, np.repeat(np.arange(people), per))
    ins = feature_insight(ds, tsne=False)
    assert ins["identity"]["accuracy"] > 0.9 and ins["identity"]["chance"] == pytest.approx(5 / 71)
    assert ins["label_other_people"] < 0.6 and ins["label_chance"] == pytest.approx(1 / 3)
    assert np.asarray(ins["map"]["pca"]).shape == (people * per, 2) and "tsne" not in ins["map"]


def test_the_wrongest_faces_come_first_in_the_most_frequent_confused_pair():
    folds = [{"test_paths": ["p1", "p2", "p3", "p4"], "y_true": ["a", "a", "a", "b"], "y_pred": ["b", "b", "a", "a"],
              "scores": [[0.1, 0.9], [0.4, 0.6], [0.9, 0.1], [0.3, 0.7]]}]
    got = wrong_faces(folds, ["a", "b"])
    assert got[0][:3] == ("a", "b", 2) and [p for p, _ in got[0][3]] == ["p1", "p2"]
    assert got[1][:3] == ("b", "a", 1) and got[1][3][0][1] == pytest.approx(-0.4)


@pytest.mark.real
def test_real_faces_report_has_people_faces_and_a_map_and_no_faces_when_asked(real_lite0_eager_cache, invoke, tmp_path):
    r = invoke("classify", "-c", real_lite0_eager_cache, "--head", "logreg,knn", "--cv", 5, "--report", tmp_path / "r.html",
               "--json", tmp_path / "r.json", "-q")
    assert r.exit_code == 0, r.output
    assert "wrote html report" in r.output and (" MB)" in r.output or " kB)" in r.output)
    page = (tmp_path / "r.html").read_text()
    assert 'alt="pca map by label"' in page and 'alt="pca map by subject"' in page and 'alt="logreg per-person accuracy"' in page
    assert page.count("data:image/jpeg") >= 8 and "most confidently wrong faces" in page
    assert "a 1-NN probe names the person of" in page
    r = invoke("report", tmp_path / "r.json", "-o", tmp_path / "shared.html", "--no-faces")
    assert r.exit_code == 0, r.output
    shared = (tmp_path / "shared.html").read_text()
    assert "data:image/jpeg" not in shared and 'alt="logreg per-person accuracy"' in shared and "thumbnails left out" in shared


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_a_report_renders_in_headless_chromium(tiny_cache, invoke, tmp_path):
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg,knn", "--cv", 3, "--curve", "subjects=4,all", "--permutations", 3,
               "--report", tmp_path / "r.html", "-q")
    assert r.exit_code == 0, r.output
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    out = subprocess.run([*flags, "--virtual-time-budget=5000", "--dump-dom", (tmp_path / "r.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    dom = out.stdout
    assert "<h1>faceprobe classify report</h1>" in dom and "id=\"provenance\"" in dom
    assert dom.count("<img") >= 6 and "learning curve" in dom and "against chance" in dom
    shot = tmp_path / "r.png"
    subprocess.run([*flags, "--window-size=1000,2000", f"--screenshot={shot}", (tmp_path / "r.html").as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 10  # the page drew text and figures, not a blank


def test_probes_of_a_large_dataset_use_a_bounded_sample(monkeypatch):
    import faceprobe.classify.insight as insight
    from faceprobe.classify.data.arrays import dataset_from_arrays

    monkeypatch.setattr(insight, "PROBE_MAX", 50)
    rng = np.random.default_rng(0)
    ds = dataset_from_arrays(rng.normal(size=(200, 5)), np.tile(["a", "b"], 100), np.repeat(np.arange(20), 10))
    ins = insight.feature_insight(ds, tsne=False)
    assert ins["rows"] == 50 and ins["of_rows"] == 200 and len(ins["map"]["pca"]) == 50 and len(ins["labels"]) == 50
    from faceprobe.report.insight import probe_words

    assert probe_words(ins).endswith("(on a random 50 of 200 faces)")


def test_a_thumbnail_is_cut_to_the_face_box(tmp_path):
    import base64
    import io

    from PIL import Image

    from faceprobe.report.insight import thumbnail

    img = np.zeros((200, 400, 3), np.uint8)
    img[50:150, 300:350] = 255  # the "face": a white 50 x 100 block on the right
    Image.fromarray(img).save(tmp_path / "f.png")
    whole = Image.open(io.BytesIO(base64.b64decode(thumbnail(str(tmp_path / "f.png")).split(",", 1)[1])))
    face = Image.open(io.BytesIO(base64.b64decode(thumbnail(str(tmp_path / "f.png"), [300, 50, 50, 100]).split(",", 1)[1])))
    assert whole.size[0] > whole.size[1] and face.size[0] < face.size[1]  # the crop follows the box's shape
    assert np.asarray(face.convert("L")).mean() > np.asarray(whole.convert("L")).mean() * 2
    assert thumbnail(str(tmp_path / "missing.png")) is None


@pytest.mark.real
def test_real_faces_cropped_by_yunet_give_their_boxes_to_the_report(real_dir, real_subset, tmp_path, invoke):
    from .conftest import TINY

    cache = tmp_path / "c.h5"
    r = invoke("featurize", real_subset, "--root", real_dir / "images", "-b", TINY, "-w", "none", "--crop", "yunet", "-c", cache, "-q",
               "--workers", 0)
    assert r.exit_code == 0, r.output
    res = faceprobe.evaluate(str(cache), head=["logreg"], cv=3, insight="pca", predictions=True, engine="sklearn", jobs=1)
    boxes = next(iter(res.raw["insight"].values()))["boxes"]
    assert len(boxes) >= 40 and all(len(b) == 4 and b[2] > 10 and b[3] > 10 for b in boxes.values())


def test_the_per_person_chart_leaves_out_people_with_too_few_test_faces(monkeypatch):
    from faceprobe.report import insight

    per = {"one_face": {"accuracy": 0.0, "n": 1}, "many": {"accuracy": 0.5, "n": 6}, "more": {"accuracy": 0.9, "n": 10}}
    seen = {}
    monkeypatch.setattr("faceprobe.report.plots.png_bytes", lambda fig: seen.setdefault("labels", [t.get_text() for t in fig.axes[0].get_xticklabels()]) and b"")
    insight._accuracy_png(per, "logreg")
    assert seen["labels"] == ["many (6)", "more (10)"]
