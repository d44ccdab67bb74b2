"""The corpus registry: miniature copies of each corpus's published layout read into manifests,
their protocols, label-file hashes, and one-line refusals."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from faceprobe.corpora import CORPORA, corpus_manifest
from faceprobe.errors import FaceprobeError, OptionError

from .conftest import make_face_like


def _img(path: Path, seed: int = 0, size: int = 48, grey: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = make_face_like(np.random.default_rng(seed), size, colour=not grey)
    img.save(path)


def _pixels(seed: int) -> str:
    return " ".join(str(v) for v in np.random.default_rng(seed).integers(0, 256, 48 * 48))


def _fer_csv(path: Path, usages=("Training",) * 4 + ("PublicTest",) * 2 + ("PrivateTest",) * 2, icml: bool = False) -> None:
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["emotion", " Usage", " pixels"] if icml else ["emotion", "pixels", "Usage"])
        for i, usage in enumerate(usages):
            w.writerow([i % 7, usage, _pixels(i)] if icml else [i % 7, _pixels(i), usage])


def _column(m, name):
    return m.columns[name]


def test_every_corpus_has_a_layout_a_protocol_terms_and_a_classify_mapping():
    for name, c in CORPORA.items():
        assert c.layouts and c.licence and c.access and c.protocol.kind in ("fixed", "folds", "loso"), name
        opts = c.protocol.classify_options()
        assert opts, name
        if c.protocol.kind == "fixed":
            assert opts["split_col"] == "split" and opts["train"] and opts["test"]


def test_fer2013_csv_gives_rows_by_usage_and_checks_the_published_md5(tmp_path):
    _fer_csv(tmp_path / "fer2013.csv")
    m = corpus_manifest("fer2013", tmp_path)
    assert m.layout == "csv" and len(m.columns["path"]) == 8
    assert m.columns["path"][0] == "fer2013.csv#2" and m.columns["label"][:3] == ["angry", "disgust", "fear"]
    assert sorted(set(m.columns["split"])) == ["PrivateTest", "PublicTest", "Training"]
    (f,) = m.label_files
    assert f["published_md5"] == "f8428a1edbd21e88f42c73edd2a14f95" and f["matches"] is False
    assert f["sha256"] == hashlib.sha256((tmp_path / "fer2013.csv").read_bytes()).hexdigest()
    assert any("differs from the published one" in n for n in m.notes)


def test_fer2013_icml_copy_with_spaced_columns_is_recognised(tmp_path):
    _fer_csv(tmp_path / "icml_face_data.csv", icml=True)
    m = corpus_manifest("fer2013", tmp_path)
    assert m.layout == "icml" and m.columns["split"].count("Training") == 4


def test_fer2013_image_folder_copy_takes_the_split_from_file_names(tmp_path):
    for i, (part, cls, name) in enumerate([("train", "happy", "Training_1.jpg"), ("train", "sad", "Training_2.jpg"),
                                           ("test", "happy", "PublicTest_3.jpg"), ("test", "angry", "PrivateTest_4.jpg"),
                                           ("test", "angry", "copy of PrivateTest_4.jpg")]):
        _img(tmp_path / part / cls / name, i, grey=True)
    m = corpus_manifest("fer2013", tmp_path)
    assert m.layout == "folders"
    assert m.columns["split"] == ["Training", "Training", "PrivateTest", "PublicTest"]
    assert m.columns["label"] == ["happy", "sad", "angry", "happy"]
    assert any("left out 1 files" in n for n in m.notes)


def test_ferplus_takes_the_majority_and_says_what_it_left_out(tmp_path):
    _fer_csv(tmp_path / "fer2013.csv", usages=("Training",) * 5)
    names = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
    votes = [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 6, 4, 0, 0, 0, 0, 0, 0, 0], [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 0, 0, 0, 0, 10, 0], [0, 0, 0, 0, 0, 0, 0, 2, 0, 8]]
    with open(tmp_path / "fer2013new.csv", "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["Usage", "Image name", *names])
        for i, v in enumerate(votes):
            w.writerow(["Training", f"fer{i:07d}.png", *v])
    m = corpus_manifest("ferplus", tmp_path)
    assert m.columns["label"] == ["neutral", "happy"] and m.columns["path"] == ["fer2013.csv#2", "fer2013.csv#3"]
    assert m.columns["votes_surprise"] == ["0", "4"]
    (note,) = [n for n in m.notes if n.startswith("left out")]
    assert "not a face 1" in note and "tied votes 1" in note and "unknown 1" in note


def test_ferplus_manifest_columns_keep_one_order_whatever_the_hash_seed(tmp_path):
    import os
    import subprocess
    import sys

    test_ferplus_takes_the_majority_and_says_what_it_left_out(tmp_path)  # the miniature FER+ folder
    headers = set()
    for seed in ("1", "2", "3"):
        out = tmp_path / f"m{seed}.csv"
        subprocess.run([sys.executable, "-m", "faceprobe.cli", "corpus", "manifest", "ferplus", str(tmp_path), "-o", str(out)],
                       check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed})
        headers.add(out.read_text().splitlines()[0])
    assert len(headers) == 1 and "votes_neutral" in headers.pop()


def test_rafdb_decodes_codes_and_prefers_aligned_images(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 7\n")
    (tmp_path / "Image" / "aligned").mkdir(parents=True)
    m = corpus_manifest("rafdb", tmp_path)
    assert m.columns["label"] == ["sad", "surprise", "neutral"] and m.columns["split"] == ["train", "train", "test"]
    assert m.columns["path"][0] == "Image/aligned/train_00001_aligned.jpg"
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(FaceprobeError, match=r"line 1 reads 'train_00001.jpg 9'; expected"):
        corpus_manifest("rafdb", tmp_path)


def _ck_tree(root: Path) -> None:
    for subject, seq, code in (("S005", "001", 3), ("S010", "002", 5), ("S011", "001", 7)):
        for frame in range(1, 6):
            _img(root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{frame:08d}.png", frame, grey=True)
        emo = root / "Emotion" / subject / seq / f"{subject}_{seq}_00000005_emotion.txt"
        emo.parent.mkdir(parents=True, exist_ok=True)
        emo.write_text(f"   {code:.7e}\n")
    (root / "cohn-kanade-images" / "S011" / "002").mkdir()  # an unlabelled sequence: not taken


def test_ckplus_takes_the_last_three_frames_and_the_first_as_neutral_when_asked(tmp_path):
    _ck_tree(tmp_path)
    m = corpus_manifest("ckplus", tmp_path)
    assert m.layout == "official" and len(m.columns["path"]) == 9
    assert m.columns["label"][:3] == ["disgust"] * 3 and m.columns["frame"][:3] == ["3", "4", "5"]
    assert set(m.columns["subject"]) == {"S005", "S010", "S011"} and m.columns["sequence"][0] == "S005_001"
    assert {m.columns["fold"][i] for i in range(3)} == {"1"}  # one person, one fold
    m2 = corpus_manifest("ckplus", tmp_path, neutral=True, peak_frames=1)
    assert m2.columns["label"] == ["disgust", "neutral", "happy", "neutral", "surprise", "neutral"]
    assert m2.columns["frame"][1] == "1"


def test_macos_dot_underscore_copies_are_left_out_and_counted_not_read(tmp_path):
    _ck_tree(tmp_path)
    junk = b"\x00\x05\x16\x07Mac OS X        \x00\x02"  # an AppleDouble header, as macOS writes beside each file
    (tmp_path / "Emotion" / "S005" / "001" / "._S005_001_00000005_emotion.txt").write_bytes(junk)
    (tmp_path / "cohn-kanade-images" / "S005" / "001" / "._S005_001_00000009.png").write_bytes(junk)
    m = corpus_manifest("ckplus", tmp_path)
    assert len(m.columns["path"]) == 9 and not any("._" in p for p in m.columns["path"])
    (note,) = [n for n in m.notes if n.startswith("left out 2 hidden files")]
    assert "._ copies macOS writes" in note


def test_a_byte_order_mark_does_not_change_the_first_column_name(tmp_path):
    _fer_csv(tmp_path / "fer2013.csv")
    text = (tmp_path / "fer2013.csv").read_text()
    (tmp_path / "fer2013.csv").write_text("\ufeff" + text, encoding="utf-8")
    m = corpus_manifest("fer2013", tmp_path)
    assert len(m.columns["path"]) == 8 and m.columns["label"][0]


def test_ckplus_48_pixel_class_folder_copy(tmp_path):
    for i, (cls, name) in enumerate([("anger", "S010_004_00000017.png"), ("happy", "S011_006_00000013.png"),
                                     ("contempt", "S012_001_00000010.png"), ("sadness", "S010_002_00000014.png"),
                                     ("surprise", "S014_001_00000029.png")]):
        _img(tmp_path / cls / name, i, grey=True)
    m = corpus_manifest("ckplus", tmp_path)
    assert m.layout == "ck48" and m.columns["label"] == ["angry", "contempt", "happy", "sad", "surprise"]
    assert m.columns["subject"] == ["S010", "S012", "S011", "S010", "S014"]
    assert m.columns["fold"][0] == m.columns["fold"][3]


def test_a_bad_ck_emotion_file_is_one_line(tmp_path):
    _ck_tree(tmp_path)
    next((tmp_path / "Emotion").rglob("*_emotion.txt")).write_text("happy\n")
    with pytest.raises(FaceprobeError, match=r"_emotion.txt: reads 'happy'; a CK\+ emotion code is a whole number 0-7"):
        corpus_manifest("ckplus", tmp_path)


def test_jaffe_reads_poser_and_expression_from_names(tmp_path):
    for i, name in enumerate(["KA.AN1.39.tiff", "KA.HA2.30.tiff", "YM.SU1.58.tiff", "README.tiff"]):
        _img(tmp_path / name, i, grey=True)
    m = corpus_manifest("jaffe", tmp_path)
    assert m.columns["label"] == ["angry", "happy", "surprise"] and m.columns["subject"] == ["KA", "KA", "YM"]
    assert CORPORA.get("jaffe").protocol.classify_options() == {"cv": "loso"}
    assert any("README.tiff" in n for n in m.notes)


def test_kdef_is_frontal_by_default_with_angle_as_a_column(tmp_path):
    for i, name in enumerate(["AF01ANS.JPG", "AF01ANHL.JPG", "BM02HAS.JPG", "AF01NEFR.JPG"]):
        _img(tmp_path / name[:4] / name, i)
    m = corpus_manifest("kdef", tmp_path)
    assert m.columns["label"] == ["angry", "happy"] and m.columns["subject"] == ["F01", "M02"]
    assert m.columns["angle"] == ["straight", "straight"] and m.columns["sequence"] == ["A", "B"]
    assert len(corpus_manifest("kdef", tmp_path, angles="all").columns["path"]) == 4
    with pytest.raises(OptionError, match=r"angles=up'?: the kdef corpus takes S, HL, HR, FL or FR, comma-separated, or all"):
        corpus_manifest("kdef", tmp_path, angles="up")


def test_affectnet_csv_and_npy_releases_give_labels_valence_and_arousal(tmp_path):
    csv_root = tmp_path / "csv"
    csv_root.mkdir()
    for name in ("training.csv", "validation.csv"):
        with open(csv_root / name, "w", newline="") as handle:
            w = csv.writer(handle)
            w.writerow(["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
                        "expression", "valence", "arousal"])
            for i, code in enumerate((1, 7, 9)):
                w.writerow([f"{i}/{name[0]}{i}.jpg", 0, 0, 10, 10, "", code, 0.5 - i / 10, 0.1 * i])
    m8 = corpus_manifest("affectnet", csv_root)
    assert m8.columns["label"] == ["happy", "contempt"] * 2 and m8.columns["split"] == ["train", "train", "validation", "validation"]
    assert m8.columns["valence"][0] == "0.5"
    m7 = corpus_manifest("affectnet", csv_root, classes=7)
    assert m7.columns["label"] == ["happy", "happy"] and "or contempt" in m7.notes[-1]
    npy = tmp_path / "npy"
    for part in ("train_set", "val_set"):
        for i, code in enumerate((0, 10)):
            _img(npy / part / "images" / f"{i}.jpg", i)
            (npy / part / "annotations").mkdir(parents=True, exist_ok=True)
            for kind, value in (("exp", str(code)), ("val", "-0.25"), ("aro", "0.75")):
                np.save(npy / part / "annotations" / f"{i}_{kind}.npy", np.array(value))
    m = corpus_manifest("affectnet", npy)
    assert m.layout == "npy" and m.columns["label"] == ["neutral", "neutral"] and m.columns["arousal"] == ["0.75", "0.75"]


def test_unbc_frames_carry_pspi_as_a_target_and_subjects_and_sequences(tmp_path):
    for i, (subject, seq, frame, pspi) in enumerate([("042-ll042", "ll042t1aaaff", 1, "0"), ("042-ll042", "ll042t1aaaff", 2, "3.0"),
                                                     ("043-jh043", "jh043t2aeaff", 1, "1")]):
        _img(tmp_path / "Images" / subject / seq / f"{seq}{frame:03d}.png", i)
        lab = tmp_path / "Frame_Labels" / "PSPI" / subject / seq / f"{seq}{frame:03d}_facs.txt"
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(f"   {pspi}e+00\n")
    m = corpus_manifest("unbc", tmp_path)
    assert m.columns["pspi"] == ["0", "3", "1"] and m.columns["label"] == ["no pain", "pain", "pain"]
    assert m.columns["sequence"][0] == "ll042t1aaaff" and m.columns["frame"] == ["1", "2", "1"]


@pytest.mark.parametrize("pspi", ["17", "-1", "2.5", "high"])
def test_unbc_pspi_outside_whole_0_to_16_is_one_line_naming_the_file(tmp_path, pspi):
    test_unbc_frames_carry_pspi_as_a_target_and_subjects_and_sequences(tmp_path)
    next((tmp_path / "Frame_Labels").rglob("*_facs.txt")).write_text(pspi + "\n")
    with pytest.raises(FaceprobeError, match=rf"_facs.txt: reads '{pspi}'; PSPI is a whole number 0-16"):
        corpus_manifest("unbc", tmp_path)


def test_one_label_rule_for_codes_votes_and_ranges_in_every_corpus(tmp_path):
    _ck_tree(tmp_path / "ck")
    next((tmp_path / "ck" / "Emotion").rglob("*_emotion.txt")).write_text("   3.5000000e+00\n")
    with pytest.raises(FaceprobeError, match=r"reads '3.5000000e\+00'; a CK\+ emotion code is a whole number 0-7"):
        corpus_manifest("ckplus", tmp_path / "ck")
    (tmp_path / "an").mkdir()
    test_affectnet_csv_and_npy_releases_give_labels_valence_and_arousal(tmp_path / "an")
    for column, value, said in (("valence", "1.7", "valence is a number -1 to 1"),
                                ("expression", "11", "an AffectNet expression code .* is a whole number 0-10")):
        path = tmp_path / "an" / "csv" / "training.csv"
        rows = list(csv.DictReader(open(path)))
        rows[0][column] = value
        with open(path, "w", newline="") as handle:
            w = csv.DictWriter(handle, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        with pytest.raises(FaceprobeError, match=rf"training.csv: line 2: reads '{value}'; {said}"):
            corpus_manifest("affectnet", tmp_path / "an" / "csv")
        rows[0][column] = "0.5" if column == "valence" else "1"
        with open(path, "w", newline="") as handle:
            w = csv.DictWriter(handle, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    fp = tmp_path / "fp"
    fp.mkdir()
    test_ferplus_takes_the_majority_and_says_what_it_left_out(fp)
    text = (fp / "fer2013new.csv").read_text().splitlines()
    text[1] = text[1].replace(",10,", ",7.5,", 1)
    (fp / "fer2013new.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(FaceprobeError, match=r"fer2013new.csv: line 2: reads '7.5'; a neutral vote count is a whole number"):
        corpus_manifest("ferplus", fp)


def test_an_image_listed_twice_is_read_once_and_with_two_labels_left_out_with_a_note(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 1\ntrain_00002.jpg 4\ntrain_00001.jpg 4\ntrain_00003.jpg 2\ntrain_00003.jpg 2\n")
    for name in ("train_00001", "train_00002", "train_00003"):
        _img(tmp_path / "Image" / "aligned" / f"{name}_aligned.jpg", 1)
    m = corpus_manifest("rafdb", tmp_path)
    assert [p.split("/")[-1] for p in m.columns["path"]] == ["train_00002_aligned.jpg", "train_00003_aligned.jpg"]
    (note,) = [n for n in m.notes if "listed more than once" in n]
    assert "2 images are listed more than once" in note and "1 with different codes are left out (e.g. train_00001.jpg: 1, 4)" in note


def test_disfa_gives_twelve_au_intensities_and_three_subject_folds(tmp_path):
    from faceprobe.corpora.wild import DISFA_AUS

    for s in ("SN001", "SN002", "SN003", "SN004"):
        for au in DISFA_AUS:
            p = tmp_path / "ActionUnit_Labels" / s / f"{s}_au{au}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("1,0\n2,3\n")
        for f in (1, 2):
            _img(tmp_path / "Images" / s / f"{f}.png", f)
    m = corpus_manifest("disfa", tmp_path)
    assert len(m.columns["path"]) == 8 and m.columns["au12"][:2] == ["0", "3"]
    assert sorted(set(m.columns["fold"])) == ["1", "2", "3"] and m.columns["fold"][0] == m.columns["fold"][1]


def test_a_folder_of_another_layout_is_one_line_naming_what_was_expected(tmp_path):
    with pytest.raises(FaceprobeError, match=r"not a fer2013 layout; expected fer2013.csv \(emotion,pixels,Usage\); or "):
        corpus_manifest("fer2013", tmp_path)
    with pytest.raises(OptionError, match=r"corpus='nope'"):
        corpus_manifest("nope", tmp_path)
    with pytest.raises(OptionError, match=r"corpus_options='neutrl'.*not a parameter of the ckplus corpus; did you mean neutral\? "
                                          r"it takes: peak_frames, neutral"):
        corpus_manifest("ckplus", tmp_path, neutrl=True)


def test_corpus_manifest_command_writes_the_csv_and_says_the_hash(tmp_path, invoke):
    _fer_csv(tmp_path / "fer2013.csv")
    out = tmp_path / "m.csv"
    r = invoke("corpus", "manifest", "fer2013", tmp_path, "-o", out)
    assert r.exit_code == 0, r.output
    assert "wrote 8 rows of fer2013 (csv layout)" in r.output and "PrivateTest 2, PublicTest 2, Training 4" in r.output
    assert "DIFFERS from the published md5" in r.output
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0])[:7] == ["path", "label", "subject", "sequence", "frame", "split", "fold"] and len(rows) == 8
    bad = invoke("corpus", "manifest", "kdef", tmp_path, "-o", out)
    assert bad.exit_code != 0 and bad.output.count("\n") == 1 and "not a kdef layout" in bad.output
    assert invoke("corpus", "manifest", "ckplus", tmp_path, "-o", out, "--option", "neutral").exit_code != 0


def test_corpus_list_and_show_print_every_entry(invoke):
    r = invoke("corpus", "list")
    assert r.exit_code == 0 and all(name in r.output for name in CORPORA.names())
    s = invoke("corpus", "show", "fer2013")
    assert "f8428a1edbd21e88f42c73edd2a14f95" in s.output and "classify with: --split-col split --train Training" in s.output
    assert "reference: 71.2 accuracy" in s.output


@pytest.mark.real
def test_real_faces_as_a_fer_folder_copy_give_the_manifest_and_the_official_split(real_dir, tmp_path, invoke):
    """The dev faces laid out as FER-2013's image-folder copy (a fifth as PublicTest, a fifth as
    PrivateTest), featurized from the manifest and classified with the corpus's protocol."""
    rows = list(csv.DictReader(open(real_dir / "manifest.csv")))[:120]
    names = {"happiness": "happy", "neutral": "neutral", "surprise": "surprise", "anger": "angry", "sadness": "sad",
             "disgust": "disgust", "fear": "fear"}
    rows = [r for r in rows if r["label"] in names]
    usage = {0: "PublicTest", 1: "PrivateTest"}
    expect = {"Training": 0, "PublicTest": 0, "PrivateTest": 0}
    for i, r in enumerate(rows):
        u = usage.get(i % 5, "Training")
        expect[u] += 1
        dst = tmp_path / "fer" / ("train" if u == "Training" else "test") / names[r["label"]] / f"{u}_{i}.jpg"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real_dir / "images" / r["path"], dst)
    out = tmp_path / "manifest.csv"
    assert invoke("corpus", "manifest", "fer2013", tmp_path / "fer", "-o", out).exit_code == 0
    got = {u: 0 for u in expect}
    for r in csv.DictReader(open(out)):
        got[r["split"]] += 1
    assert got == expect
    cache = tmp_path / "c.h5"
    r = invoke("featurize", tmp_path / "fer", "--corpus", "fer2013", "-b", "efficientnet_lite0", "-c", cache, "-q", "--workers", 0)
    assert r.exit_code == 0, r.output
    official = invoke("classify", "-c", cache, "--head", "logreg", "--json", tmp_path / "a.json", "-q")
    assert official.exit_code == 0, official.output
    assert "fer2013's official protocol" in official.output and "published on fer2013" in official.output
    by_hand = invoke("classify", "-c", cache, "--head", "logreg", "--protocol", "none", "--split-col", "split", "--train", "Training",
                     "--val", "PublicTest", "--test", "PrivateTest", "--json", tmp_path / "b.json", "-q")
    assert by_hand.exit_code == 0, by_hand.output
    import json

    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["cells"][0]["summary"] == b["cells"][0]["summary"] and a["protocol"]["corpus"] == "fer2013" and "protocol" not in b


def _jaffe(root: Path) -> None:
    for s in ("KA", "KM", "YM"):
        for i, e in enumerate(("AN", "HA", "SU")):
            for k in range(2):
                _img(root / f"{s}.{e}{k + 1}.{i * 10 + k}.tiff", hash((s, e, k)) % 1000, size=64, grey=True)


def test_featurize_with_a_corpus_records_it_and_classify_runs_its_protocol_with_references(tmp_path, featurize_cli, invoke):
    from faceprobe.cache.store import read_images, read_root_attrs

    _jaffe(tmp_path / "jaffe")
    cache = tmp_path / "c.h5"
    r = featurize_cli(tmp_path / "jaffe", cache, "--corpus", "jaffe")
    assert r.exit_code == 0, r.output
    rec = read_root_attrs(str(cache))["corpora"]["jaffe"]
    assert rec["layout"] == "tiff" and rec["corpus"] == "jaffe"
    assert sorted(set(read_images(str(cache))["subject"])) == ["KA", "KM", "YM"]
    out = invoke("classify", "-c", cache, "--head", "logreg", "-q", "--json", tmp_path / "r.json")
    assert out.exit_code == 0, out.output
    assert "leave-one-subject-out" in out.output and "jaffe's official protocol" in out.output
    assert "Lyons, Budynek and Akamatsu 1999" in out.output and "hand-crafted" in out.output
    free = invoke("classify", "-c", cache, "--head", "logreg", "-q", "--cv", "2")
    assert "official protocol" not in free.output and "published on" not in free.output
    refused = invoke("classify", "-c", cache, "--head", "logreg", "-q", "--cv", "2", "--protocol", "official")
    assert refused.exit_code != 0 and refused.output.count("\n") == 1 and "--cv 2: chooses its own protocol" in refused.output


def test_fit_applies_the_official_protocol_to_its_record_and_says_so_in_the_model(tmp_path, featurize_cli, invoke):
    from faceprobe.classify.model import load_model

    _jaffe(tmp_path / "jaffe")
    cache = tmp_path / "c.h5"
    assert featurize_cli(tmp_path / "jaffe", cache, "--corpus", "jaffe").exit_code == 0
    r = invoke("fit", "-c", cache, "--head", "logreg", "-o", tmp_path / "m.skops")
    assert r.exit_code == 0, r.output
    model = load_model(str(tmp_path / "m.skops"))
    assert model["protocol"]["corpus"] == "jaffe" and model["protocol"]["options"] == {"cv": "loso"}
    assert model["cv"]["splits"] == 3  # leave one of the three posers out
    free = invoke("fit", "-c", cache, "--head", "logreg", "--protocol", "none", "--cv", "2", "-o", tmp_path / "n.skops")
    assert free.exit_code == 0 and "protocol" not in load_model(str(tmp_path / "n.skops"))


def test_a_fixed_split_protocol_is_skipped_by_fit_under_auto_and_refused_under_official(monkeypatch):
    from faceprobe.classify.options import ClassifyOptions
    from faceprobe.classify.plan import make_plan
    from faceprobe.classify.protocols import official
    from faceprobe.errors import OptionError

    monkeypatch.setattr(official, "_recorded", lambda cache: {"fer2013": {"layout": "csv"}})
    assert make_plan(ClassifyOptions(), fitting=True).official is None
    plan = make_plan(ClassifyOptions())
    assert plan.official.corpus == "fer2013" and plan.options.split_col == "split" and plan.fixed is not None
    with pytest.raises(OptionError, match="fixed split .* fit trains on every row"):
        make_plan(ClassifyOptions(protocol="official"), fitting=True)


def test_protocol_official_on_a_cache_without_a_corpus_is_one_line(synthetic_cache, tmp_path, invoke):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=6)
    r = invoke("classify", "-c", cache, "--head", "logreg", "--protocol", "official")
    assert r.exit_code != 0 and r.output.count("\n") == 1
    assert "--protocol official: needs a cache featurized from one corpus" in r.output


def test_corpus_options_without_a_corpus_and_a_corpus_with_root_are_refused(tmp_path, featurize_cli):
    _jaffe(tmp_path / "jaffe")
    r = featurize_cli(tmp_path / "jaffe", tmp_path / "c.h5", "--corpus-option", "neutral=true")
    assert r.exit_code != 0 and "--corpus-option neutral=true: needs --corpus" in r.output
    r = featurize_cli(tmp_path / "jaffe", tmp_path / "c.h5", "--corpus", "jaffe", "--root", tmp_path)
    assert r.exit_code != 0 and "cannot be combined with" in r.output


def test_rereading_a_corpus_with_other_options_drops_the_rows_only_the_earlier_read_listed(tmp_path, featurize_cli):
    import json

    from faceprobe.cache.store import read_images

    _ck_tree(tmp_path / "ck")
    cache = tmp_path / "c.h5"
    assert featurize_cli(tmp_path / "ck", cache, "--corpus", "ckplus", "--corpus-option", "neutral=true").exit_code == 0
    assert list(read_images(str(cache))["label"]).count("neutral") == 3
    r = featurize_cli(tmp_path / "ck", cache, "--corpus", "ckplus", "--json")
    assert r.exit_code == 0, r.output
    labels = list(read_images(str(cache))["label"])
    assert len(labels) == 9 and "neutral" not in labels
    assert any("dropped the 3 rows only that read listed" in n for n in json.loads(r.output)["notes"])
    _jaffe(tmp_path / "jaffe")
    r = featurize_cli(tmp_path / "jaffe", cache, "--corpus", "jaffe", "--json")
    assert any("this cache also holds ckplus" in n for n in json.loads(r.output)["notes"])


def test_a_target_only_corpus_keeps_its_unlabelled_frames_and_groups_by_its_folds(tmp_path, featurize_cli, invoke):
    """DISFA's frames have AU intensities and no class: featurize keeps them, and classify's
    regression reads every one (rows without a label are not classes left out)."""
    from faceprobe.corpora.wild import DISFA_AUS

    rng = np.random.default_rng(0)
    for s in ("SN001", "SN002", "SN003", "SN004"):
        for au in DISFA_AUS:
            p = tmp_path / "d" / "ActionUnit_Labels" / s / f"{s}_au{au}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join(f"{f},{rng.integers(0, 6)}\n" for f in range(1, 5)))
        for f in range(1, 5):
            _img(tmp_path / "d" / "Images" / s / f"{f}.png", int(rng.integers(1000)), size=64)
    cache = tmp_path / "c.h5"
    assert featurize_cli(tmp_path / "d", cache, "--corpus", "disfa").exit_code == 0
    r = invoke("classify", "-c", cache, "--target", "au12", "--head", "ridge", "-q")
    assert r.exit_code == 0, r.output
    assert "16 images, regression of au12" in r.output and "leave one fold out, grouped by fold" in r.output


def test_a_registered_corpus_is_read_like_the_shipped_ones_and_a_taken_name_is_refused(tmp_path):
    import faceprobe
    from faceprobe.corpora import Layout, Protocol, Reference, Rows

    def read(folder, options):
        rows = Rows()
        for f in sorted(folder.glob("*.png")):
            who, label = f.stem.split("-")
            rows.add(path=f.name, label=label, subject=who)
        return rows

    lab = faceprobe.register_corpus(faceprobe.corpora.Corpus(
        name="lab-set", title="a lab's own set", classes=("pain", "calm"),
        layouts=(Layout("flat", "P1-pain.png files", lambda d: any(d.glob("*-*.png")), read),),
        protocol=Protocol("loso", "leave one person out"), licence="internal", access="ask the lab",
        references=(Reference(61.0, "accuracy", "LOSO", "internal report 2025", "ResNet-50", "frozen"),)))
    try:
        for name in ("P1-pain.png", "P2-calm.png"):
            _img(tmp_path / name)
        m = faceprobe.corpus_manifest("lab-set", tmp_path)
        assert m.columns["subject"] == ["P1", "P2"] and m.layout == "flat"
        with pytest.raises(ValueError, match="already registered under the name 'lab-set'"):
            faceprobe.register_corpus(lab)
    finally:
        CORPORA.unregister("lab-set")


def test_a_manifest_says_by_role_which_listed_images_the_folder_lacks(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 1\ntrain_00002.jpg 4\ntest_0001.jpg 2\n")
    _img(tmp_path / "Image" / "aligned" / "train_00001_aligned.jpg", 1)
    m = corpus_manifest("rafdb", tmp_path)
    assert len(m.columns["path"]) == 3  # kept: featurize records each as unreadable
    (note,) = [n for n in m.notes if "name an image the folder lacks" in n]
    assert note.startswith("2 rows name an image the folder lacks (test 1, train 1; e.g. Image/aligned/train_00002_aligned.jpg")


def test_affectnet_as_released_file_lists_folder_and_a_headerless_validation_csv(tmp_path):
    lists = tmp_path / "Manually_Annotated_file_lists"
    lists.mkdir()
    header = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks", "expression", "valence",
              "arousal"]
    for name, with_header in (("training.csv", True), ("validation.csv", False)):
        with open(lists / name, "w", newline="") as handle:
            w = csv.writer(handle)
            if with_header:
                w.writerow(header)
            for i, code in enumerate((1, 9, 3)):
                w.writerow([f"{i}/{name[0]}{i}.jpg", 12 + i, 20, 180, 181, "", code, 0.25, -0.5])
    m = corpus_manifest("affectnet", tmp_path)
    assert m.layout == "file_lists" and m.columns["label"] == ["happy", "surprise"] * 2
    assert m.columns["split"] == ["train", "train", "validation", "validation"] and m.columns["face_x"][:2] == ["12", "14"]
    assert any("validation.csv has no header row" in n for n in m.notes)
    assert any("face boxes of the label files are kept as columns" in n for n in m.notes)
    assert [f["path"] for f in m.label_files] == ["Manually_Annotated_file_lists/training.csv", "Manually_Annotated_file_lists/validation.csv"]


def test_corpus_commands_name_their_argument_and_option_not_other_commands_flags(invoke, tmp_path):
    unknown = invoke("corpus", "manifest", "fer2014", tmp_path, "-o", tmp_path / "m.csv")
    assert unknown.exit_code == 1 and "NAME fer2014: unknown corpus" in unknown.output and "--corpus" not in unknown.output
    shown = invoke("corpus", "show", "ck+")
    assert shown.exit_code == 1 and "NAME ck+: unknown corpus" in shown.output
    typo = invoke("corpus", "manifest", "ckplus", tmp_path, "-o", tmp_path / "m.csv", "--option", "clases=7")
    assert typo.exit_code == 1 and "--option clases: not a parameter of the ckplus corpus" in typo.output
    assert "--corpus-option" not in typo.output


def test_rafdb_counts_images_that_no_label_line_names(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 5\ntest_0001.jpg 7\n")
    aligned = tmp_path / "Image" / "aligned"
    aligned.mkdir(parents=True)
    for name in ("train_00001_aligned.jpg", "test_0001_aligned.jpg", "train_00077_aligned.jpg", "test_0099_aligned.jpg",
                 "._train_00001_aligned.jpg"):
        (aligned / name).write_bytes(b"x")
    m = corpus_manifest("rafdb", tmp_path)
    assert m.columns["label"] == ["sad", "neutral"]
    note = next(n for n in m.notes if "named by no line" in n)
    assert note.startswith("2 images in Image/aligned are named by no line of EmoLabel/list_patition_label.txt")
