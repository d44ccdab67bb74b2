"""featurize under torchrun (2-3 CPU processes, gloo): shards merged by rank 0 equal a single run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceprobe.cache.store import read_features
from faceprobe.cache.tools import verify_cache
from faceprobe.featurize.pipeline import FeaturizeConfig, featurize

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


def torchrun(n: int, folder: Path, cache: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()),
           "-m", "faceprobe.cli", "featurize", str(folder), "--cache", str(cache), "--json", *ARGS]
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
    ref = featurize(FeaturizeConfig(str(folder), [TINY], ["none"], str(tmp_path / "ref.h5"), workers=0, progress=False,
                                    precision="fp32", compile="none"))
    cache = tmp_path / "f.h5"
    # a leftover shard of an interrupted 2-rank job, holding some of the images
    featurize(FeaturizeConfig(str(folder), [TINY], ["none"], str(cache) + ".rank0-of-2.h5", workers=0, progress=False,
                              precision="fp32", compile="none", shard=(0, 2)))
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
    featurize(FeaturizeConfig(str(folder), [TINY], ["none"], str(donor), workers=0, progress=False,
                              precision="fp32", compile="none", batch_size=4))
    main = tmp_path / "f.h5"
    featurize(FeaturizeConfig(str(folder), [TINY], ["none"], str(main), workers=0, progress=False,
                              precision="fp32", compile="none", shard=(0, 2)))
    (key,) = read_feature_hashes(str(donor))
    fm = read_features(str(donor), key)
    block = {"spec": fm.spec, "sha256": fm.sha256.astype(str), "vectors": fm.vectors, "face": fm.face, "box": fm.box}
    shard = str(main) + ".rank1-of-2.h5"
    write_part(shard, "x-000000", Part(fm.runs[0], {}, {fm.key: block}))
    assert part_files(shard) and not Path(shard).exists()
    assert _fold_in_shards(str(main), f"{main}.rank*-of-*.h5") == 1
    assert sorted(read_features(str(main), fm.key).sha256) == sorted(fm.sha256)
    assert not list(tmp_path.glob("f.h5.rank*"))
