"""Decoding: every format and mode becomes L or RGB; every kind of bad file gets a clear reason."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprobe.errors import BadImage
from faceprobe.featurize.sources.decode import decode_image
from faceprobe.featurize.engine.transform import TransformSpec, to_uint8_chw

SPEC = TransformSpec(40, 32, (0.5,) * 3, (0.5,) * 3)


@pytest.mark.parametrize("ext,fmt", [("jpg", "JPEG"), ("png", "PNG"), ("bmp", "BMP"), ("tif", "TIFF"), ("webp", "WEBP")])
def test_formats_decode_to_rgb(tmp_path: Path, ext, fmt):
    arr = np.zeros((30, 50, 3), np.uint8)
    arr[:, :25] = (200, 30, 30)
    p = tmp_path / f"x.{ext}"
    Image.fromarray(arr).save(p, fmt)
    img = decode_image(str(p))
    assert img.mode == "RGB" and img.size == (50, 30)
    assert np.asarray(img)[15, 5, 0] > 150


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16", "RGBA", "LA", "1"])
def test_modes_become_l_or_rgb_and_three_channels(tmp_path: Path, mode):
    base = Image.fromarray(np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (40, 1)))
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
        assert img.mode.startswith("I;16")
    else:
        img = base.convert(mode)
    p = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(p)
    out = decode_image(str(p))
    assert out.mode in ("L", "RGB")
    arr = to_uint8_chw(out, SPEC)
    assert arr.shape == (3, 32, 32) and arr.dtype == np.uint8
    if mode == "I;16":  # 16-bit range scaled to 8 bits, not clipped
        assert np.asarray(out).max() >= 250 and np.asarray(out).min() <= 5


def test_alpha_composited_on_white(tmp_path: Path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    p = tmp_path / "t.png"
    Image.fromarray(rgba, "RGBA").save(p)
    assert np.asarray(decode_image(str(p))).min() == 255


def test_exif_orientation_applied(tmp_path: Path):
    img = Image.new("RGB", (60, 20), (10, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    p = tmp_path / "o.jpg"
    img.save(p, exif=exif)
    assert decode_image(str(p)).size == (20, 60)


def bad_corpus(folder: Path) -> dict[str, str]:
    """Write one file per kind of bad input; return name -> expected reason fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("hello, not an image")
    good = folder / "_good.jpg"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(good)
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    good.unlink()
    Image.new("RGB", (1, 1)).save(folder / "tiny.png")
    (folder / "dir.jpg").mkdir()
    bomb = Image.new("L", (12000, 16000))  # 192 Mpx > 2 x Pillow's default limit
    bomb.save(folder / "bomb.png", optimize=False)
    return {
        "empty.jpg": "empty file",
        "text.jpg": "not an image",
        "truncated.jpg": "truncated",
        "tiny.png": "1x1 pixels",
        "dir.jpg": "is a directory",
        "bomb.png": "decompression bomb",
    }


def test_bad_files_raise_badimage_with_reason(tmp_path: Path):
    for name, reason in bad_corpus(tmp_path / "bad").items():
        with pytest.raises(BadImage, match=reason):
            decode_image(str(tmp_path / "bad" / name))
    with pytest.raises(BadImage, match="cannot read"):
        decode_image(str(tmp_path / "missing.jpg"))


def test_real_faces_decode(real_dir: Path):
    files = sorted((real_dir / "images").iterdir())[:20]
    for f in files:
        img = decode_image(str(f))
        assert img.mode in ("L", "RGB") and min(img.size) >= 100
