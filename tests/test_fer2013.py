"""The fer2013 source reader: a CSV of pixel strings (issue 17)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from faceprobe.featurize.sources.read import read_source


def _write_fer(path, images, labels, usage, pixels_col="pixels"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", pixels_col, "Usage"])
        for img, lab, use in zip(images, labels, usage):
            w.writerow([lab, " ".join(str(int(v)) for v in np.asarray(img).ravel()), use])
    return path


def _tiny_faces(n, side=48, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (side, side), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("pixels_col", ["pixels", " pixels"])
def test_fer_csv_is_detected_named_and_keeps_usage(tmp_path, pixels_col):
    faces = _tiny_faces(7)
    src = _write_fer(tmp_path / "fer.csv", faces, range(7), ["Training"] * 5 + ["PublicTest", "PrivateTest"], pixels_col)
    table = read_source(src)
    assert table.reader == "fer2013"
    assert [e.label for e in table.entries] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert [e.extra["Usage"] for e in table.entries] == ["Training"] * 5 + ["PublicTest", "PrivateTest"]
    img = table.entries[3].open()
    assert img.mode == "L" and img.size == (48, 48) and np.array_equal(np.asarray(img), faces[3])
    assert table.entries[0].id.endswith("fer.csv#2") and table.entries[0].file is None


def test_fer_rows_are_content_hashed_so_twins_share_a_hash(tmp_path):
    faces = _tiny_faces(3)
    src = _write_fer(tmp_path / "fer.csv", [faces[0], faces[1], faces[0]], [0, 1, 0], ["Training", "Training", "PrivateTest"])
    hashes = [e.fingerprint().sha256 for e in read_source(src).entries]
    assert hashes[0] == hashes[2] != hashes[1] and len(hashes[0]) == 64


def test_fer_bad_rows_are_recorded_not_fatal(tmp_path):
    src = tmp_path / "fer.csv"
    src.write_text("emotion,pixels,Usage\n3," + " ".join(["7"] * 2304) + ",Training\n1,1 2 3,Training\n2,a b c d,Training\n")
    entries = read_source(src).entries
    errors = [e.fingerprint().error for e in entries]
    assert errors[0] == "" and "3 pixel values do not make a square image" in errors[1] and "not integers" in errors[2]


def test_fer_unknown_emotion_code_is_one_line_error(tmp_path):
    from faceprobe.errors import FaceprobeError

    src = tmp_path / "fer.csv"
    src.write_text("emotion,pixels,Usage\n9," + " ".join(["7"] * 4) + ",Training\n")
    with pytest.raises(FaceprobeError, match=r"fer.csv, line 2: emotion '9' is not a FER-2013 code 0-6"):
        read_source(src)


def _vectors_by_index(cache, index_of_path):
    from faceprobe.cache.store import read_features, read_images
    from faceprobe.cache.tools import list_keys

    (key,) = list_keys(str(cache))
    fm, images = read_features(str(cache), key["key"]), read_images(str(cache))
    row = {s: i for i, s in enumerate(fm.sha256)}
    out = {index_of_path(str(p)): fm.vectors[row[s]] for p, s in zip(images["path"], images["sha256"])}
    return np.stack([out[i] for i in sorted(out)])


def test_real_faces_fer_csv_gives_the_vectors_of_the_same_faces_as_png_files(real_dir, tmp_path, invoke):
    rows = list(csv.DictReader(open(real_dir / "demo.csv")))[:24]
    faces = [np.asarray(Image.open(real_dir / "images" / r["path"]).convert("L").resize((48, 48), Image.BILINEAR)) for r in rows]
    labels = [3] * 12 + [6] * 12
    src = _write_fer(tmp_path / "fer.csv", faces, labels, ["Training"] * 24)
    png = tmp_path / "png"
    for i, (face, lab) in enumerate(zip(faces, labels)):
        (png / str(lab)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(png / str(lab) / f"{i:03d}.png")
    args = ["-b", "resnet18", "-w", "none", "--precision", "fp32", "--compile", "none", "--workers", 0, "-q"]
    assert invoke("featurize", src, "-c", tmp_path / "a.h5", *args).exit_code == 0
    assert invoke("featurize", png, "-c", tmp_path / "b.h5", *args).exit_code == 0
    from_csv = _vectors_by_index(tmp_path / "a.h5", lambda p: int(p.rsplit("#", 1)[1]) - 2)
    from_png = _vectors_by_index(tmp_path / "b.h5", lambda p: int(p[-7:-4]))
    assert from_csv.shape == (24, 512)
    np.testing.assert_array_equal(from_csv, from_png)


def test_fer_rows_smaller_than_image_files_allow_are_recorded_as_bad(tmp_path):
    import csv

    from faceprobe.featurize.sources import read_source

    with open(tmp_path / "fer.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerow([0, "7", "Training"])                              # 1 pixel
        w.writerow([0, " ".join(["9"] * 16), "Training"])             # 4 x 4
        w.writerow([1, " ".join(["9"] * 256), "Training"])            # 16 x 16: the smallest allowed
    refs = read_source(str(tmp_path / "fer.csv")).entries
    reasons = [r.fingerprint().error for r in refs]
    assert reasons[0] == "line 2: image is 1x1 pixels, smaller than the 16-pixel minimum"
    assert reasons[1] == "line 3: image is 4x4 pixels, smaller than the 16-pixel minimum" and reasons[2] == ""


@pytest.mark.parametrize("text, reason", [("1 2 x 4", "pixels are not integers"), ("7.5 " + "7 " * 255, "pixels are not integers"),
                                          ("1e3 " + "7 " * 255, "pixels are not integers"), ("   ", "0 pixel values do not make a square"),
                                          ("7 " * 257, "257 pixel values do not make a square"), ("-1 " + "7 " * 255, "pixel values outside 0-255")])
def test_fer_pixel_strings_the_fast_parser_cannot_read_get_the_exact_reason(text, reason):
    from faceprobe.featurize.sources.pixels import _pixels

    assert _pixels(text)[2].startswith(reason)
    values, side, error = _pixels("\t".join(["9"] * 256))  # tabs separate as spaces do
    assert side == 16 and error == "" and set(values) == {9}
