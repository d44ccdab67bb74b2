"""The adversarial audit (issue 13): every bad input gets one line naming the option or file, the
value and the fix, a non-zero exit and no traceback, before any work; nothing is ignored."""

from __future__ import annotations

import json

import os

import pytest

from .conftest import reseal

CLASSIFY_CASES = [
    (["--param", "C=abc"], "--param C=abc: svm takes a number > 0"),
    (["--param", "C=-1"], "--param C=-1: svm takes a number > 0"),
    (["--param", "C=nan"], "--param C=nan: svm takes a number > 0"),
    (["--param", "kernel=banana"], "--param kernel=banana: svm takes one of linear, poly, rbf, sigmoid"),
    (["--head", "knn", "--param", "k=0"], "--param k=0: knn takes an integer >= 1"),
    (["--head", "knn", "--param", "k=100"], "--param k=100: knn: more than the 40 training rows of the smallest fold; use k <= 40"),
    (["--head", "knn", "--param", "k=2.5"], "--param k=2.5: knn takes an integer >= 1"),
    (["--head", "mlp", "--param", "hidden=10x"], "--param hidden=10x: mlp takes layer sizes such as 256 or 256-128"),
    (["--param", "gamma=-5"], "--param gamma=-5: svm takes a number > 0 or scale, auto"),
    (["--head", "dnn", "--param", "epochs=0"], "--param epochs=0: dnn takes an integer >= 1"),
    (["--head", "knn", "--param", "metric=banana"], "--param metric=banana: knn takes one of chebyshev, cosine, euclidean, manhattan"),
    (["-j", "0"], "--jobs 0: must be >= 1 (or -1)"),
    (["--seed", "-1"], "--seed -1: must be >= 0"),
    (["--cv", "0"], "--cv 0: must be >= 2"),
    (["--holdout", "0.2", "--cv", "5"], "--cv 5: cannot be combined with --holdout 0.2: choose one protocol"),
    (["--holdout", "0"], "--holdout 0.0: must be > 0 and < 1"),
    (["-b", "toy", "-b", "toy"], "--backbone toy,toy: the same feature key is given twice"),
    (["--report", "r.pdf"], "--report r.pdf: a report is .html (or .htm) or .md; choose one of those suffixes"),
    (["--pca", "100"], "--pca 100: must be between 1 and 8, the feature size"),
]


@pytest.mark.parametrize("args, message", CLASSIFY_CASES, ids=[" ".join(a) for a, _ in CLASSIFY_CASES])
def test_classify_bad_option_is_one_line(tiny_cache, invoke, args, message):
    base = ["classify", "-c", tiny_cache, "-q"] + ([] if "--head" in args else ["--head", "svm"])
    base += [] if "--cv" in args or "--holdout" in args else ["--cv", 3]
    r = invoke(*base, *args)
    assert r.exit_code != 0, r.output
    assert message in r.output, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) <= 3


@pytest.mark.parametrize("option", ["--json", "--report"])
def test_outputs_into_a_missing_folder_are_refused_before_computing(tiny_cache, invoke, tmp_path, option):
    target = tmp_path / "no" / ("r.json" if option == "--json" else "r.html")
    r = invoke("classify", "-c", tiny_cache, "--head", "dnn", "--cv", 3, option, target)
    assert r.exit_code == 1 and f"{option} {target}: the folder {target.parent} does not exist; create it first" in r.output
    assert "balanced accuracy" not in r.output  # refused before the evaluation, not after


def test_pca_larger_than_the_smallest_training_fold_is_refused(synthetic_cache, tmp_path, invoke):
    cache = synthetic_cache(tmp_path / "wide.h5", n_subjects=15, d=64)  # 60 rows, 40 per training fold
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "--pca", 50)
    assert r.exit_code == 1 and "--pca 50: more components than the 40 training rows of the smallest fold; use at most 40" in r.output


def test_head_all_with_a_name_is_every_head_once(tiny_cache, invoke):
    r = invoke("classify", "-c", tiny_cache, "--head", "all,svm", "--cv", 3, "-q", "--json", "-")
    assert r.exit_code == 0, r.output
    assert list(json.loads(r.output)["heads"]) == ["dnn", "knn", "logreg", "mlp", "svm"]


def test_mlp_on_tiny_undersampled_folds_runs_without_early_stopping_and_says_so(synthetic_cache, tmp_path, invoke):
    cache = synthetic_cache(tmp_path / "small.h5", n_subjects=4, per_subject=3)  # 12 images, 3 classes
    r = invoke("classify", "-c", cache, "--head", "all", "--cv", 2, "--balance", "undersample", "-q")
    assert r.exit_code == 0, r.output
    assert "note: mlp: early stopping off where its 10% validation split would be too small" in r.output
    assert "mlp: per class" in r.output and "dnn: per class" in r.output


def test_a_failing_head_is_reported_while_the_others_print(tiny_cache, invoke):
    from faceprobe.classify.heads.registry import HEADS, register_head

    def broken(p, seed):
        from sklearn.svm import SVC

        return SVC(kernel="precomputed")  # fails on feature rows

    register_head("broken_test", broken)
    try:
        r = invoke("classify", "-c", tiny_cache, "--head", "broken_test,logreg", "--cv", 3, "-q")
    finally:
        HEADS.unregister("broken_test")
    assert r.exit_code == 0, r.output
    assert "broken_test: no results: failed in 3 of 3 folds (first: repeat 0, fold 0: ValueError" in r.output
    assert "logreg: per class" in r.output


def test_the_table_shows_the_hyperparameters_inner_cv_chose(tiny_cache, invoke):
    r = invoke("classify", "-c", tiny_cache, "--head", "svm", "--cv", 3, "--param", "C=0.01,10", "-q")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("svm: hyperparameters chosen by inner CV (folds): "))
    counts = [int(part.rsplit("(", 1)[1].rstrip(")")) for part in line.split(": ", 1)[1].split("; ")]
    assert sum(counts) == 3


def test_every_command_answers_version(invoke):
    for args in (["--version"], ["classify", "--version"], ["featurize", "--version"], ["cache", "info", "--version"]):
        r = invoke(*args)
        assert r.exit_code == 0 and "faceprobe, version" in r.output


def test_strict_stops_on_a_missing_file(image_folder, tmp_path, invoke):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nHappy/s0_00.jpg,happy\nHappy/missing.jpg,happy\n")
    r = invoke("featurize", manifest, "--root", image_folder, "-b", "mobilenet_v3_small", "-w", "none", "--strict", "-q",
               "--cache", tmp_path / "c.h5")
    assert r.exit_code == 1 and "missing.jpg: cannot read: No such file or directory (--strict stops at the first bad image)" in r.output


def _cache_with(tmp_path, synthetic_cache, change):
    """The synthetic cache with its image table changed by ``change(columns)`` (rewritten with h5py)."""
    import h5py
    import numpy as np

    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=15)
    with h5py.File(cache, "r+") as f:
        cols = {c: f["images"][c].asstr()[()].astype(object) for c in ("path", "sha256", "label", "subject")}
        change(cols)
        for c, v in cols.items():
            f["images"][c][...] = np.asarray(v, dtype=object)
    reseal(cache)
    return cache


def test_images_without_a_subject_become_their_own_groups_with_a_note(tmp_path, synthetic_cache, invoke):
    def drop_one_subject(cols):
        cols["subject"][0] = ""

    cache = _cache_with(tmp_path, synthetic_cache, drop_one_subject)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q")
    assert r.exit_code == 0, r.output
    assert "splits grouped by subject (15 subjects); 1 images without a subject are each their own group" in r.output


def test_identical_bytes_with_different_labels_are_left_out_with_a_note(tmp_path, synthetic_cache, invoke):
    def duplicate_with_other_label(cols):
        cols["sha256"][1] = cols["sha256"][0]
        cols["label"][1] = "neutral" if cols["label"][0] != "neutral" else "happy"

    cache = _cache_with(tmp_path, synthetic_cache, duplicate_with_other_label)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q")
    assert r.exit_code == 0, r.output
    assert "note: left out 1 images whose identical bytes are listed under 2 paths with different labels" in r.output
    assert "59 images" not in r.output and "58 images" in r.output


def test_a_label_with_a_comma_can_be_selected_with_an_escaped_comma(tmp_path, synthetic_cache, invoke):
    def comma_label(cols):
        cols["label"] = ["mild, brief" if lab == "anger" else lab for lab in cols["label"]]

    cache = _cache_with(tmp_path, synthetic_cache, comma_label)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q", "--classes", "pain=mild\\, brief", "--classes", "rest=*")
    assert r.exit_code == 0, r.output
    assert "pain" in r.output and "rest" in r.output
    bad = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "--classes", "pain=mild")
    assert bad.exit_code == 1 and "write a comma inside a label as \\," in bad.output


def test_featurize_negative_seed_and_demo_report_suffix_are_refused(image_folder, tmp_path, invoke):
    r = invoke("featurize", image_folder, "-b", "mobilenet_v3_small", "-w", "none", "--seed", -1, "--cache", tmp_path / "c.h5")
    assert r.exit_code == 1 and "--seed -1: must be >= 0" in r.output and not (tmp_path / "c.h5").exists()
    d = invoke("demo", "--report", tmp_path / "demo.pdf")
    assert d.exit_code == 1 and "--report" in d.output and "a report is .html (or .htm) or .md" in d.output


def test_rows_of_paths_read_without_root_do_not_stay_behind(image_folder, tmp_path, invoke):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nHappy/s0_00.jpg,happy\nneutral/s0_10.jpg,neutral\n")
    cache = tmp_path / "c.h5"
    args = ["-b", "mobilenet_v3_small", "-w", "none", "--precision", "fp32", "--workers", 0, "-q", "--cache", cache]
    first = invoke("featurize", manifest, *args)  # relative to the manifest's folder: wrong, refused before any row is kept
    assert first.exit_code == 1 and f"--root {tmp_path}: none of the 2 images m.csv lists is there" in first.output
    assert not cache.exists()
    second = invoke("featurize", manifest, "--root", image_folder, *args)
    assert second.exit_code == 0, second.output
    info = json.loads(invoke("cache", "info", "--cache", cache, "--json").output)
    assert info["status"] == {"ok": 2} and info["bad"] == []


def test_featurize_says_when_identical_bytes_carry_different_labels(image_folder, tmp_path, invoke):
    import shutil

    shutil.copy(image_folder / "Happy" / "s0_00.jpg", image_folder / "pain" / "copy_of_happy.jpg")
    r = invoke("featurize", image_folder, "-b", "mobilenet_v3_small", "-w", "none", "--precision", "fp32", "--workers", 0, "-q",
               "--cache", tmp_path / "c.h5")
    assert r.exit_code == 0, r.output
    assert "note: 1 images have identical bytes listed under different labels; classify leaves them out" in r.output


def test_rows_without_a_usable_vector_are_counted_in_notes(tmp_path, synthetic_cache, invoke):
    import h5py
    import numpy as np

    def new_content(cols):
        cols["sha256"][2] = "f" * 64  # an image the key never featurized

    cache = _cache_with(tmp_path, synthetic_cache, new_content)
    with h5py.File(cache, "r+") as f:
        (g,) = f["features"].values()
        g["vectors"][5] = np.full(g["vectors"].shape[1], np.nan, np.float32)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3, "-q")
    assert r.exit_code == 0, r.output
    assert "note: left out 1 labelled images that have no vector under toy.none.orig.0000000000" in r.output
    assert "note: left out 1 images without a usable vector" in r.output


def test_several_keys_ask_for_backbone_not_key(tmp_path, synthetic_cache, invoke):
    import h5py

    cache = synthetic_cache(tmp_path / "c.h5")
    with h5py.File(cache, "r+") as f:
        f.copy(f["features"]["toy.none.orig.0000000000"], f["features"], "other.none.orig.1111111111")
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 3)
    assert r.exit_code == 1 and f"--backbone: {cache} holds several feature keys; choose one: other.none.orig.1111111111, " in r.output
    assert "--key" not in r.output


def test_no_progress_bar_when_stderr_is_not_a_terminal(tiny_cache, tmp_path):
    import subprocess
    import sys
    from pathlib import Path as P

    exe = P(sys.executable).parent / "classify"
    out = subprocess.run([str(exe), "-c", str(tiny_cache), "--head", "logreg", "--cv", "3"], capture_output=True, text=True)
    assert out.returncode == 0 and "\r" not in out.stderr and "fold/s" not in out.stderr


def test_demo_report_into_a_missing_folder_is_refused_first(tmp_path, invoke):
    r = invoke("demo", "--report", tmp_path / "nowhere" / "demo.html")
    assert r.exit_code == 1 and f"--report {tmp_path / 'nowhere' / 'demo.html'}: the folder {tmp_path / 'nowhere'} does not exist" in r.output


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, a folder that takes no new files")
@pytest.mark.parametrize("args, said", [
    (("classify", "--head", "logreg", "--table", "/proc/t.csv"), "--table /proc/t.csv: cannot create a file in /proc"),
    (("classify", "--head", "logreg", "--json", "/proc/r.json"), "--json /proc/r.json: cannot create a file in /proc"),
    (("classify", "--head", "logreg", "--report", "/proc/r.html"), "--report /proc/r.html: cannot create a file in /proc"),
    (("classify", "--head", "logreg", "--json", ""), "--json '': is empty; give a file name"),
    (("fit", "--head", "logreg", "-o", "/proc/m.skops"), "--output /proc/m.skops: cannot create a file in /proc"),
    (("cache", "export", "-o", "/proc/x.csv"), "--output /proc/x.csv: cannot create a file in /proc"),
    (("cache", "merge", "CACHE", "-o", "/proc/m.h5"), "--output /proc/m.h5: cannot create a file in /proc"),
])
def test_an_output_that_cannot_be_written_is_one_line_before_any_work(tiny_cache, invoke, args, said):
    args = [str(tiny_cache) if a == "CACHE" else a for a in args]
    r = invoke(*args) if "merge" in args else invoke(*args[:2 if args[0] == "cache" else 1], "-c", tiny_cache, *args[2 if args[0] == "cache" else 1:])
    assert r.exit_code != 0 and r.output.count("\n") == 1 and said in r.output, r.output


def test_a_home_that_is_a_file_or_cannot_be_made_is_one_line_before_work(tiny_cache, image_folder, tmp_path, monkeypatch, invoke,
                                                                       featurize_cli):
    # a file as $FACEPROBE_HOME had run on: no export kept, no choice remembered, nothing said
    a_file = tmp_path / "home.txt"
    a_file.write_text("x")
    for home, why in ((a_file, "is a file, not a folder"), (a_file / "sub", "cannot be made")):
        monkeypatch.setenv("FACEPROBE_HOME", str(home))
        res = featurize_cli(image_folder, tmp_path / "f.h5")
        assert res.exit_code == 1 and f"faceprobe's home {home} {why}" in res.output and "$FACEPROBE_HOME" in res.output
        assert not (tmp_path / "f.h5").exists()
        res = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "--no-record")
        assert res.exit_code == 1 and f"faceprobe's home {home} {why}" in res.output


def test_first_line_and_message_line_say_an_exception_without_a_message_by_its_type():
    from faceprobe.errors import first_line, message_line

    assert first_line(RuntimeError()) == "RuntimeError"
    assert message_line(RuntimeError()) == "RuntimeError"
    assert first_line(ValueError("bad shape\n  at layer 3")) == "ValueError: bad shape"
    assert message_line(OSError("checksum\ndetail")) == "checksum"
    assert first_line(KeyError("")) == "KeyError: ''"  # KeyError's str quotes its key: a line, kept as it is


def test_a_plug_in_failing_without_a_message_is_one_line_naming_it(tmp_path, monkeypatch):
    from faceprobe.errors import FaceprobeError
    from faceprobe.plugins import load_plugins

    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError()\n")
    (tmp_path / "wordy_plugin.py").write_text("raise ImportError('no module x\\n  (detail on a second line)')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(FaceprobeError) as e:
        load_plugins("broken_plugin")
    assert str(e.value) == "FACEPROBE_PLUGINS: cannot import plug-in 'broken_plugin' (RuntimeError)"
    with pytest.raises(FaceprobeError) as e:
        load_plugins("wordy_plugin")
    assert str(e.value) == "FACEPROBE_PLUGINS: cannot import plug-in 'wordy_plugin' (ImportError: no module x)"


def test_weights_refused_with_an_empty_message_give_one_line_not_a_traceback(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    import torch

    from faceprobe.errors import OptionError
    from faceprobe.featurize.backbones import lite
    from faceprobe.featurize.backbones.load import load_outputs

    path = tmp_path / "weights.pth"
    torch.save({}, path)

    def refuse(*_a, **_k):
        raise RuntimeError()  # as some loaders do: no message at all

    monkeypatch.setattr(lite, "load_state_file", refuse)
    with pytest.raises(OptionError) as e:
        load_outputs(["efficientnet_lite0"], str(path), seed=0)
    assert f"does not fit efficientnet_lite0 (RuntimeError)" in str(e.value) and "\n" not in str(e.value)
