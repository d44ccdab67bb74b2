from pathlib import Path

import pytest

from faceprobe.errors import FaceprobeError
from faceprobe.featurize.sources.read import read_source


def test_folder_labels_are_lowercased_and_recursive(image_folder: Path):
    (image_folder / "pain" / "deeper").mkdir()
    (image_folder / "pain" / "s1_21.png").rename(image_folder / "pain" / "deeper" / "s1_21.png")
    (image_folder / "Happy" / "notes.txt").write_text("not an image")
    table = read_source(image_folder)
    labels = sorted({e.label for e in table.entries})
    assert labels == ["happy", "neutral", "pain"]
    assert len(table.entries) == 12
    assert all(Path(e.path).is_absolute() for e in table.entries)
    assert any(e.path.endswith("deeper/s1_21.png") and e.label == "pain" for e in table.entries)


def test_manifest_with_root_subjects_duplicates_and_conflicts(image_folder: Path, tmp_path: Path):
    files = sorted(p.relative_to(image_folder) for p in image_folder.rglob("*.png"))
    text = "img,cls,who\n"
    text += f"{files[0]}, Pain ,alice\n{files[0]},pain,alice\n"  # same label twice: counted once
    text += f"{files[1]},happy,bob\n{files[1]},neutral,bob\n"  # different labels: left out
    text += f"{files[2]},NEUTRAL,carol\n"
    csv = tmp_path / "m.csv"
    csv.write_text(text)
    table = read_source(csv, root=image_folder, path_col="img", label_col="cls", subject_col="who")
    assert [(Path(e.path).name, e.label, e.subject) for e in table.entries] == [
        (files[0].name, "pain", "alice"),
        (files[2].name, "neutral", "carol"),
    ]
    assert table.repeats == 1
    assert table.conflicts == [(str(image_folder / files[1]), ["happy", "neutral"])]


def test_manifest_missing_column_names_option(manifest: Path):
    with pytest.raises(FaceprobeError, match=r"no column 'file' \(set `path_col`\)"):
        read_source(manifest, path_col="file")


def test_missing_source_and_empty_folder(tmp_path: Path):
    with pytest.raises(FaceprobeError, match="no such file or folder"):
        read_source(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(FaceprobeError, match="no images found"):
        read_source(tmp_path / "empty")


def test_real_manifest_reads_all_rows(real_dir: Path):
    table = read_source(real_dir / "manifest.csv", root=real_dir / "images")
    assert len(table.entries) == 1730
    assert not table.conflicts
    assert all(e.subject for e in table.entries)


def test_subject_regex_takes_the_first_group_of_each_file_name_and_counts_matches(image_folder: Path):
    # the fixture's files are named s<subject>_<n>.png; rename one so the pattern misses it
    first = sorted(image_folder.rglob("*.png"))[0]
    first.rename(first.with_name("unknown.png"))
    table = read_source(image_folder, subject_regex=r"^(s\d+)_")
    subjects = {Path(e.path).name: e.subject for e in table.entries}
    assert subjects["unknown.png"] == ""
    assert all(s == n.split("_")[0] for n, s in subjects.items() if n != "unknown.png")
    assert table.subject_matches == (len(table.entries) - 1, len(table.entries))


@pytest.mark.parametrize("pattern, message", [
    ("^(S\\d+", "not a regular expression"),
    ("^S\\d+_", "needs a group for the subject"),
])
def test_subject_regex_bad_pattern_is_refused_naming_the_option(image_folder: Path, pattern, message):
    from faceprobe.errors import OptionError

    with pytest.raises(OptionError, match=message) as err:
        read_source(image_folder, subject_regex=pattern)
    assert err.value.param == "subject_regex"


def test_subject_regex_is_refused_where_the_manifest_gives_subjects(manifest: Path):
    from faceprobe.errors import OptionError

    with pytest.raises(OptionError, match=r"the manifest already gives subjects \(column 'subject'\); use one or the other"):
        read_source(manifest, subject_regex=r"^(s\d+)_")


def test_real_faces_subject_regex_recovers_the_manifests_subjects(real_dir, tmp_path: Path):
    import csv

    rows = list(csv.DictReader(open(real_dir / "manifest.csv")))[:200]
    plain = tmp_path / "m.csv"
    with open(plain, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        w.writerows((r["path"], r["label"]) for r in rows)
    table = read_source(plain, root=real_dir / "images", subject_regex=r"^(.+)_\d{4}\.")
    want = {r["path"]: r["subject"] for r in rows}
    got = {Path(e.path).name: e.subject for e in table.entries}
    named = [p for p in want if not want[p].startswith("posed_")]
    assert named and all(got[p] == want[p] for p in named)


def test_an_empty_csv_is_refused_as_empty_not_read_as_a_manifest(tmp_path, invoke):
    (tmp_path / "fer2013.csv").write_text("")
    r = invoke("featurize", tmp_path / "fer2013.csv", "-b", "resnet18", "-w", "none", "-c", tmp_path / "c.h5")
    assert r.exit_code == 1 and "fer2013.csv: empty file (no header row)" in r.output and "no column" not in r.output


def test_a_path_listed_with_two_subjects_is_left_out_and_said(image_folder, tmp_path, featurize_cli):
    rows = ["path,label,subject"] + [f"{p.relative_to(image_folder)},{p.parent.name},s{i % 3}"
                                     for i, p in enumerate(sorted(image_folder.rglob("*.*")))]
    rows.append(rows[1].rsplit(",", 1)[0] + ",someone_else")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    r = featurize_cli(tmp_path / "m.csv", tmp_path / "c.h5", "--root", image_folder)
    assert r.exit_code == 0, r.output
    assert "1 listed with different labels or subjects, left out:" in r.output and "subject s0 / subject someone_else" in r.output


def test_a_carriage_return_inside_a_field_is_named_not_called_an_empty_cell(tmp_path, invoke):
    (tmp_path / "m.csv").write_bytes(b"path,label\na.jpg\r,happy\nb.jpg,sad\n")
    r = invoke("featurize", str(tmp_path / "m.csv"), "-b", "efficientnet_lite0", "-c", str(tmp_path / "c.h5"))
    assert r.exit_code == 1 and "m.csv, line 2: 1 of the header's 2 fields ('a.jpg')" in r.output
    assert "carriage returns that end no line" in r.output and "empty" not in r.output and "Traceback" not in r.output
    (tmp_path / "e.csv").write_text("path,label\na.jpg,\n")
    r = invoke("featurize", str(tmp_path / "e.csv"), "-b", "efficientnet_lite0", "-c", str(tmp_path / "c.h5"))
    assert r.exit_code == 1 and "e.csv, line 2: empty 'label'" in r.output


def test_a_manifest_read_from_the_wrong_root_is_refused_before_any_model_loads(real_dir, tmp_path, invoke, monkeypatch):
    from faceprobe.featurize import compute

    monkeypatch.setattr(compute, "compute", lambda *a, **k: pytest.fail("models loaded for a source with no readable image"))
    r = invoke("featurize", str(real_dir / "demo.csv"), "--root", str(tmp_path), "-b", "efficientnet_lite0", "-c", str(tmp_path / "c.h5"))
    assert r.exit_code == 1, r.output
    assert f"--root {tmp_path}: none of the" in r.output and "images demo.csv lists is there" in r.output
    assert "give the folder its relative paths start from" in r.output and not (tmp_path / "c.h5").exists()


def test_a_manifest_whose_files_are_all_elsewhere_names_root_with_the_folder_used(tmp_path, invoke):
    (tmp_path / "m.csv").write_text("path,label\nimages/a.png,happy\nimages/b.png,sad\n")
    r = invoke("featurize", str(tmp_path / "m.csv"), "-b", "efficientnet_lite0", "-c", str(tmp_path / "c.h5"))
    assert r.exit_code == 1 and f"--root {tmp_path}: none of the 2 images m.csv lists is there" in r.output
    assert f"(first: {tmp_path / 'images' / 'a.png'})" in r.output
