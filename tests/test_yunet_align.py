"""YuNet detection with landmarks and five-point alignment (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceprobe.errors import OptionError
from faceprobe.featurize.faces.align import align_face, similarity, template
from faceprobe.featurize.faces.crop import CropSpec, crop_face

pytest.importorskip("yuface", reason="yuface (the YuNet detector) is not installed")


def test_similarity_recovers_a_known_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


def test_alignment_puts_the_landmarks_on_the_template_and_levels_the_eyes():
    # a synthetic image with five bright dots at tilted landmark positions
    target = template(256, 0.2)
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (target - 128) @ rot.T * 0.8 + np.array([150.0, 140.0])
    arr = np.zeros((300, 320), np.uint8)
    for x, y in pts:
        arr[int(round(y)) - 2:int(round(y)) + 3, int(round(x)) - 2:int(round(x)) + 3] = 255
    out = np.asarray(align_face(Image.fromarray(arr), pts.ravel()))
    assert out.shape == (256, 256)
    for tx, ty in target:
        window = out[int(ty) - 4:int(ty) + 5, int(tx) - 4:int(tx) + 5]
        assert window.max() > 100  # each dot landed where the template wants it
    assert abs(target[0, 1] - target[1, 1]) < 0.5  # the template's eyes are level (within half a pixel)


def test_align_needs_a_cropper_with_landmarks():
    with pytest.raises(OptionError, match=r"gives no landmarks for `align`; use `crop=dlib, mediapipe, yunet`"):
        CropSpec("haar", align=True)
    assert CropSpec("yunet", align=True).as_dict()["align"] == {"template": "insightface-5pt", "size": 256}
    assert "align" not in CropSpec("yunet").as_dict()


def test_no_face_in_noise_is_recorded_and_the_whole_image_kept():
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    r = crop_face(noise, CropSpec("yunet", align=True))
    assert r.face == 0 and r.image.size == (160, 120) and r.landmarks is None


def test_real_faces_yunet_finds_them_with_landmarks_deterministically(real_dir):
    paths = sorted((real_dir / "images").glob("*.jpg"))[:40]
    found = 0
    for p in paths:
        img = Image.open(p).convert("RGB")
        a, b = crop_face(img, CropSpec("yunet", align=True)), crop_face(img, CropSpec("yunet", align=True))
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and a.landmarks == b.landmarks
        if a.face == 1:
            found += 1
            lm = np.asarray(a.landmarks).reshape(5, 2)
            assert lm[0, 0] < lm[1, 0] and lm[2, 1] > lm[:2, 1].mean() and lm[3:, 1].mean() > lm[2, 1]  # eyes, nose, mouth
            assert 0 < a.score <= 1 and a.image.size == (256, 256)
    assert found >= 39


def test_featurize_stores_scores_and_landmarks_and_is_identical_across_worker_counts(real_dir, real_subset, tmp_path, invoke):
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import list_keys

    vectors = []
    for workers in (0, 2):
        cache = tmp_path / f"w{workers}.h5"
        r = invoke("featurize", real_subset, "--root", real_dir / "images", "-b", "resnet18", "-w", "none", "--crop", "yunet",
                   "--align", "-c", cache, "--precision", "fp32", "--compile", "none", "--workers", workers, "-q")
        assert r.exit_code == 0, r.output
        (key,) = list_keys(str(cache))
        fm = read_features(str(cache), key["key"])
        order = np.argsort(fm.sha256)
        vectors.append((fm.vectors[order], fm.landmarks[order], fm.score[order]))
        assert fm.landmarks.shape == (48, 10) and (fm.face == 1).mean() >= 0.95
        assert np.isfinite(fm.landmarks[fm.face == 1]).all() and np.isnan(fm.landmarks[fm.face == 0]).all()
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(*vectors))
    assert invoke("cache", "verify", "-c", tmp_path / "w0.h5").exit_code == 0


def test_merge_keeps_landmarks(image_folder, tmp_path, invoke):
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import list_keys

    a = tmp_path / "a.h5"
    args = ["-b", "resnet18", "-w", "none", "--crop", "yunet", "--precision", "fp32", "--compile", "none", "--workers", 0, "-q"]
    assert invoke("featurize", image_folder, "-c", a, *args).exit_code == 0
    out = tmp_path / "m.h5"
    assert invoke("cache", "merge", a, "-o", out).exit_code == 0
    key = list_keys(str(out))[0]["key"]
    assert read_features(str(out), key).landmarks.shape == (12, 10)
