"""The second adversarial audit (issue 24): every case answered in one line, nothing wrong silently."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import faceprobe
from faceprobe.cache.tools import verify_cache
from faceprobe.errors import OptionError

KEY = "toy.none.orig.0000000000"


# ------------------------------------------------------------------ options that used to raise tracebacks


def test_frames_with_two_decimal_points_is_one_line():
    from faceprobe.featurize.sources.video import parse_frames

    with pytest.raises(OptionError, match=r"frames='fps:1.2.3': expected all, every:N, fps:F or count:K"):
        parse_frames("fps:1.2.3")
    assert parse_frames("fps:1.5").value == 1.5


def test_normalize_subject_when_every_person_has_one_image_is_refused(synthetic_cache, tmp_path):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=30, per_subject=1)
    with pytest.raises(OptionError, match=r"every subject value has fewer than 2 images"):
        faceprobe.evaluate(str(cache), head="logreg", cv=3, normalize="subject", group="none")


def test_keys_with_no_image_in_common_are_refused_for_a_grid_and_a_fusion(tmp_path, invoke):
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    rng = np.random.default_rng(0)
    spec = {"backbone": "toy", "weights_sha256": "0" * 64, "transform": {}, "output": "x", "crop": {"method": "none", "equalize": False},
            "view": "orig", "view_params": {}}
    rows = {"path": [], "sha256": [], "label": [], "subject": [], "status": []}
    parts = {}
    for k, name in enumerate(("toy.none.orig.000000000a", "toy.none.orig.000000000b")):
        sha = [f"{k}{i:03d}".ljust(64, "c") for i in range(20)]
        for i, h in enumerate(sha):
            for c, v in zip(rows, (f"/x/{k}_{i}.jpg", h, "ab"[i % 2], f"s{i}", "ok")):
                rows[c].append(v)
        parts[name] = {"spec": {**spec, "output": name}, "sha256": np.array(sha), "vectors": rng.normal(size=(20, 4)).astype(np.float32),
                       "face": np.full(20, -1, np.int8), "box": np.full((20, 4), -1, np.int32)}
    cache = tmp_path / "two.h5"
    commit(str(cache), images={c: np.array(v) for c, v in rows.items()}, parts=[Part({"run_id": "r"}, {}, parts)])
    for keys in (["toy.none.orig.000000000a", "toy.none.orig.000000000b"], ["toy.none.orig.000000000a+toy.none.orig.000000000b"]):
        with pytest.raises(OptionError, match="these keys hold no image in common"):
            faceprobe.evaluate(str(cache), keys, head="logreg", cv=2)
    r = invoke("classify", "-c", cache, "-b", "toy.none.orig.000000000a", "-b", "toy.none.orig.000000000b", "--head", "logreg")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "hold no image in common" in r.output


# ------------------------------------------------------------------ damage that verify must see


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


# ------------------------------------------------------------------ exit status and messages


def test_a_plug_in_head_raising_any_error_fails_alone(tiny_cache):
    from faceprobe.classify.heads import HEADS

    class Broken:
        def fit(self, X, y):
            raise TypeError("a plug-in bug")

    faceprobe.register_head("test_broken", lambda p, seed: Broken(), probabilities=False)
    try:
        res = faceprobe.evaluate(str(tiny_cache), head=["test_broken", "logreg"], cv=3)
    finally:
        HEADS.unregister("test_broken")
    assert res.cell("test_broken")["error"].startswith("failed in 3 of 3 folds") and "TypeError: a plug-in bug" in res.cell("test_broken")["error"]
    assert res.cell("logreg")["summary"]["accuracy"]["mean"] > 0.6


def test_classify_exits_non_zero_when_every_head_failed(synthetic_cache, tmp_path, invoke):
    from faceprobe.cache.store import commit, read_images

    cache = synthetic_cache(tmp_path / "c.h5")
    images = read_images(str(cache))  # a training part holding one class: no head can be trained
    images["extra"] = np.asarray(['{"part": "%s"}' % ("train" if lab == "anger" else "test") for lab in images["label"]], dtype=object)
    commit(str(cache), images=images)
    r = invoke("classify", "-c", cache, "--head", "logreg,svm", "--split-col", "part", "--train", "train", "--test", "test")
    assert r.exit_code == 1 and r.output.startswith("Error: no head gave results (2 of 2 failed); first, logreg on"), r.output


def test_ctrl_c_in_classify_does_not_claim_results_were_kept(tiny_cache, invoke, monkeypatch):
    from faceprobe.classify import run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "evaluate", interrupted)
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", 3)
    assert r.exit_code == 130 and "interrupted; nothing was written" in r.output and "kept" not in r.output


def test_grouping_by_a_column_with_one_value_suggests_what_works(synthetic_cache, tmp_path, invoke):
    from faceprobe.cache.store import read_images
    from faceprobe.cache.store import commit

    cache = synthetic_cache(tmp_path / "c.h5")
    images = read_images(str(cache))
    images["extra"] = np.asarray(['{"site": "one"}'] * len(images["path"]), dtype=object)
    commit(str(cache), images=images)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "--group", "site")
    assert r.exit_code == 1 and "splits cannot be grouped by it; use --group none" in r.output and "--cv 1" not in r.output


def test_knn_default_k_too_large_fails_knn_only_and_says_it_was_the_default(synthetic_cache, tmp_path):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=3, per_subject=4)  # 12 rows: 4 training rows per class in 3 folds
    res = faceprobe.evaluate(str(cache), head=["knn", "logreg"], cv=3, group="none", params={"knn.k": [3]})
    assert "error" not in res.cell("knn")
    small = synthetic_cache(tmp_path / "s.h5", n_subjects=2, per_subject=3)  # 6 rows, 3 in training: knn's k=5 cannot fit
    res = faceprobe.evaluate(str(small), head=["knn", "logreg"], cv=2, group="none")
    assert res.cell("knn")["error"].startswith("its default k=5 is more than the 3 training rows of the smallest fold")
    assert "error" not in res.cell("logreg")
    with pytest.raises(OptionError, match=r"params='k=5': knn: more than the 3 training rows"):
        faceprobe.evaluate(str(small), head=["knn", "logreg"], cv=2, group="none", params={"k": [5]})


def test_an_empty_csv_is_refused_as_empty_not_read_as_a_manifest(tmp_path, invoke):
    (tmp_path / "fer2013.csv").write_text("")
    r = invoke("featurize", tmp_path / "fer2013.csv", "-b", "resnet18", "-w", "none", "-c", tmp_path / "c.h5")
    assert r.exit_code == 1 and "fer2013.csv: empty file (no header row)" in r.output and "no column" not in r.output


@pytest.mark.slow
def test_a_compiled_cpu_run_prints_no_cuda_home_warning(image_folder, tmp_path):
    import subprocess
    import sys

    from .conftest import TINY

    out = subprocess.run([sys.executable, "-m", "faceprobe.cli", "featurize", str(image_folder), "-b", TINY, "-w", "none",
                          "--compile", "inductor", "-c", str(tmp_path / "c.h5"), "-q", "--device", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "CUDA_HOME" not in out.stderr and "No CUDA runtime" not in out.stderr


# ------------------------------------------------------------------ safe output


def _hostile_cache(tmp_path):
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    rng = np.random.default_rng(1)
    labels = ["=HYPERLINK(\"http://x.invalid\",\"click\")", "<script>alert(1)</script>", "plain|bar"]
    rows = {"path": [], "sha256": [], "label": [], "subject": [], "status": [], "extra": []}
    vec, sha = [], []
    for i in range(36):
        h = f"{i:04d}".ljust(64, "e")
        sha.append(h)
        vec.append(np.eye(4)[i % 3] * 3 + rng.normal(0, 0.3, 4))
        for c, v in zip(rows, (f"/x/{i}.jpg", h, labels[i % 3], f"@s{i % 6}", "ok", '{"note": "-1+2"}')):
            rows[c].append(v)
    spec = {"backbone": "toy", "weights_sha256": "0" * 64, "transform": {}, "output": "x", "crop": {"method": "none", "equalize": False},
            "view": "orig", "view_params": {}}
    part = {KEY: {"spec": spec, "sha256": np.array(sha), "vectors": np.array(vec, np.float32), "face": np.full(36, -1, np.int8),
                  "box": np.full((36, 4), -1, np.int32)}}
    commit(str(tmp_path / "h.h5"), images={c: np.array(v, dtype=object) for c, v in rows.items()}, parts=[Part({"run_id": "r"}, {}, part)])
    return tmp_path / "h.h5"


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(tmp_path, invoke):
    import csv

    cache = _hostile_cache(tmp_path)
    r = invoke("cache", "export", "-c", cache, "-o", tmp_path / "x.csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "x.csv", newline="")))
    assert {row["label"] for row in rows} >= {"'=HYPERLINK(\"http://x.invalid\",\"click\")"}
    assert all(row["subject"].startswith("'@") for row in rows) and {row["note"] for row in rows} == {"'-1+2"}
    assert all(not row[c].startswith(("=", "+", "@")) for row in rows for c in row)
    assert float(rows[0]["f0"]) == float(rows[0]["f0"])  # numbers, negative ones too, stay numbers
    faceprobe.register_head("=cmd|calc", lambda p, seed: __import__("sklearn.linear_model").linear_model.LogisticRegression())
    try:
        r = invoke("classify", "-c", cache, "--head", "=cmd|calc,logreg", "--cv", 3, "-q", "--table", tmp_path / "g.csv",
                   "--report", tmp_path / "r.md")
    finally:
        from faceprobe.classify.heads import HEADS

        HEADS.unregister("=cmd|calc")
    assert r.exit_code == 0, r.output
    heads = [row["head"] for row in csv.DictReader(open(tmp_path / "g.csv", newline=""))]
    assert heads == ["'=cmd|calc", "logreg"]


def test_markdown_reports_and_tables_escape_html_from_the_data(tmp_path, invoke):
    cache = _hostile_cache(tmp_path)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q", "--report", tmp_path / "r.md", "--table", tmp_path / "g.md")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "r.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "plain\\|bar" in md
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q", "--report", tmp_path / "r.html")
    assert "<script>alert" not in (tmp_path / "r.html").read_text()


# ------------------------------------------------------------------ model files


def test_models_are_skops_files_that_load_without_running_code(tiny_cache, tmp_path, invoke):
    from faceprobe.classify.model import load_model

    r = invoke("fit", "-c", tiny_cache, "--head", "svm", "--cv", 3, "-o", tmp_path / "m.skops")
    assert r.exit_code == 0, r.output
    model = load_model(str(tmp_path / "m.skops"))
    assert model["engine"]["engine"] == "sklearn"  # auto fits a .skops model on scikit-learn
    bad = invoke("fit", "-c", tiny_cache, "--head", "svm", "--cv", 3, "--engine", "onedal", "-o", tmp_path / "o.skops")
    assert bad.exit_code == 1 and "a .skops model holds scikit-learn estimators" in bad.output
    wrong = invoke("fit", "-c", tiny_cache, "--head", "svm", "--cv", 3, "-o", tmp_path / "m.bin")
    assert wrong.exit_code == 1 and "a model file ends in .skops" in wrong.output


class Payload:
    """What a hostile pickle runs when loaded."""

    def __reduce__(self):
        return (Path.touch, (Path(__file__).parent / "__never_created__",))


def test_a_joblib_pickle_with_a_matching_sha256_is_not_loaded_without_allow_pickle(tiny_cache, tmp_path, invoke):
    import joblib

    from faceprobe.classify.model import load_model
    from faceprobe.hashes import file_sha256

    hostile = tmp_path / "evil.joblib"
    joblib.dump({"format": "faceprobe-model", "x": Payload()}, hostile)
    (tmp_path / "evil.joblib.sha256").write_text(f"{file_sha256(str(hostile))}  evil.joblib\n")
    with pytest.raises(OptionError, match="is a joblib pickle: loading it can run any code it holds"):
        load_model(str(hostile))
    r = invoke("predict", "-m", hostile, tmp_path, "-c", tmp_path / "c.h5")
    assert r.exit_code == 1 and "--allow-pickle" in r.output
    assert not (Path(__file__).parent / "__never_created__").exists()
    r = invoke("fit", "-c", tiny_cache, "--head", "logreg", "--cv", 3, "-o", tmp_path / "m.joblib")  # on explicit request
    assert r.exit_code == 0 and load_model(str(tmp_path / "m.joblib"), allow_pickle=True)["head"] == "logreg"


def test_fit_into_a_read_only_folder_is_one_line_before_work(tiny_cache, tmp_path, invoke):
    import os

    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root without capabilities dropped)")
        r = invoke("fit", "-c", tiny_cache, "--head", "logreg", "-o", folder / "m.skops")
    finally:
        os.chmod(folder, 0o755)
    assert r.exit_code == 1 and "is not writable" in r.output and r.output.count("\n") == 1


# ------------------------------------------------------------------ where the cache is written


def test_a_symlinked_cache_is_written_through_to_its_target(image_folder, tmp_path, featurize_cli):
    target = tmp_path / "store" / "real.h5"
    target.parent.mkdir()
    assert featurize_cli(image_folder, target).exit_code == 0
    link = tmp_path / "link.h5"
    link.symlink_to(target)
    before = verify_cache(str(target))
    r = featurize_cli(image_folder, link, "--augment", "hflip")
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and link.resolve() == target.resolve()
    from faceprobe.cache.tools import list_keys

    assert len(list_keys(str(target))) == 2 and before == [] and verify_cache(str(target)) == []
    assert (tmp_path / "store" / "real.h5.lock").exists() and not (tmp_path / "link.h5.lock").exists()


def test_a_read_only_cache_is_refused_for_writing_and_stays_read_only(image_folder, tmp_path, featurize_cli, invoke):
    import os
    import stat

    cache = tmp_path / "c.h5"
    assert featurize_cli(image_folder, cache).exit_code == 0
    os.chmod(cache, 0o444)
    r = featurize_cli(image_folder, cache, "--augment", "hflip")
    assert r.exit_code == 1 and "the cache is read-only; make it writable" in r.output and r.output.count("\n") == 1
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o444
    assert invoke("classify", "-c", cache, "--head", "logreg", "--cv", 2, "--group", "none").exit_code == 0  # reading is fine


# ------------------------------------------------------------------ silently wrong inputs


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


def test_a_path_listed_with_two_subjects_is_left_out_and_said(image_folder, tmp_path, featurize_cli):
    rows = ["path,label,subject"] + [f"{p.relative_to(image_folder)},{p.parent.name},s{i % 3}"
                                     for i, p in enumerate(sorted(image_folder.rglob("*.*")))]
    rows.append(rows[1].rsplit(",", 1)[0] + ",someone_else")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    r = featurize_cli(tmp_path / "m.csv", tmp_path / "c.h5", "--root", image_folder)
    assert r.exit_code == 0, r.output
    assert "1 listed with different labels or subjects, left out:" in r.output and "subject s0 / subject someone_else" in r.output


def test_merge_refuses_extra_columns_that_disagree_whatever_the_order(synthetic_cache, tmp_path, invoke):
    from faceprobe.cache.store import commit, read_images

    a, b = synthetic_cache(tmp_path / "a.h5"), synthetic_cache(tmp_path / "b.h5")
    for cache, site in ((a, "lab1"), (b, "lab2")):
        images = read_images(str(cache))
        images["extra"] = np.asarray([f'{{"site": "{site}"}}'] * len(images["path"]), dtype=object)
        commit(str(cache), images=images)
    for first, second in ((a, b), (b, a)):
        r = invoke("cache", "merge", first, second, "-o", tmp_path / f"m-{first.stem}.h5")
        assert r.exit_code == 1 and "has site" in r.output and "not merging" in r.output, r.output


def test_clips_split_across_grouped_folds_are_warned_about(synthetic_cache, tmp_path):
    from faceprobe.cache.store import commit, read_images

    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=12, per_subject=4)
    images = read_images(str(cache))  # a "clip" spans two people, so subject-grouped folds split it
    images["extra"] = np.asarray([f'{{"sequence": "q{i // 8}"}}' for i in range(len(images["path"]))], dtype=object)
    commit(str(cache), images=images)
    res = faceprobe.evaluate(str(cache), head="logreg", cv=3, aggregate="sequence")
    assert any("sequence clips have frames in more than one test fold" in n and "`group=sequence`" in n for n in res.notes)
    kept = faceprobe.evaluate(str(cache), head="logreg", cv=3, aggregate="sequence", group="sequence")
    assert not any("more than one test fold" in n for n in kept.notes)


# ------------------------------------------------------------------ a full disk


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


def test_a_video_frame_the_decoder_read_only_in_part_is_recorded_as_bad(tmp_path):
    pytest.importorskip("cv2")
    from faceprobe.featurize.pipeline import FeaturizeConfig, featurize

    from .conftest import TINY, video_frames, write_video

    (tmp_path / "clips" / "calm").mkdir(parents=True)
    whole = write_video(tmp_path / "whole.avi", video_frames(12, 3), fourcc="MJPG")
    data = whole.read_bytes()
    (tmp_path / "clips" / "calm" / "cut.avi").write_bytes(data[: int(len(data) * 0.95)])  # the last frame is cut short
    s = featurize(FeaturizeConfig(source=str(tmp_path / "clips"), backbones=[TINY], weights=["none"], cache=str(tmp_path / "c.h5"),
                                  workers=0, progress=False, precision="fp32", compile="none", labelled=False))
    reasons = {p.rsplit("#", 1)[1]: why for p, why in s.bad}
    assert reasons.get("frame=11", "").startswith("frame 11: the decoder reported damage"), s.bad
    assert s.computed == 11
