"""fit trains one head on all rows; predict featurizes new images through the cache."""

import csv
import json
import shutil
from pathlib import Path

from .conftest import TINY


def test_fit_predict_round_trip(image_folder: Path, tmp_path: Path, invoke):
    cache = tmp_path / "f.h5"
    r = invoke("featurize", image_folder, "-b", TINY, "-w", "none", "--cache", cache, "--precision", "fp32", "--workers", 0, "-q")
    assert r.exit_code == 0, r.output
    model = tmp_path / "m.skops"
    r = invoke("fit", "--head", "logreg", "--cache", cache, "--cv", 2, "-o", model)
    assert r.exit_code == 0, r.output
    assert "trained logreg on 12 images" in r.output and (tmp_path / "m.skops.sha256").exists()

    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(image_folder / "pain" / "s0_20.jpg", new / "a.jpg")
    shutil.copy(image_folder / "Happy" / "s1_01.png", new / "b.png")
    out = tmp_path / "pred.csv"
    r = invoke("predict", "--model", model, "--cache", cache, new, "-o", out, "-q")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert [Path(x["path"]).name for x in rows] == ["a.jpg", "b.png"]
    assert set(rows[0]) == {"path", "label", "p_happy", "p_neutral", "p_pain", "reason"}
    for x in rows:
        probs = [float(x[f"p_{c}"]) for c in ("happy", "neutral", "pain")]
        assert abs(sum(probs) - 1) < 1e-4 and x["label"] in ("happy", "neutral", "pain")
    info = json.loads(invoke("cache", "info", "--cache", cache, "--json").output)
    assert info["unlabelled"] == 2 and "" not in info["labels"]  # predicted images stay out of the labelled table
    # training images keep their labels after being predicted again
    r = invoke("classify", "--cache", cache, "--head", "knn", "--cv", 2)
    assert r.exit_code == 0 and "12 images" in r.output, r.output


def test_tampered_model_is_refused(image_folder: Path, tmp_path: Path, invoke):
    cache = tmp_path / "f.h5"
    invoke("featurize", image_folder, "-b", TINY, "-w", "none", "--cache", cache, "--precision", "fp32", "--workers", 0, "-q")
    model = tmp_path / "m.skops"
    assert invoke("fit", "--head", "knn", "--cache", cache, "--cv", 2, "-o", model).exit_code == 0
    with model.open("ab") as handle:
        handle.write(b"x")
    r = invoke("predict", "--model", model, "--cache", cache, image_folder)
    assert r.exit_code == 1 and "sha256 does not match" in r.output
    r = invoke("fit", "--head", "knn,svm", "--cache", cache, "-o", model)
    assert r.exit_code == 1 and "fit trains one head; give one of:" in r.output


def test_predict_api_returns_a_frame_for_a_list_of_files_with_reasons(image_folder: Path, tmp_path: Path, invoke, featurize_cli):
    import faceprobe

    cache = tmp_path / "f.h5"
    assert featurize_cli(image_folder, cache).exit_code == 0
    model = tmp_path / "m.skops"
    assert invoke("fit", "--head", "svm", "--cache", cache, "--cv", 2, "-o", model).exit_code == 0
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    files = [str(image_folder / "pain" / "s0_20.jpg"), str(broken)]
    frame = faceprobe.predict(str(model), files, cache=str(cache))
    assert list(frame.columns) == ["path", "label", "p_happy", "p_neutral", "p_pain", "reason"]
    assert frame.loc[0, "label"] in ("happy", "neutral", "pain") and frame.loc[0, "reason"] == ""
    assert abs(frame.loc[0, ["p_happy", "p_neutral", "p_pain"]].sum() - 1) < 1e-6  # softmax of the svm's decision values
    assert frame.loc[1, "label"] == "" and frame.loc[1, "reason"].startswith("unusable image:")
