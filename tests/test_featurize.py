"""featurize end to end on tiny synthetic images with a small random-weight backbone."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from faceprobe.cache.store import read_feature_hashes, read_features, read_images
from faceprobe.cache.tools import verify_cache
from faceprobe.errors import FaceprobeError
from faceprobe.featurize.faces.crop import CropSpec
from faceprobe.featurize.options import FeaturizeOptions, resolve
from faceprobe.featurize.pipeline import run_featurize

from .conftest import TINY
from .test_decode import bad_corpus


def config(source, cache, **kw):
    kw.setdefault("backbones", [TINY])
    kw.setdefault("weights", ["none"])
    kw.setdefault("progress", False)
    kw.setdefault("workers", 0)
    kw.setdefault("precision", "fp32")
    if "crop_spec" in kw:  # the crop settings as the options that make them
        kw.update(kw.pop("crop_spec").as_options())
    if "views" in kw:
        kw["augment"] = tuple(v for v in kw.pop("views") if v != "orig")
    return resolve(str(source), FeaturizeOptions(cache=str(cache), **kw))


def test_first_run_then_cached_rerun(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "f.h5"
    s1 = run_featurize(config(image_folder, cache))
    assert (s1.images, s1.computed, s1.forward_passes, s1.cached) == (12, 12, 12, 0)
    assert len(s1.keys) == 1 and s1.keys[0].startswith(f"{TINY}.none.orig.")
    fm = read_features(str(cache), s1.keys[0])
    assert fm.vectors.shape == (12, 1024) and np.isfinite(fm.vectors).all()
    assert fm.spec["weights_sha256"] and fm.runs[0]["precision"] == "fp32"
    images = read_images(str(cache))
    assert sorted(set(images["label"])) == ["happy", "neutral", "pain"]
    assert set(images["status"]) == {"ok"}
    mtime = cache.stat().st_mtime_ns
    s2 = run_featurize(config(image_folder, cache))
    assert (s2.computed, s2.forward_passes, s2.cached) == (0, 0, 12)
    assert cache.stat().st_mtime_ns == mtime, "a no-op rerun must not rewrite the cache"
    assert verify_cache(str(cache)) == []


def test_only_new_and_changed_images_are_computed(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "f.h5"
    key = run_featurize(config(image_folder, cache)).keys[0]
    before = read_features(str(cache), key)
    old_vec = dict(zip(before.sha256, before.vectors))
    # a new image, a copy under another name (same bytes), and a changed file
    shutil.copy(image_folder / "pain" / "s0_20.jpg", image_folder / "pain" / "copy.jpg")
    Image.new("RGB", (50, 50), (200, 100, 0)).save(image_folder / "Happy" / "new.png")
    Image.new("RGB", (50, 50), (0, 100, 200)).save(image_folder / "neutral" / "s1_11.png")
    s = run_featurize(config(image_folder, cache))
    assert (s.images, s.computed) == (14, 2)
    assert s.duplicates_by_content == 1
    after = read_features(str(cache), key)
    assert len(after.sha256) == 14  # old row of the changed file stays, keyed by its old content
    for sha, vec in zip(after.sha256, after.vectors):
        if sha in old_vec:
            np.testing.assert_array_equal(vec, old_vec[sha])
    images = read_images(str(cache))
    assert len(images["path"]) == 14


def test_same_numbers_every_time(image_folder: Path, tmp_path: Path):
    a = run_featurize(config(image_folder, tmp_path / "a.h5"))
    b = run_featurize(config(image_folder, tmp_path / "b.h5", batch_size=5))
    assert a.keys == b.keys
    fa, fb = read_features(str(tmp_path / "a.h5"), a.keys[0]), read_features(str(tmp_path / "b.h5"), b.keys[0])
    va = dict(zip(fa.sha256, fa.vectors))
    for sha, vec in zip(fb.sha256, fb.vectors):
        np.testing.assert_allclose(vec, va[sha], rtol=1e-4, atol=1e-5)


def test_seed_changes_random_weights_key(image_folder: Path, tmp_path: Path):
    a = run_featurize(config(image_folder, tmp_path / "c.h5", seed=0))
    b = run_featurize(config(image_folder, tmp_path / "c.h5", seed=1))
    assert a.keys != b.keys and b.computed == 12
    assert len(read_feature_hashes(str(tmp_path / "c.h5"))) == 2


def test_bad_images_recorded_and_skipped(image_folder: Path, tmp_path: Path):
    reasons = bad_corpus(image_folder / "pain")
    cache = tmp_path / "f.h5"
    s = run_featurize(config(image_folder, cache))
    assert s.computed == 12
    bad = {Path(p).name: why for p, why in s.bad}
    assert set(bad) == set(reasons)
    for name, fragment in reasons.items():
        assert fragment in bad[name]
    images = read_images(str(cache))
    status = {Path(p).name: st for p, st in zip(images["path"], images["status"])}
    assert all(status[n] == "bad" for n in reasons)
    # bad files are not retried while their bytes stay the same
    again = run_featurize(config(image_folder, cache))
    assert again.computed == 0 and len(again.bad) == len(reasons)


def test_strict_stops_and_keeps_results(image_folder: Path, tmp_path: Path):
    (image_folder / "pain" / "zz_empty.jpg").write_bytes(b"")
    cache = tmp_path / "f.h5"
    with pytest.raises(FaceprobeError, match=r"zz_empty.jpg: empty file \(`strict`"):
        run_featurize(config(image_folder, cache, strict=True, batch_size=4))
    computed = read_feature_hashes(str(cache))
    assert sum(len(v) for v in computed.values()) >= 8  # the batches before the bad one were kept


def test_nothing_usable_is_an_error(tmp_path: Path):
    folder = tmp_path / "d" / "x"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"")
    with pytest.raises(FaceprobeError, match="no image could be featurized"):
        run_featurize(config(tmp_path / "d", tmp_path / "f.h5"))


def test_two_backbones_and_views_share_one_pass(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "f.h5"
    s = run_featurize(config(image_folder, cache, backbones=[TINY, "squeezenet1_1", "resnet18"][::2], views=["orig", "hflip", "brightness"]))
    assert len(s.keys) == 6 and s.forward_passes == 12 * 6 and s.computed == 12
    by_view = {k.split(".")[2] for k in s.keys}
    assert by_view == {"orig", "hflip", "brightness"}
    orig = read_features(str(cache), next(k for k in s.keys if k.startswith(TINY) and ".orig." in k))
    flip = read_features(str(cache), next(k for k in s.keys if k.startswith(TINY) and ".hflip." in k))
    assert list(orig.sha256) == list(flip.sha256)  # views are linked to their source image
    assert not np.allclose(orig.vectors, flip.vectors, rtol=1e-3, atol=0)
    # a third backbone later computes only its own rows
    s2 = run_featurize(config(image_folder, cache, backbones=[TINY, "resnet18"], views=["orig"]))
    assert s2.forward_passes == 0


def test_haar_crop_settings_are_part_of_the_key(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "f.h5"
    a = run_featurize(config(image_folder, cache, crop_spec=CropSpec("haar", 0.2, "keep")))
    b = run_featurize(config(image_folder, cache, crop_spec=CropSpec("haar", 0.2, "skip")))
    assert a.keys != b.keys
    assert a.no_face == 12  # synthetic blobs are not faces: recorded per image
    skipped = read_features(str(cache), b.keys[0])
    assert (skipped.face == 0).all() and np.isnan(skipped.vectors).all()
    kept = read_features(str(cache), a.keys[0])
    assert (kept.face == 0).all() and np.isfinite(kept.vectors).all()


def test_weights_count_must_match(image_folder: Path, tmp_path: Path):
    with pytest.raises(FaceprobeError, match="weights=.none,none.: given 2 times for 3 backbones"):
        run_featurize(config(image_folder, tmp_path / "f.h5", backbones=["a", "b", "c"], weights=["none", "none"]))


def test_offline_default_weights_name_the_file(image_folder: Path, tmp_path: Path):
    with pytest.raises(FaceprobeError) as info:
        run_featurize(config(image_folder, tmp_path / "f.h5", backbones=["resnet18"], weights=["DEFAULT"]))
    msg = str(info.value)
    assert "resnet18-f37072fd.pth" in msg and "hub/checkpoints" in msg and "`weights=FILE`" in msg


def test_weights_file_round_trip(image_folder: Path, tmp_path: Path):
    import torch
    from torchvision.models import get_model

    torch.manual_seed(3)
    path = tmp_path / "w.pth"
    torch.save(get_model(TINY, weights=None).state_dict(), path)
    s = run_featurize(config(image_folder, tmp_path / "f.h5", weights=[str(path)]))
    fm = read_features(str(tmp_path / "f.h5"), s.keys[0])
    assert fm.runs[0]["weights"][TINY]["file"] == str(path)
    bad = tmp_path / "bad.pth"
    bad.write_text("nope")
    with pytest.raises(FaceprobeError, match="cannot load a PyTorch state dict"):
        run_featurize(config(image_folder, tmp_path / "g.h5", weights=[str(bad)]))


def test_locked_cache_names_the_holder(image_folder: Path, tmp_path: Path):
    import os

    from faceprobe.cache.lock import writer_lock

    cache = tmp_path / "f.h5"
    with writer_lock(str(cache)):
        # flock is per open file description: a second open in this process conflicts too
        with pytest.raises(FaceprobeError, match=f"locked by PID {os.getpid()}"):
            run_featurize(config(image_folder, cache))


def test_corrupt_and_foreign_caches_are_refused(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "f.h5"
    run_featurize(config(image_folder, cache))
    data = cache.read_bytes()
    trunc = tmp_path / "t.h5"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(FaceprobeError, match="not a readable HDF5 cache"):
        run_featurize(config(image_folder, trunc))
    assert "not a readable HDF5 cache" in verify_cache(str(trunc))[0]
    foreign = tmp_path / "x.h5"
    with h5py.File(foreign, "w") as f:
        f["a"] = [1, 2]
    with pytest.raises(FaceprobeError, match="not a faceprobe cache"):
        run_featurize(config(image_folder, foreign))


def test_verify_finds_damage(image_folder: Path, tmp_path: Path):
    cache = tmp_path / "f.h5"
    key = run_featurize(config(image_folder, cache)).keys[0]
    with h5py.File(cache, "a") as f:
        f["features"][key]["vectors"][3, 5] = np.nan
        f["features"][key]["sha256"][4] = f["features"][key]["sha256"][5]
    problems = verify_cache(str(cache))
    assert any("1 rows with NaN" in p for p in problems)
    assert any("duplicate rows" in p for p in problems)


def test_real_faces_with_efficientnet_lite0(real_subset: Path, real_dir: Path, tmp_path: Path):
    cache = tmp_path / "real.h5"
    s = run_featurize(config(real_subset, cache, backbones=["efficientnet_lite0"], weights=["DEFAULT"], root=str(real_dir / "images"), precision="auto"))
    assert s.computed == 48 and not s.bad
    fm = read_features(str(cache), s.keys[0])
    assert fm.vectors.shape == (48, 1280)
    # real features separate people: two images are never identical, and are non-negative pools
    assert np.unique(fm.vectors.round(4), axis=0).shape[0] == 48
    assert json.loads(json.dumps(fm.spec))["transform"]["mean"] == [0.5, 0.5, 0.5]


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


def test_prefetched_keeps_order_raises_where_it_failed_and_stops_its_thread_when_closed():
    import threading

    from faceprobe.featurize.engine.prefetch import prefetched

    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise OSError("disk gone")

    got = prefetched(failing())
    assert next(got) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(got)

    made = []

    def endless():
        while True:
            made.append(1)
            yield len(made)

    it = prefetched(endless(), depth=2)
    assert next(it) == 1
    it.close()  # as when strict stops a run early
    assert not any(t.name == "faceprobe-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(made) <= 4  # at most depth items made ahead, not the endless rest
    with pytest.raises(ValueError, match="depth"):
        next(prefetched(iter(()), depth=0))
