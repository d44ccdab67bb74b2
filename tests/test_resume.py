"""A featurize run killed with SIGKILL resumes with no row lost or duplicated."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceprobe.cache.journal import part_files
from faceprobe.cache.store import read_features, read_images
from faceprobe.cache.tools import verify_cache

from .conftest import TINY, make_face_like


@pytest.fixture
def many_images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    root = tmp_path / "many"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(60):
            make_face_like(rng, 48).save(root / c / f"{c}{i:03d}.png")
    return root


def run_cli(source: Path, cache: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "faceprobe.cli", "featurize", str(source), "-b", TINY, "-w", "none",
           "--cache", str(cache), "--batch-size", "4", "--precision", "fp32", "--workers", "0", "--compile", "none", "--journal-seconds", "0", "-q", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rows_by_hash(cache: Path) -> dict:
    fm = read_features(str(cache), read_keys(cache))
    assert len(set(fm.sha256)) == len(fm.sha256), "duplicated rows"
    return dict(zip(fm.sha256, fm.vectors))


def read_keys(cache: Path) -> str:
    import h5py

    with h5py.File(cache, "r") as f:
        (key,) = list(f["features"])
    return key


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_parts", [2, 12])
def test_sigkill_then_resume_equals_uninterrupted(many_images: Path, tmp_path: Path, kill_after_parts: int):
    reference = tmp_path / "ref.h5"
    done = run_cli(many_images, reference)
    assert done.wait(timeout=300) == 0, done.stderr.read()

    cache = tmp_path / "killed.h5"
    proc = run_cli(many_images, cache)
    deadline = time.time() + 240
    while len(part_files(str(cache))) < kill_after_parts and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed; give it more images"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert part_files(str(cache)), "a killed run leaves its finished batches in the journal"

    resumed = run_cli(many_images, cache, "--json")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    import json

    summary = json.loads(out)
    assert summary["recovered_rows"] >= kill_after_parts * 4
    assert summary["computed"] == 120 - summary["recovered_rows"]
    assert not part_files(str(cache))
    assert verify_cache(str(cache)) == []

    ref, got = rows_by_hash(reference), rows_by_hash(cache)
    assert set(ref) == set(got) and len(got) == 120
    for sha, vec in ref.items():
        np.testing.assert_allclose(got[sha], vec, rtol=1e-5, atol=1e-6)
    assert set(read_images(str(cache))["status"]) == {"ok"}


def test_second_writer_gets_locked_error(many_images: Path, tmp_path: Path):
    cache = tmp_path / "busy.h5"
    first = run_cli(many_images, cache)
    deadline = time.time() + 120
    while not part_files(str(cache)) and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    second = run_cli(many_images, cache)
    _, err = second.communicate(timeout=120)
    first.kill()
    first.wait()
    assert second.returncode == 1
    assert f"locked by PID {first.pid}" in err
    assert "Traceback" not in err
