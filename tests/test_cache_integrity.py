"""The cache under damage: checksummed vectors, leftovers of killed commits, a full disk."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import h5py
import pytest

from faceprobe.cache.tools import verify_cache
from faceprobe.featurize.pipeline import FeaturizeConfig, featurize

from .conftest import TINY


def _run(source, cache, **kw):
    return featurize(FeaturizeConfig(source=str(source), backbones=[TINY], weights=["none"], cache=str(cache), workers=0, progress=False, precision="fp32",
                                     compile="none", **kw))


def test_verify_catches_bytes_changed_inside_a_vector_row(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "c.h5"
    _run(image_folder, cache)
    assert verify_cache(str(cache)) == []
    with h5py.File(cache, "r") as f:
        (g,) = f["features"].values()
        assert g["vectors"].fletcher32
        where = g["vectors"].id.get_chunk_info(0).byte_offset
    with open(cache, "r+b") as handle:  # finite garbage: what a flipped disk block would leave
        handle.seek(where + 64)
        handle.write(bytes([0x3F, 0x80, 0x00, 0x00] * 4))
    problems = verify_cache(str(cache))
    assert len(problems) == 1 and "stored data fail their checksum" in problems[0] and "featurize again" in problems[0]


def test_a_killed_commits_copy_is_reported_then_removed_by_the_next_run(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "c.h5"
    _run(image_folder, cache)
    stale = Path(f"{cache}.tmp-999999")
    stale.write_bytes(os.urandom(4096))
    problems = verify_cache(str(cache))
    assert len(problems) == 1 and problems[0].startswith("1 temporary copies (0.0 MB) left by an interrupted commit")
    s = _run(image_folder, cache)
    assert not stale.exists() and any("removed 1 temporary copies" in n for n in s.notes)
    assert verify_cache(str(cache)) == []


def test_full_disk_ends_in_one_line_with_the_space_needed_and_keeps_the_journal(image_folder: Path, tmp_path: Path, monkeypatch):
    from faceprobe.cache import store
    from faceprobe.cache.journal import part_files
    from faceprobe.errors import FaceprobeError

    cache = tmp_path / "c.h5"
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: Usage(10 << 20, 10 << 20, 1000))
    with pytest.raises(FaceprobeError, match=r"committing needs about \d+\.\d MB free in .*, 0\.0 MB are free; free some space "
                                             r"and run the same command again \(the computed results wait in the journal\)"):
        _run(image_folder, cache)
    assert part_files(str(cache)) and not list(tmp_path.glob("c.h5.tmp-*"))
    monkeypatch.undo()
    s = _run(image_folder, cache)  # space again: the journal is committed, nothing computed twice
    assert s.recovered_rows == 12 and s.computed == 0 and verify_cache(str(cache)) == []


def test_verify_names_the_file_once(tmp_path: Path, invoke):
    r = invoke("cache", "verify", "--cache", tmp_path / "missing.h5")
    assert r.exit_code == 1 and r.output.count(str(tmp_path / "missing.h5")) == 1


def test_disk_full_while_journaling_is_one_line(image_folder: Path, tmp_path: Path, invoke, monkeypatch):
    import errno

    from faceprobe.featurize import compute

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "c.h5.journal" / "part.npz"))

    monkeypatch.setattr(compute, "write_part", full)
    r = invoke("featurize", image_folder, "-b", TINY, "-w", "none", "--precision", "fp32", "--workers", 0, "-q",
               "--cache", tmp_path / "c.h5")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "part.npz: no space left on the device; free some space and run the same command again" in r.output


def test_kill_during_commit_leaves_nothing_behind_after_the_next_run(image_folder: Path, tmp_path: Path):
    """A real SIGKILL at the worst moment: the commit's full-size copy of the cache is written."""
    import subprocess
    import sys
    import textwrap

    cache = tmp_path / "c.h5"
    _run(image_folder, cache)
    script = textwrap.dedent(f"""
        import os, shutil, signal
        copy = shutil.copyfile

        def copy_then_die(src, dst):
            copy(src, dst)
            os.kill(os.getpid(), signal.SIGKILL)

        shutil.copyfile = copy_then_die  # only in this child process
        from faceprobe.featurize.pipeline import FeaturizeConfig, featurize
        featurize(FeaturizeConfig(source={str(image_folder)!r}, backbones=[{TINY!r}], weights=["none"], cache={str(cache)!r}, workers=0, progress=False,
                                  precision="fp32", compile="none", seed=1))
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert list(tmp_path.glob("c.h5.tmp-*")) and list(tmp_path.glob("c.h5.journal/*"))
    s = _run(image_folder, cache, seed=1)
    assert s.recovered_rows == 12 and s.computed == 0  # the journal survived the kill; nothing computed twice
    assert any("removed 1 temporary copies" in n for n in s.notes)
    assert not list(tmp_path.glob("c.h5.tmp-*")) and not list(tmp_path.glob("c.h5.journal/*"))
    assert verify_cache(str(cache)) == []


def test_interrupted_run_table_counts_agree_with_stored_rows(image_folder: Path, tmp_path: Path, monkeypatch):
    from faceprobe.cache.tools import cache_info
    from faceprobe.featurize import compute

    real, calls = compute.write_part, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C between computing a batch and journaling it
        return real(*args, **kwargs)

    monkeypatch.setattr(compute, "write_part", interrupted)
    cache = tmp_path / "c.h5"
    with pytest.raises(KeyboardInterrupt):
        _run(image_folder, cache, batch_size=4)
    info = cache_info(str(cache))
    assert info["status"].get("ok", 0) == info["keys"][0]["rows"] == 4
