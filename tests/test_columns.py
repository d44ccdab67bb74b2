"""Extra manifest columns kept in the cache and used by classify: --where, --group COLUMN (issue 17)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import faceprobe
from faceprobe.errors import OptionError

from .conftest import make_face_like
from faceprobe.classify.records import cell


@pytest.fixture(scope="module")
def column_cache(tmp_path_factory):
    """40 synthetic images (2 classes, 10 subjects, 20 sequences of 2 frames, views front/side)
    featurized from a manifest with extra columns."""
    from .conftest import _invoke, TINY

    root = tmp_path_factory.mktemp("cols")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        name = f"img{i:02d}.png"
        make_face_like(rng, 48).save(root / name)
        rows.append({"path": name, "label": "pain" if i % 2 else "calm", "subject": f"s{i // 4}",
                     "sequence": f"q{i // 2}", "view": "front" if i % 4 < 2 else "side", "intensity": str(i % 5)})
    with open(root / "m.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cache = root / "c.h5"
    r = _invoke("featurize", root / "m.csv", "-b", TINY, "-w", "none", "-c", cache, "--precision", "fp32", "--compile", "none",
                "--workers", 0, "-q")
    assert r.exit_code == 0, r.output
    return cache, rows


def test_extra_columns_are_stored_per_image_and_loaded(column_cache):
    from faceprobe.cache.store import read_images

    cache, rows = column_cache
    images = read_images(str(cache))
    by_name = {p.rsplit("/", 1)[1]: json.loads(e) for p, e in zip(images["path"], images["extra"])}
    assert by_name["img05.png"] == {"intensity": "0", "sequence": "q2", "view": "front"}
    obs = faceprobe.load_features(str(cache)).obs
    assert list(obs.loc[obs.path.str.endswith("img05.png"), ["sequence", "view"]].iloc[0]) == ["q2", "front"]


def test_where_keeps_the_matching_rows_and_says_so(column_cache):
    cache, rows = column_cache
    res = faceprobe.evaluate(str(cache), head="logreg", cv=2, where=["view=front"], group="none")
    assert res.raw["rows"] == 20
    assert any("`where=view=front`: kept 20 of 40 rows" in n for n in res.raw["notes"])
    res = faceprobe.evaluate(str(cache), head="logreg", cv=2, where=["intensity!=0,1"], group="none")
    assert res.raw["rows"] == sum(r["intensity"] not in ("0", "1") for r in rows)
    assert res.raw["provenance"]["where"] == ["intensity!=0,1"]


def test_where_an_unknown_column_or_a_bad_filter_is_one_line(column_cache, invoke):
    cache, _ = column_cache
    r = invoke("classify", "-c", cache, "--head", "logreg", "--cv", 2, "--where", "camera=left")
    assert r.exit_code == 1
    assert r.output.strip() == ("Error: --where camera=left: no column 'camera'; the cache has: subject, intensity, sequence, view")
    with pytest.raises(OptionError, match=r"expected COLUMN=VALUE"):
        faceprobe.evaluate(str(cache), head="logreg", where=["view"])


def test_group_by_a_column_keeps_each_sequence_in_one_fold(column_cache):
    cache, rows = column_cache
    res = faceprobe.evaluate(str(cache), head="logreg", cv=5, group="sequence", predictions=True)
    assert any("splits grouped by sequence (20 sequence values)" in n for n in res.raw["notes"])
    pred = res.predictions()
    seq_of = {r["path"]: r["sequence"] for r in rows}
    pred["sequence"] = [seq_of[p.rsplit("/", 1)[1]] for p in pred.path]
    assert (pred.groupby("sequence").fold.nunique() == 1).all()
    assert pred.sequence.nunique() == 20


def test_group_by_a_missing_column_is_refused_naming_the_columns(column_cache):
    cache, _ = column_cache
    with pytest.raises(OptionError, match=r"group=.camera.: not auto, subject, none or a column; the cache has: subject, intensity"):
        faceprobe.evaluate(str(cache), head="logreg", cv=2, group="camera")


def test_caches_written_before_extra_columns_read_as_empty(column_cache, tmp_path):
    import shutil

    import h5py

    from faceprobe.cache.store import read_images

    cache, _ = column_cache
    old = tmp_path / "old.h5"
    shutil.copy(cache, old)
    with h5py.File(old, "a") as f:  # as written before the column (and the table's checksum) existed
        del f["images"]["extra"]
        del f["images"].attrs["sha256"]
    images = read_images(str(old))
    assert set(images["extra"]) == {""}
    assert faceprobe.evaluate(str(old), head="logreg", cv=2).raw["rows"] == 40


def test_real_faces_where_and_group_on_a_manifest_column(real_dir, tmp_path, featurize_cli):
    """200 dev faces with two extra columns: person (a copy of subject) and posed (yes/no).
    Grouping by person gives exactly the folds and scores of grouping by subject, and --where
    posed=no keeps the faces of named people."""
    rows = list(csv.DictReader(open(real_dir / "manifest.csv")))[:200]
    with open(tmp_path / "m.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "subject", "person", "posed"])
        for r in rows:
            w.writerow([r["path"], r["label"], r["subject"], r["subject"], "yes" if r["subject"].startswith("posed_") else "no"])
    cache = tmp_path / "c.h5"
    assert featurize_cli(tmp_path / "m.csv", cache, "--root", real_dir / "images").exit_code == 0
    kw = dict(head="logreg", cv=3, classes=["happiness", "rest=*"])
    by_subject = faceprobe.evaluate(str(cache), group="subject", **kw)
    by_person = faceprobe.evaluate(str(cache), group="person", **kw)
    assert cell(by_subject.raw, "logreg")["summary"] == cell(by_person.raw, "logreg")["summary"]
    named = faceprobe.evaluate(str(cache), where=["posed=no"], **kw)
    assert named.raw["rows"] == sum(not r["subject"].startswith("posed_") for r in rows) > 0


def test_cache_info_lists_the_extra_columns_and_export_keeps_them(column_cache, tmp_path, invoke):
    cache, rows = column_cache
    r = invoke("cache", "info", "-c", cache)
    assert r.exit_code == 0
    assert "column view: front 20, side 20" in r.output
    assert "column sequence: distinct values 20" in r.output
    out = tmp_path / "x.csv"
    assert invoke("cache", "export", "-c", cache, "--format", "csv", "-o", out).exit_code == 0
    exported = list(csv.DictReader(open(out)))
    want = {r["path"]: r for r in rows}
    assert len(exported) == 40
    assert all(e["view"] == want[e["path"].rsplit("/", 1)[1]]["view"] and e["sequence"] == want[e["path"].rsplit("/", 1)[1]]["sequence"]
               for e in exported)
    npz = tmp_path / "x.npz"
    assert invoke("cache", "export", "-c", cache, "-o", npz).exit_code == 0
    data = np.load(npz)
    assert list(data["extra_columns"]) == ["intensity", "sequence", "view"] and len(data["extra.view"]) == 40
