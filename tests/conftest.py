"""Shared fixtures: tiny synthetic image sets, a tiny random-weight backbone, the real dev faces."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "muxspace-dev"
TINY = "mobilenet_v3_small"

# timm's hub downloads fail at once instead of retrying for a minute (read when huggingface_hub
# is first imported, so set before any test imports it)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
"""A small torchvision model used with random weights (``--weights none``) in tests."""

# each test process compiles into its own inductor cache: two xdist workers (and the featurize
# subprocesses they start) building and loading the same compiled kernels at once is a race on
# shared files that no test is about (read when torch is first imported)
_PROCESS = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"faceprobe-tests-inductor-{_PROCESS}")
# runs made by session fixtures and the subprocesses tests start are recorded in a store of this
# process's own, never in the user's (each test gets its session's, below)
os.environ["FACEPROBE_RESULTS_DB"] = os.path.join(tempfile.gettempdir(), f"faceprobe-tests-runs-{_PROCESS}.sqlite")
# likewise what featurize remembers and keeps (runtime choices, exports, zoo files): a choice left
# by another test process, or by the user's own runs, would skip the trials a test is about
os.environ["FACEPROBE_HOME"] = os.path.join(tempfile.gettempdir(), f"faceprobe-tests-home-{_PROCESS}")


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


def real_head(real_dir: Path, n: int, out: Path) -> Path:
    """Write the first ``n`` rows of the dev faces' manifest (path,label,subject) to ``out``."""
    lines = (real_dir / "manifest.csv").read_text().splitlines()
    out.write_text("\n".join(lines[:n + 1]) + "\n")
    return out


@pytest.fixture(scope="session")
def real_lite0_cache(real_dir: Path, tmp_path_factory) -> Path:
    """efficientnet_lite0 features (genuine ImageNet weights) of the 240 faces in demo.csv."""
    from faceprobe.featurize.pipeline import featurize

    cache = tmp_path_factory.mktemp("real-lite0") / "real.h5"
    featurize(str(real_dir / "demo.csv"), backbones=["efficientnet_lite0"], weights=["DEFAULT"], cache=str(cache),
                              root=str(real_dir / "images"), progress=False, workers=0)
    return cache


@pytest.fixture(scope="session")
def real_lite0_eager_cache(real_dir: Path, tmp_path_factory) -> Path:
    """Like ``real_lite0_cache`` but fp32 and eager, so the vectors are the same on every run of
    one machine (compiled graphs and bf16 are chosen by timing and CPU)."""
    from faceprobe.featurize.pipeline import featurize

    cache = tmp_path_factory.mktemp("real-lite0-eager") / "real.h5"
    featurize(str(real_dir / "demo.csv"), backbones=["efficientnet_lite0"], weights=["DEFAULT"], cache=str(cache),
                              root=str(real_dir / "images"), progress=False, workers=0, precision="fp32", compile="none")
    return cache


SPEC = {"backbone": "toy", "weights_sha256": "0" * 64, "transform": {}, "output": "x", "crop": {"method": "none", "equalize": False},
        "view": "orig", "view_params": {}}


def _make_synthetic_cache(path: Path, n_subjects=12, per_subject=4, d=8, seed=0, views=()):
    """A cache with 3 separable classes; each subject has its own offset (so subject leaks matter)."""
    rng = np.random.default_rng(seed)
    labels = np.array(["anger", "happy", "neutral"])
    rows = {"path": [], "sha256": [], "label": [], "subject": [], "status": []}
    vec, sha = [], []
    for s in range(n_subjects):
        offset = rng.normal(0, 1.0, d)
        for i in range(per_subject):
            lab = labels[(s + i) % 3]
            h = f"{s:02d}{i:02d}".ljust(64, "a")
            centre = np.eye(d)[list(labels).index(lab)] * 3
            vec.append(centre + offset + rng.normal(0, 0.5, d))
            sha.append(h)
            for c, v in zip(rows, (f"/x/s{s}_{i}.jpg", h, lab, f"subj{s}", "ok")):
                rows[c].append(v)
    features = {"toy.none.orig.0000000000": {"spec": SPEC, "sha256": np.array(sha), "vectors": np.array(vec, np.float32),
                                            "face": np.full(len(sha), -1, np.int8), "box": np.full((len(sha), 4), -1, np.int32)}}
    for v in views:
        spec = {**SPEC, "view": v}
        features[f"toy.none.{v}.000000000{len(v)}"] = {**features["toy.none.orig.0000000000"], "spec": spec,
                                                      "vectors": np.array(vec, np.float32) + 100.0}
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    commit(str(path), images={k: np.array(v) for k, v in rows.items()}, parts=[Part({"run_id": "r"}, {}, features)])
    return path


def reseal(cache) -> None:
    """Store a fresh checksum of the image table after a test changed it with h5py, so the cache
    reads as one faceprobe wrote in that state (not as damage)."""
    import h5py

    from faceprobe.cache.store import read_table, table_digest

    with h5py.File(cache, "r+") as f:
        f["images"].attrs["sha256"] = table_digest(read_table(f["images"], check=False))


@pytest.fixture
def synthetic_cache():
    """Factory: ``synthetic_cache(path, n_subjects=12, per_subject=4, d=8, seed=0, views=())`` writes a
    cache of 3 separable classes where each subject has its own offset; returns its path."""
    return _make_synthetic_cache


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """One session-scoped synthetic cache (15 subjects x 4 rows, 8 dims) for tests that only read it."""
    return _make_synthetic_cache(tmp_path_factory.mktemp("tiny") / "tiny.h5", n_subjects=15)


def _invoke(*args, env: dict | None = None):
    from click.testing import CliRunner

    from faceprobe.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env=env)


@pytest.fixture
def invoke():
    """Run ``faceprobe ARGS...`` in process (click's CliRunner); returns click's Result."""
    return _invoke


@pytest.fixture
def featurize_cli():
    """Factory: ``featurize_cli(source, cache, *extra)`` runs ``featurize`` with the tiny random-weight
    backbone (fp32, no workers, quiet); returns click's Result."""
    def run(source, cache, *extra):
        return _invoke("featurize", source, "-b", TINY, "-w", "none", "--cache", cache, "--precision", "fp32", "--workers", 0, "-q", *extra)

    return run


@pytest.fixture(autouse=True)
def _isolated_torch_home(tmp_path_factory, monkeypatch):
    """Never touch the user's torch hub folder or engine timings; weights downloads fail fast offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch-home"))
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    # engine=auto's timings of this session's tests stay in the session (never in the user's cache)
    memo = tmp_path_factory.getbasetemp() / "engines.json"
    monkeypatch.setattr("faceprobe.classify.fitting.calibrate.calibrations_path", lambda: memo)
    # runs are recorded into this session's own store, never the user's; MLflow only where a test asks
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path_factory.getbasetemp() / "runs.sqlite"))
    monkeypatch.delenv("FACEPROBE_MLFLOW", raising=False)


def write_video(path, frames, fps=10.0, fourcc="FFV1"):
    """Write RGB frames (lossless FFV1 by default) with OpenCV."""
    import cv2

    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert out.isOpened(), f"OpenCV cannot write {fourcc}"
    for f in frames:
        out.write(np.ascontiguousarray(np.asarray(f)[:, :, ::-1]))
    out.release()
    return path


def video_frames(n, seed, size=64):
    rng = np.random.default_rng(seed)
    return [np.asarray(make_face_like(rng, size)) for _ in range(n)]


@pytest.fixture
def video_folder(tmp_path):
    """Two classes x two clips of 12 frames each (lossless), plus one broken video."""
    root = tmp_path / "clips"
    for c, label in enumerate(["calm", "pain"]):
        (root / label).mkdir(parents=True)
        for k in range(2):
            write_video(root / label / f"p{k}_{label}.mkv", video_frames(12, 10 * c + k))
    (root / "pain" / "broken.mp4").write_bytes(b"not a video at all")
    return root


def pytest_sessionfinish(session, exitstatus):
    """Remove this process's own results store, home and inductor cache (see the top of this file)."""
    import shutil

    base = os.environ.get("FACEPROBE_RESULTS_DB", "")
    if os.path.basename(base).startswith("faceprobe-tests-runs-"):
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(base + suffix)
            except OSError:
                pass
    for folder, prefix in (("FACEPROBE_HOME", "faceprobe-tests-home-"), ("TORCHINDUCTOR_CACHE_DIR", "faceprobe-tests-inductor-")):
        path = os.environ.get(folder, "")
        if os.path.basename(path).startswith(prefix):
            shutil.rmtree(path, ignore_errors=True)
