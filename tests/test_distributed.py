"""featurize under torchrun (2-3 CPU processes, gloo): shards merged by rank 0 equal a single run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceprobe.cache.store import read_features
from faceprobe.cache.tools import verify_cache
from faceprobe.featurize.pipeline import featurize

from .conftest import TINY, make_face_like

ARGS = ["-b", TINY, "-w", "none", "--precision", "fp32", "--compile", "none", "--workers", "0", "-q", "--batch-size", "4"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(15):
            make_face_like(rng, 48).save(tmp_path / "d" / c / f"{i}.png")
    return tmp_path / "d"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(n: int, folder: Path, cache: Path, extra: list | None = None) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()),
           "-m", "faceprobe.cli", "featurize", str(folder), "--cache", str(cache), "--json", *(ARGS if extra is None else extra)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(block) for block in _json_blocks(out.stdout)]


def _json_blocks(text: str):
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                yield text[start:i + 1]


@pytest.mark.slow
def test_torchrun_shards_merge_and_relaunch_computes_nothing_twice(folder: Path, tmp_path: Path):
    ref = featurize(str(folder), backbones=[TINY], weights=["none"], cache=str(tmp_path / "ref.h5"), workers=0, progress=False,
                                    precision="fp32", compile="none")
    cache = tmp_path / "f.h5"
    # a leftover shard of an interrupted 2-rank job, holding some of the images
    featurize(str(folder), backbones=[TINY], weights=["none"], cache=str(cache) + ".rank0-of-2.h5", workers=0, progress=False,
                              precision="fp32", compile="none", shard=(0, 2))
    summaries = torchrun(3, folder, cache)
    assert len(summaries) == 3
    computed = sum(s["computed"] for s in summaries)
    assert 0 < computed < 30  # the leftover shard's images were not computed again
    assert not list(tmp_path.glob("f.h5.rank*"))
    a, b = read_features(str(tmp_path / "ref.h5"), ref.keys[0]), read_features(str(cache), ref.keys[0])
    va = dict(zip(a.sha256, a.vectors))
    assert sorted(b.sha256) == sorted(va)
    for sha, vec in zip(b.sha256, b.vectors):
        np.testing.assert_allclose(vec, va[sha], rtol=1e-5, atol=1e-6)
    assert verify_cache(str(cache)) == []
    again = torchrun(2, folder, cache)
    assert sum(s["computed"] for s in again) == 0


def test_leftover_journal_only_shard_is_folded_in(folder: Path, tmp_path: Path):
    """A rank killed before its first commit leaves only journal parts; rank 0 folds them in."""
    from faceprobe.cache.journal import Part, part_files, write_part
    from faceprobe.cache.store import read_feature_hashes
    from faceprobe.featurize.distributed import _fold_in_shards

    donor = tmp_path / "donor.h5"
    featurize(str(folder), backbones=[TINY], weights=["none"], cache=str(donor), workers=0, progress=False,
                              precision="fp32", compile="none", batch_size=4)
    main = tmp_path / "f.h5"
    featurize(str(folder), backbones=[TINY], weights=["none"], cache=str(main), workers=0, progress=False,
                              precision="fp32", compile="none", shard=(0, 2))
    (key,) = read_feature_hashes(str(donor))
    fm = read_features(str(donor), key)
    block = {"spec": fm.spec, "sha256": fm.sha256.astype(str), "vectors": fm.vectors, "face": fm.face, "box": fm.box}
    shard = str(main) + ".rank1-of-2.h5"
    write_part(shard, "x-000000", Part(fm.runs[0], {}, {fm.key: block}))
    assert part_files(shard) and not Path(shard).exists()
    assert _fold_in_shards(str(main), f"{main}.rank*-of-*.h5") == 1
    assert sorted(read_features(str(main), fm.key).sha256) == sorted(fm.sha256)
    assert not list(tmp_path.glob("f.h5.rank*"))


def _rank_pid(launcher_pid: int, rank: int) -> int | None:
    """PID of the torchrun worker process with RANK=rank (Linux /proc)."""
    import os

    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                env = dict(kv.split(b"=", 1) for kv in handle.read().split(b"\0") if b"=" in kv)
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == launcher_pid and env.get(b"RANK") == str(rank).encode():
            return int(entry)
    return None


@pytest.mark.slow
def test_real_faces_killed_rank_resumes_and_merge_equals_one_process(real_dir: Path, tmp_path: Path):
    """muxspace-dev under torchrun (2 gloo CPU ranks): SIGKILL rank 1 mid-run, relaunch, and the
    merged cache equals a single-process run row for row."""
    import os
    import signal
    import time

    from faceprobe.cache.journal import part_files

    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join((real_dir / "demo.csv").read_text().splitlines()[:121]) + "\n")
    common = ["--root", str(real_dir / "images"), *ARGS[:-1], "1", "--journal-seconds", "0"]  # batch 1, a part per batch: many parts per rank
    ref = tmp_path / "ref.h5"
    subprocess.run([sys.executable, "-m", "faceprobe.cli", "featurize", str(manifest), "--cache", str(ref), *common],
                   check=True, capture_output=True, timeout=300)
    cache = tmp_path / "f.h5"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), "-m", "faceprobe.cli", "featurize", str(manifest), "--cache", str(cache), *common]
    launcher = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shard1 = f"{cache}.rank1-of-2.h5"
    deadline = time.time() + 240
    while len(part_files(shard1)) < 3 and time.time() < deadline and launcher.poll() is None:
        time.sleep(0.02)
    pid = _rank_pid(launcher.pid, 1)
    assert pid is not None and launcher.poll() is None, "rank 1 finished before it could be killed"
    os.kill(pid, signal.SIGKILL)
    assert launcher.wait(timeout=120) != 0  # torchrun reports the dead rank and stops the job
    assert part_files(shard1) and not cache.exists()  # what rank 1 computed survives as a journal
    summaries = torchrun(2, manifest, cache, extra=common)
    assert sum(s["computed"] for s in summaries) < 120  # the killed job's work is not redone
    a, b = read_features(str(ref), read_features_keys(ref)), read_features(str(cache), read_features_keys(ref))
    assert sorted(a.sha256) == sorted(b.sha256) and len(a.sha256) >= 118
    va = dict(zip(a.sha256, a.vectors))
    for sha, vec in zip(b.sha256, b.vectors):
        np.testing.assert_allclose(vec, va[sha], rtol=1e-5, atol=1e-6)
    assert verify_cache(str(cache)) == [] and not list(tmp_path.glob("f.h5.rank*"))


def read_features_keys(cache: Path) -> str:
    from faceprobe.cache.store import read_feature_hashes

    (key,) = read_feature_hashes(str(cache))
    return key


@pytest.mark.slow
def test_the_python_api_under_torchrun_shards_like_the_command(folder: Path, tmp_path: Path):
    """faceprobe.compute_features under torchrun: each rank one shard, rank 0 merges (not every
    rank writing the same cache)."""
    cache = tmp_path / "api.h5"
    script = tmp_path / "run.py"
    script.write_text(
        "import json, faceprobe\n"
        f"s = faceprobe.compute_features({str(folder)!r}, {TINY!r}, {str(cache)!r}, weights='none', workers=0,\n"
        "                               progress=False, precision='fp32', compile='none')\n"
        "print(json.dumps(s))\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    summaries = [json.loads(block) for block in _json_blocks(out.stdout)]
    assert len(summaries) == 2 and all(0 < s["computed"] < 30 for s in summaries)  # one shard each
    assert sum(s["computed"] for s in summaries) == 30 and not list(tmp_path.glob("api.h5.rank*"))
    assert read_features(str(cache), summaries[0]["keys"][0]).vectors.shape[0] == 30
    assert verify_cache(str(cache)) == []
