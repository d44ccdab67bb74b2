"""fit trains one head on all rows; predict featurizes new images through the cache."""

import csv
import json
import shutil
from pathlib import Path

from .conftest import TINY
import pytest
from faceprobe.errors import OptionError


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


def test_models_are_skops_files_that_load_without_running_code(tiny_cache, tmp_path, invoke):
    from faceprobe.classify.model import load_model

    r = invoke("fit", "-c", tiny_cache, "--head", "svm", "--cv", 3, "-o", tmp_path / "m.skops")
    assert r.exit_code == 0, r.output
    model = load_model(str(tmp_path / "m.skops"))
    assert model["engine"]["engine"] == "sklearn"  # auto fits a .skops model on scikit-learn
    bad = invoke("fit", "-c", tiny_cache, "--head", "svm", "--cv", 3, "--engine", "onedal", "-o", tmp_path / "o.skops")
    assert bad.exit_code == 1 and "a .skops model holds scikit-learn estimators" in bad.output
    wrong = invoke("fit", "-c", tiny_cache, "--head", "svm", "--cv", 3, "-o", tmp_path / "m.bin")
    assert wrong.exit_code == 1 and "a model file ends in .skops" in wrong.output


def test_a_fresh_process_loads_a_model_first_thing_without_torch(tiny_cache, tmp_path, invoke):
    import subprocess
    import sys

    assert invoke("fit", "-c", tiny_cache, "--head", "knn", "--cv", 3, "-o", tmp_path / "m.skops").exit_code == 0
    code = ("import sys; from faceprobe.classify.model import load_model; "
            f"m = load_model({str(tmp_path / 'm.skops')!r}); print(m['head'], 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["knn", "False"], done.stderr[-1500:]


class Payload:
    """What a hostile pickle runs when loaded."""

    def __reduce__(self):
        return (Path.touch, (Path(__file__).parent / "__never_created__",))


def test_a_joblib_pickle_with_a_matching_sha256_is_not_loaded_without_allow_pickle(tiny_cache, tmp_path, invoke):
    import joblib

    from faceprobe.classify.model import load_model
    from faceprobe.hashes import file_sha256

    hostile = tmp_path / "evil.joblib"
    joblib.dump({"format": "faceprobe-model", "x": Payload()}, hostile)
    (tmp_path / "evil.joblib.sha256").write_text(f"{file_sha256(str(hostile))}  evil.joblib\n")
    with pytest.raises(OptionError, match="is a joblib pickle: loading it can run any code it holds"):
        load_model(str(hostile))
    r = invoke("predict", "-m", hostile, tmp_path, "-c", tmp_path / "c.h5")
    assert r.exit_code == 1 and "--allow-pickle" in r.output
    assert not (Path(__file__).parent / "__never_created__").exists()
    r = invoke("fit", "-c", tiny_cache, "--head", "logreg", "--cv", 3, "-o", tmp_path / "m.joblib")  # on explicit request
    assert r.exit_code == 0 and load_model(str(tmp_path / "m.joblib"), allow_pickle=True)["head"] == "logreg"


def test_fit_into_a_read_only_folder_is_one_line_before_work(tiny_cache, tmp_path, invoke):
    import os

    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root without capabilities dropped)")
        r = invoke("fit", "-c", tiny_cache, "--head", "logreg", "-o", folder / "m.skops")
    finally:
        os.chmod(folder, 0o755)
    assert r.exit_code == 1 and "is not writable" in r.output and r.output.count("\n") == 1


def test_predict_says_where_the_new_images_vectors_went(image_folder: Path, tmp_path: Path, invoke, featurize_cli):
    import numpy as np

    from .conftest import make_face_like

    cache = tmp_path / "f.h5"
    assert featurize_cli(image_folder, cache).exit_code == 0
    model = tmp_path / "m.skops"
    assert invoke("fit", "--head", "logreg", "--cache", cache, "--cv", 2, "-o", model, "-q").exit_code == 0
    new = tmp_path / "new"
    new.mkdir()
    make_face_like(np.random.default_rng(7), 64).save(new / "unseen.png")
    shutil.copy(image_folder / "pain" / "s0_20.jpg", new / "seen.jpg")  # already cached: nothing computed for it
    r = invoke("predict", "--model", model, "--cache", cache, new, "-o", tmp_path / "p.csv", "-q")
    assert r.exit_code == 0, r.output
    assert f"note: the 1 new images' vectors were added to {cache}, unlabelled (classify leaves them out" in r.output
    assert "give another --cache to keep them apart" in r.output
    r = invoke("predict", "--model", model, "--cache", cache, new, "-o", tmp_path / "p.csv", "-q")
    assert r.exit_code == 0 and "note:" not in r.output  # a rerun adds nothing


def test_predict_into_an_unwritable_place_is_one_line_before_any_image(tiny_cache, image_folder, tmp_path, invoke):
    # it featurized the images, then ended in a pandas traceback
    model = tmp_path / "m.skops"
    assert invoke("fit", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "-o", model).exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = invoke("predict", "-m", model, image_folder, "-c", tmp_path / "new.h5", "-o", blocker / "p.csv")
    assert res.exit_code == 1 and "Traceback" not in res.output and f"--output {blocker / 'p.csv'}" in res.output
    assert not (tmp_path / "new.h5").exists()
