"""--normalize subject: each person's vectors z-scored with that person's own images (issue 17)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import faceprobe
from faceprobe.errors import OptionError
from faceprobe.classify.records import cell


def _baseline_cache(path, subjects=16, per_subject=6, d=6, seed=0, blank_subject=False):
    """Two classes whose signal (1 on dim 0) is small beside each person's baseline (sd 4)."""
    from faceprobe.cache.journal import Part
    from faceprobe.cache.store import commit

    from .conftest import SPEC

    rng = np.random.default_rng(seed)
    rows = {"path": [], "sha256": [], "label": [], "subject": [], "status": []}
    vec = []
    for s in range(subjects):
        base = rng.normal(0, 4.0, d)
        for i in range(per_subject):
            lab = ("calm", "pain")[i % 2]
            vec.append(base + np.eye(d)[0] * (1.5 if lab == "pain" else 0.0) + rng.normal(0, 0.3, d))
            for c, v in zip(rows, (f"/x/s{s}_{i}.jpg", f"{s:03d}{i:03d}".ljust(64, "b"), lab,
                                   "" if blank_subject and s == 0 else f"p{s}", "ok")):
                rows[c].append(v)
    features = {"toy.none.orig.0000000000": {"spec": SPEC, "sha256": np.array(rows["sha256"]), "vectors": np.array(vec, np.float32),
                                            "face": np.full(len(vec), -1, np.int8), "box": np.full((len(vec), 4), -1, np.int32)}}
    commit(str(path), images={k: np.array(v) for k, v in rows.items()}, parts=[Part({"run_id": "r"}, {}, features)])
    return path


def test_normalize_subject_removes_each_persons_baseline(tmp_path):
    cache = str(_baseline_cache(tmp_path / "c.h5"))
    plain = faceprobe.evaluate(cache, head="logreg", cv=4)
    normed = faceprobe.evaluate(cache, head="logreg", cv=4, normalize="subject")
    acc = {name: cell(r.raw, "logreg")["summary"]["balanced_accuracy"]["mean"] for name, r in (("plain", plain), ("normed", normed))}
    assert acc["normed"] > 0.95 and acc["normed"] - acc["plain"] > 0.2
    assert normed.raw["provenance"]["normalize"] == "subject"
    assert any("`normalize=subject`: each of 16 subject values z-scored" in n for n in normed.raw["notes"])


def test_normalized_vectors_have_zero_mean_and_unit_spread_per_subject(tmp_path):
    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.data.normalize import normalize_within

    ds = normalize_within(load_dataset(str(_baseline_cache(tmp_path / "c.h5"))), "subject")
    for s in set(ds.groups):
        rows = ds.X[ds.groups == s]
        np.testing.assert_allclose(rows.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(rows.std(0), 1, atol=1e-3)


def test_normalize_refuses_rows_without_a_subject_and_fit(tmp_path):
    cache = str(_baseline_cache(tmp_path / "c.h5", blank_subject=True))
    with pytest.raises(OptionError, match=r"normalize=.subject.: 6 images have no subject"):
        faceprobe.evaluate(cache, head="logreg", cv=4, normalize="subject", group="none")
    from faceprobe.classify.run import ClassifyOptions, run_fit

    with pytest.raises(OptionError, match=r"is transductive"):
        run_fit(ClassifyOptions(cache=cache, head="logreg", normalize="subject"), str(tmp_path / "m.skops"))


def test_real_faces_normalize_subject_leaves_out_single_image_people(real_lite0_cache):
    from faceprobe.classify.data.dataset import load_dataset
    from faceprobe.classify.data.normalize import normalize_within

    ds = load_dataset(str(real_lite0_cache))
    counts = Counter(ds.groups)
    singles = sum(1 for n in counts.values() if n == 1)
    out = normalize_within(ds, "subject")
    assert len(out.y) == len(ds.y) - singles
    assert any(f"left out {singles} subject values with fewer than 2 images" in n for n in out.notes)
    for s in list(set(out.groups))[:20]:
        np.testing.assert_allclose(out.X[out.groups == s].mean(0), 0, atol=1e-4)


def test_normalize_subject_when_every_person_has_one_image_is_refused(synthetic_cache, tmp_path):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=30, per_subject=1)
    with pytest.raises(OptionError, match=r"every subject value has fewer than 2 images"):
        faceprobe.evaluate(str(cache), head="logreg", cv=3, normalize="subject", group="none")
