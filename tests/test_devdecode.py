"""Decoding JPEGs on the model's device: same pixels as the CPU path, what stays on the CPU,
bad files, the fidelity probe and its fallback, and real faces (run here with device="cpu";
on CUDA the same code calls nvJPEG)."""

import numpy as np
import pytest
import torch
from PIL import Image

from faceprobe.cache.store import read_features, read_images
from faceprobe.featurize.engine import devdecode
from faceprobe.featurize.sources.decode import decode_image
from faceprobe.featurize.options import FeaturizeOptions, resolve
from faceprobe.featurize.pipeline import run_featurize
from faceprobe.featurize.engine.transform import TransformSpec, to_uint8_chw

from .conftest import TINY, make_face_like

SPECS = [TransformSpec(72, 64, (0.5,) * 3, (0.5,) * 3), TransformSpec(40, 32, (0.5,) * 3, (0.5,) * 3, "bicubic")]


def _jpeg(path, size=(90, 70), colour=True, seed=0, **save):
    img = make_face_like(np.random.default_rng(seed), max(size), colour=colour).resize(size)
    img.save(path, "JPEG", quality=90, **save)
    return str(path)


@pytest.mark.parametrize("size,colour", [((90, 70), True), ((70, 95), False), ((60, 60), True), ((143, 100), True)])
def test_device_pixels_equal_the_cpu_path(tmp_path, size, colour):
    path = _jpeg(tmp_path / "a.jpg", size, colour)
    blob = devdecode.jpeg_for_device(path, draft=(72, 72))
    assert blob is not None
    (w, h, arrays), = devdecode.decode_on_device([blob], SPECS, "cpu")
    assert (w, h) == size
    for spec, got in zip(SPECS, arrays):
        want = to_uint8_chw(decode_image(path, draft_size=(72, 72)), spec)
        np.testing.assert_array_equal(got.numpy(), want)


def test_what_stays_on_the_cpu(tmp_path):
    big = _jpeg(tmp_path / "big.jpg", (160, 150))  # >= 2x the resize: Pillow's draft decode on the CPU
    png = tmp_path / "a.png"
    make_face_like(np.random.default_rng(1), 64).save(png)
    cmyk = tmp_path / "cmyk.jpg"
    make_face_like(np.random.default_rng(2), 64).convert("CMYK").save(cmyk, "JPEG")
    rotated = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    make_face_like(np.random.default_rng(3), 64).save(rotated, "JPEG", exif=exif)
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    for p in (big, png, cmyk, rotated, tmp_path / "junk.jpg", tmp_path / "missing.jpg"):
        assert devdecode.jpeg_for_device(str(p), draft=(72, 72)) is None, p
    assert devdecode.jpeg_for_device(_jpeg(tmp_path / "ok.jpg"), draft=(72, 72)) is not None


def test_a_jpeg_the_device_rejects_is_marked():
    good = np.fromfile(__file__, dtype=np.uint8)[:10]  # not JPEG data at all
    assert devdecode.decode_on_device([good], SPECS, "cpu") == [None]


def _folder(tmp_path):
    root = tmp_path / "data"
    for c, label in enumerate(["a", "b"]):
        (root / label).mkdir(parents=True)
        for i in range(6):
            _jpeg(root / label / f"s{i}_{c}.jpg", (80 + 3 * i, 70 + 2 * c), colour=i % 2 == 0, seed=10 * c + i)
        make_face_like(np.random.default_rng(c), 64).save(root / label / f"p{c}.png")
    whole = (root / "a" / "s0_0.jpg").read_bytes()
    (root / "b" / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # passes the header check, fails to decode
    return root


def _run(root, tmp_path, name, decode, **kw):
    if "crop_spec" in kw:
        kw.update(kw.pop("crop_spec").as_options())
    cfg = resolve(str(root), FeaturizeOptions(backbones=[TINY], weights=["none"], cache=str(tmp_path / f"{name}.h5"), workers=kw.pop("workers", 0),
                          progress=False, precision="fp32", compile="none", batch_size=4, decode=decode, **kw))
    return run_featurize(cfg), str(tmp_path / f"{name}.h5")


@pytest.mark.parametrize("workers", [0, 1])
def test_featurize_on_device_equals_cpu_rows_and_records_bad_files(tmp_path, workers):
    root = _folder(tmp_path)
    s_cpu, c_cpu = _run(root, tmp_path, "cpu", "cpu")
    s_dev, c_dev = _run(root, tmp_path, "dev", "device", workers=workers)
    assert s_cpu.decode == "cpu" and s_dev.decode == "device" and not s_dev.notes
    a, b = read_features(c_cpu, s_cpu.keys[0]), read_features(c_dev, s_dev.keys[0])
    assert s_cpu.keys == s_dev.keys and len(a.sha256) == len(b.sha256) == 14
    order = {h: i for i, h in enumerate(b.sha256)}
    np.testing.assert_allclose(b.vectors[[order[h] for h in a.sha256]], a.vectors, rtol=1e-5, atol=1e-6)
    imgs_a, imgs_b = read_images(c_cpu), read_images(c_dev)
    by_path = lambda t: {p: (st, r, w, h) for p, st, r, w, h in zip(t["path"], t["status"], t["reason"], t["width"], t["height"])}
    assert by_path(imgs_a) == by_path(imgs_b)  # same sizes, and the cut file has the CPU path's reason
    assert "truncated" in by_path(imgs_b)[str(root / "b" / "cut.jpg")][1]
    run = read_features(c_dev, s_dev.keys[0]).runs[0]
    assert run["decode"]["decode"] == "device" and run["decode"]["min_cosine"] >= 0.9999


def test_unfaithful_device_decode_falls_back_to_the_cpu(tmp_path, monkeypatch):
    root = _folder(tmp_path)
    exact = devdecode._resize_like_pillow
    monkeypatch.setattr(devdecode, "_resize_like_pillow", lambda img, spec: torch.flip(exact(img, spec), dims=[1]))
    s, cache = _run(root, tmp_path, "f", "device")
    assert s.decode == "cpu" and "differ from the CPU path" in s.notes[0]
    assert read_features(cache, s.keys[0]).runs[0]["decode"]["decode"] == "cpu"


def test_auto_stays_on_the_cpu_without_cuda_and_for_crops(tmp_path):
    root = _folder(tmp_path)
    s, _ = _run(root, tmp_path, "auto", "auto")
    assert s.decode == "cpu" and not s.notes
    from faceprobe.featurize.faces.crop import CropSpec

    s, _ = _run(root, tmp_path, "crop", "device", crop_spec=CropSpec(equalize=True))
    assert s.decode == "cpu" and "run on the CPU" in s.notes[0]


def test_real_faces_decode_on_device_like_the_cpu(real_dir, real_subset):
    """Real JPEG faces: the device path's pixels equal Pillow's for every one it takes."""
    from faceprobe.featurize.sources.read import read_source

    spec = TransformSpec(256, 224, (0.5,) * 3, (0.5,) * 3)
    entries = read_source(real_subset, root=real_dir / "images").entries
    taken = 0
    for e in entries:
        blob = devdecode.jpeg_for_device(e.path, draft=(spec.resize, spec.resize))
        if blob is None:
            continue
        (_, _, (got,)), = devdecode.decode_on_device([blob], [spec], "cpu")
        np.testing.assert_array_equal(got.numpy(), to_uint8_chw(decode_image(e.path, draft_size=(256, 256)), spec))
        taken += 1
    assert taken >= 0.9 * len(entries)


def test_cli_says_where_it_decoded(tmp_path):
    from click.testing import CliRunner

    from faceprobe.cli import cli

    root = _folder(tmp_path)
    args = ["featurize", str(root), "-b", TINY, "-w", "none", "--precision", "fp32", "--compile", "none",
            "--workers", "0", "-q", "--batch-size", "4"]
    r = CliRunner().invoke(cli, [*args, "--cache", str(tmp_path / "a.h5"), "--decode", "device"])
    assert r.exit_code == 0 and "decoded JPEGs on cpu" in r.output, r.output
    r = CliRunner().invoke(cli, [*args, "--cache", str(tmp_path / "b.h5"), "--decode", "device", "--crop", "haar"])
    assert r.exit_code == 0 and "note: --decode device not used (face cropping" in r.output, r.output
    r = CliRunner().invoke(cli, [*args, "--cache", str(tmp_path / "c.h5"), "--decode", "gpu"])
    assert r.exit_code == 2 and "--decode" in r.output and "Traceback" not in r.output
