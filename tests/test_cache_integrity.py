"""The cache under damage: checksummed vectors, leftovers of killed commits, a full disk."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import h5py
import pytest

from faceprobe.cache.tools import verify_cache
from faceprobe.featurize.pipeline import featurize

from .conftest import TINY
import numpy as np
import faceprobe


def _run(source, cache, **kw):
    return featurize(str(source), backbones=[TINY], weights=["none"], cache=str(cache), workers=0, progress=False, precision="fp32",
                                     compile="none", **kw)


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
        from faceprobe.featurize.pipeline import featurize
        featurize({str(image_folder)!r}, backbones=[{TINY!r}], weights=["none"], cache={str(cache)!r}, workers=0, progress=False,
                                  precision="fp32", compile="none", seed=1)
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
        _run(image_folder, cache, batch_size=4, journal_seconds=0)
    info = cache_info(str(cache))
    assert info["status"].get("ok", 0) == info["keys"][0]["rows"] == 8  # the interrupted write is retried on the way out


def test_batches_share_journal_parts_and_ctrl_c_keeps_those_not_yet_written(image_folder: Path, tmp_path: Path, monkeypatch):
    from faceprobe.cache.tools import cache_info
    from faceprobe.featurize import compute

    written = []
    real_write = compute.write_part
    monkeypatch.setattr(compute, "write_part", lambda cache, name, part: written.append(len(part.images["path"])) or real_write(cache, name, part))
    s = _run(image_folder, tmp_path / "whole.h5", batch_size=4)
    assert written == [s.computed] == [12]  # three batches, one part: a few seconds of work per part

    real_forward, calls = compute._Stream._forward, []

    def forward_then_interrupt(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third batch's forward pass
        return real_forward(self, *args)

    monkeypatch.setattr(compute._Stream, "_forward", forward_then_interrupt)
    cache = tmp_path / "c.h5"
    written.clear()
    with pytest.raises(KeyboardInterrupt):
        _run(image_folder, cache, batch_size=4)
    assert written == [8]  # the two finished batches were written on the way out, in one part
    assert cache_info(str(cache))["keys"][0]["rows"] == 8  # and committed before the interrupt went on
    monkeypatch.setattr(compute._Stream, "_forward", real_forward)
    s = _run(image_folder, cache, batch_size=4)
    assert s.cached == 8 and s.computed == 4


KEY = "toy.none.orig.0000000000"


def _damage_first_vector_chunk(cache: Path) -> None:
    with h5py.File(cache, "r") as f:
        info = f["features"][KEY]["vectors"].id.get_chunk_info(0)
    with open(cache, "r+b") as handle:
        handle.seek(info.byte_offset + 16)
        byte = handle.read(1)
        handle.seek(info.byte_offset + 16)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_a_damaged_vector_chunk_is_one_line_in_classify_export_and_verify(synthetic_cache, tmp_path, invoke):
    cache = synthetic_cache(tmp_path / "c.h5")
    _damage_first_vector_chunk(cache)
    assert any("fail their checksum" in p for p in verify_cache(str(cache)))
    for args in (("classify", "-c", cache, "--head", "logreg", "--cv", 3), ("cache", "export", "-c", cache, "-o", tmp_path / "x.npz")):
        r = invoke(*args)
        assert r.exit_code == 1 and "Traceback" not in r.output and r.output.count("\n") == 1, r.output
        assert "damaged data" in r.output and "faceprobe cache verify" in r.output


@pytest.mark.parametrize("column, value", [("label", "neutral"), ("status", "\x17zz")])
def test_edited_image_table_bytes_fail_verify_and_stop_every_reader(synthetic_cache, tmp_path, invoke, column, value):
    cache = synthetic_cache(tmp_path / "c.h5")
    assert verify_cache(str(cache)) == []
    with h5py.File(cache, "r+") as f:  # edited in place, as a hex editor or another tool would
        values = f["images"][column].asstr()[()]
        values[0] = value if values[0] != value else "anger"
        f["images"][column][...] = np.asarray(values, dtype=object)
    problems = verify_cache(str(cache))
    assert any(p.startswith("/images: the image table (labels, subjects, statuses) was changed outside faceprobe") for p in problems)
    for args in (("classify", "-c", cache, "--head", "logreg", "--cv", 3), ("cache", "info", "-c", cache)):
        r = invoke(*args)
        assert r.exit_code == 1 and r.output.count("\n") == 1 and "changed outside faceprobe" in r.output, r.output


def test_a_cache_written_before_table_checksums_is_read_and_verify_says_so(synthetic_cache, tmp_path):
    cache = synthetic_cache(tmp_path / "c.h5")
    with h5py.File(cache, "r+") as f:
        del f["images"].attrs["sha256"]
    assert faceprobe.evaluate(str(cache), head="logreg", cv=3).raw["rows"] == 48
    assert any("no checksum" in p for p in verify_cache(str(cache)))


def test_the_space_check_counts_whole_chunks_for_a_first_commit(tmp_path):
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import _needed_bytes  # noqa: PLC2701 -- the estimate itself is what is checked

    part = Part({"run_id": "r"}, {}, {KEY: {"sha256": np.array(["a" * 64] * 5), "vectors": np.zeros((5, 1280), np.float32)}})
    assert _needed_bytes(str(tmp_path / "new.h5"), [part]) > 512 * 1280 * 4  # one 2.6 MB chunk, not 5 rows' 25 kB


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB tmpfs (root only; skipped elsewhere), grown to 64 MB by calling the returned function."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount, lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_at_the_first_commit_is_one_line_and_a_rerun_after_freeing_space_resumes(image_folder, tmp_path, small_disk, invoke):
    from faceprobe.cache.store import read_features

    mount, grow = small_disk
    args = ("-b", "resnet18", "-w", "none", "--precision", "fp32", "--compile", "none", "--workers", 0, "-q")
    r = invoke("featurize", image_folder, "-c", mount / "c.h5", *args)
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "committing needs about" in r.output, r.output
    assert "Traceback" not in r.output and list((mount / "c.h5.journal").glob("*")) and not (mount / "c.h5").exists()
    grow()
    again = invoke("featurize", image_folder, "-c", mount / "c.h5", *args)
    assert again.exit_code == 0 and "committed 12 rows left by an interrupted run" in again.output, again.output
    assert invoke("featurize", image_folder, "-c", tmp_path / "ref.h5", *args).exit_code == 0
    from faceprobe.cache.tools import list_keys

    key = list_keys(str(tmp_path / "ref.h5"))[0]["key"]
    a, b = read_features(str(mount / "c.h5"), key), read_features(str(tmp_path / "ref.h5"), key)
    np.testing.assert_array_equal(a.vectors[np.argsort(a.sha256)], b.vectors[np.argsort(b.sha256)])


def test_verify_during_a_live_run_calls_its_parts_work_in_progress_and_after_a_kill_uncommitted(synthetic_cache, tmp_path, invoke):
    import os

    from faceprobe.cache.journal import Part, write_part
    from faceprobe.cache.lock import writer_lock

    cache = synthetic_cache(tmp_path / "c.h5")
    write_part(str(cache), "run-000000", Part({"run_id": "run"}, {"path": np.array(["/x.jpg"])}, {}))
    with writer_lock(str(cache)):  # a featurize writing it now
        r = invoke("cache", "verify", "--cache", cache)
        assert r.exit_code == 0, r.output
        assert f"featurize (PID {os.getpid()}) is writing it now; 1 result parts of that run wait to be committed" in r.output
        assert "interrupted" not in r.output and "ok (as committed so far)" in r.output
    r = invoke("cache", "verify", "--cache", cache)  # nobody holds the lock: the parts were left by a run that died
    assert r.exit_code == 1 and "1 uncommitted result parts from an interrupted run" in r.output


def test_rows_a_killed_run_left_for_another_source_are_committed_with_a_note_saying_they_are_unlabelled(image_folder, tmp_path,
                                                                                                          monkeypatch):
    from faceprobe.cache.journal import part_files
    from faceprobe.featurize import pipeline

    files = sorted(p for p in image_folder.rglob("*.*"))
    for name, chosen in (("a.csv", files[:6]), ("b.csv", files[6:])):
        (tmp_path / name).write_text("path,label\n" + "".join(f"{p},{p.parent.name}\n" for p in chosen))
    cache = tmp_path / "c.h5"

    def killed(*args):
        raise KeyboardInterrupt  # dies after journaling, before its commit (as SIGKILL would)

    monkeypatch.setattr(pipeline, "_commit_run", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "a.csv", cache)
    assert part_files(str(cache))
    monkeypatch.undo()
    s = _run(tmp_path / "b.csv", cache)
    assert s.recovered_rows == 6 and s.computed == 6
    assert any("committed 6 images an interrupted run had computed for a source this one does not list" in n
               and "unlabelled until that source is featurized again" in n for n in s.notes)
    s = _run(tmp_path / "a.csv", cache)
    assert s.computed == 0 and not any("interrupted run" in n for n in s.notes)
