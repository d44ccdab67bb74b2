"""Shards split the work by content hash; merged shards equal one run; disagreeing caches are refused."""

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from faceprobe.cache.merge import merge_caches
from faceprobe.cache.store import read_features, read_images
from faceprobe.cache.tools import verify_cache
from faceprobe.cli import cli
from faceprobe.errors import FaceprobeError
from faceprobe.featurize.pipeline import featurize

from .conftest import TINY, reseal


def run(folder, cache, **kw):
    return featurize(str(folder), backbones=[TINY], weights=["none"], cache=str(cache), workers=0, progress=False,
                                     precision="fp32", compile="none", **kw)


def test_shards_merge_to_the_single_run(image_folder: Path, tmp_path: Path, invoke):
    whole = run(image_folder, tmp_path / "whole.h5")
    parts = [run(image_folder, tmp_path / f"s{i}.h5", shard=(i, 3)) for i in range(3)]
    assert sum(p.computed for p in parts) == 12 and all(p.computed < 12 for p in parts)
    r = CliRunner().invoke(cli, ["cache", "merge", *(str(tmp_path / f"s{i}.h5") for i in range(3)), "-o", str(tmp_path / "m.h5")])
    assert r.exit_code == 0, r.output
    assert "12 images" in r.output
    a, b = read_features(str(tmp_path / "whole.h5"), whole.keys[0]), read_features(str(tmp_path / "m.h5"), whole.keys[0])
    va = dict(zip(a.sha256, a.vectors))
    assert sorted(va) == sorted(b.sha256)
    for sha, vec in zip(b.sha256, b.vectors):
        np.testing.assert_allclose(vec, va[sha], rtol=1e-5, atol=1e-6)
    assert set(read_images(str(tmp_path / "m.h5"))["status"]) == {"ok"}
    assert verify_cache(str(tmp_path / "m.h5")) == []


def test_merge_refuses_disagreements(image_folder: Path, tmp_path: Path):
    a = run(image_folder, tmp_path / "a.h5")
    run(image_folder, tmp_path / "b.h5")
    with h5py.File(tmp_path / "b.h5", "a") as f:
        labels = f["images"]["label"].asstr()[()]
        labels[0] = "surprise"
        del f["images"]["label"]
        f["images"].create_dataset("label", data=labels.astype(object), dtype=h5py.string_dtype())
    reseal(tmp_path / "b.h5")  # another machine's cache that labels it otherwise
    with pytest.raises(FaceprobeError, match="has label 'surprise', another cache says"):
        merge_caches([str(tmp_path / "a.h5"), str(tmp_path / "b.h5")], str(tmp_path / "m.h5"))
    run(image_folder, tmp_path / "c.h5")
    with h5py.File(tmp_path / "c.h5", "a") as f:
        f["features"][a.keys[0]].attrs["spec"] = '{"backbone": "other"}'
    with pytest.raises(FaceprobeError, match="different spec"):
        merge_caches([str(tmp_path / "a.h5"), str(tmp_path / "c.h5")], str(tmp_path / "n.h5"))


def test_bad_shard_option(image_folder: Path, tmp_path: Path, invoke):
    r = CliRunner().invoke(cli, ["featurize", str(image_folder), "-b", TINY, "-w", "none", "--shard", "3/3", "--cache", str(tmp_path / "x.h5")])
    assert r.exit_code == 1 and "--shard 3/3: must be i/n with 0 <= i < n" in r.output
    r = CliRunner().invoke(cli, ["featurize", str(image_folder), "-b", TINY, "--shard", "half"])
    assert r.exit_code == 1 and "--shard half: expected i/n such as 0/4" in r.output


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
