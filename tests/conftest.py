"""Shared fixtures: tiny synthetic image sets, a tiny random-weight backbone, the real dev faces."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "muxspace-dev"
TINY = "mobilenet_v3_small"
"""A small torchvision model used with random weights (``--weights none``) in tests."""


def make_face_like(rng: np.random.Generator, size: int = 64, colour: bool = True) -> Image.Image:
    """A random image with a bright ellipse: not a face, but structured enough to differ by seed."""
    yy, xx = np.mgrid[:size, :size]
    cx, cy = rng.uniform(0.3, 0.7, 2) * size
    blob = (((xx - cx) / (size * 0.25)) ** 2 + ((yy - cy) / (size * 0.35)) ** 2) < 1
    base = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
    base[blob] = rng.integers(150, 255, 3, dtype=np.uint8)
    img = Image.fromarray(base, "RGB")
    return img if colour else img.convert("L")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three classes x four images, mixed formats and modes, two subjects' worth of names."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    formats = [("jpg", "JPEG"), ("png", "PNG"), ("bmp", "BMP"), ("webp", "WEBP")]
    for c, label in enumerate(["Happy", "neutral", "pain"]):
        (root / label).mkdir(parents=True)
        for i, (ext, fmt) in enumerate(formats):
            img = make_face_like(rng, 64, colour=(i + c) % 2 == 0)
            img.save(root / label / f"s{i % 2}_{c}{i}.{ext}", fmt)
    return root


@pytest.fixture
def manifest(image_folder: Path, tmp_path: Path) -> Path:
    """A CSV manifest (path,label,subject) over ``image_folder`` with paths relative to it."""
    rows = ["path,label,subject"]
    for p in sorted(image_folder.rglob("*.*")):
        rel = p.relative_to(image_folder)
        rows.append(f"{rel},{rel.parts[0]},{p.stem.split('_')[0]}")
    out = tmp_path / "manifest.csv"
    out.write_text("\n".join(rows) + "\n")
    return out


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not (REAL_DIR / "manifest.csv").exists():
        pytest.skip(f"real dev faces not found at {REAL_DIR} (shared/data/muxspace-dev is absent)")
    return REAL_DIR


@pytest.fixture(scope="session")
def real_subset(real_dir: Path, tmp_path_factory) -> Path:
    """A manifest of 48 real faces (first rows of demo.csv), paths relative to images/."""
    lines = (real_dir / "demo.csv").read_text().splitlines()
    out = tmp_path_factory.mktemp("real") / "subset.csv"
    out.write_text("\n".join(lines[:49]) + "\n")
    return out


@pytest.fixture(scope="session")
def real_lite0_cache(real_dir: Path, tmp_path_factory) -> Path:
    """efficientnet_lite0 features (genuine ImageNet weights) of the 240 faces in demo.csv."""
    from faceprobe.featurize.pipeline import FeaturizeConfig, featurize

    cache = tmp_path_factory.mktemp("real-lite0") / "real.h5"
    featurize(FeaturizeConfig(str(real_dir / "demo.csv"), ["efficientnet_lite0"], ["DEFAULT"], str(cache),
                              root=str(real_dir / "images"), progress=False, workers=0))
    return cache


@pytest.fixture(scope="session")
def real_lite0_eager_cache(real_dir: Path, tmp_path_factory) -> Path:
    """Like ``real_lite0_cache`` but fp32 and eager, so the vectors are the same on every run of
    one machine (compiled graphs and bf16 are chosen by timing and CPU)."""
    from faceprobe.featurize.pipeline import FeaturizeConfig, featurize

    cache = tmp_path_factory.mktemp("real-lite0-eager") / "real.h5"
    featurize(FeaturizeConfig(str(real_dir / "demo.csv"), ["efficientnet_lite0"], ["DEFAULT"], str(cache),
                              root=str(real_dir / "images"), progress=False, workers=0, precision="fp32", compile="none"))
    return cache


@pytest.fixture(autouse=True)
def _isolated_torch_home(tmp_path_factory, monkeypatch):
    """Never touch the user's torch hub folder; weights downloads fail fast offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch-home"))
    os.environ.setdefault("OMP_NUM_THREADS", "2")
