"""Plug-ins everywhere (issue 23): a cropper, a preprocessing step, a view and a head registered in
this process work in every way workers start (fork, fork server, spawn, loky, Dask)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageOps

import faceprobe
from faceprobe.cache.store import read_features
from faceprobe.classify.records import cell
from faceprobe.featurize.faces import CROPPERS, NO_BOX, Cropper, CropResult, CropSpec
from faceprobe.featurize.faces.steps import PREPROCESS, Step
from faceprobe.featurize.faces.views import VIEWS, View
from faceprobe.featurize.pipeline import featurize

TINY = "timm/test_efficientnet.r160_in1k"


def _centre(img, spec, params):
    """A centred square of ``fraction`` of the shorter side: a whole cropper in one function."""
    side = round(min(img.size) * params["fraction"])
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return CropResult(img.crop((left, top, left + side, top + side)), -1, NO_BOX)


@pytest.fixture
def plugins():
    """One cropper, one step and one view registered from Python, removed afterwards."""
    # fork_safe=False: like yunet, it makes featurize start its workers with a fork server
    CROPPERS.register("test_centre", Cropper(_centre, {"fraction": 0.8}, "a centred square", fork_safe=False))
    PREPROCESS.register("test_invert", Step(lambda img: ImageOps.invert(img.convert("RGB")), "inverted (a lambda: sent by value)"))
    VIEWS.register("test_flipud", View(lambda img, p: ImageOps.flip(img), {}, "upside down"))
    yield "test_centre", "test_invert", "test_flipud"
    for registry, name in ((CROPPERS, "test_centre"), (PREPROCESS, "test_invert"), (VIEWS, "test_flipud")):
        registry.unregister(name)


@pytest.fixture
def plugin_head():
    """A head whose build is a lambda (sent by value to worker processes), removed afterwards."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    spec = faceprobe.register_head("test_lda", lambda p, seed: LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    yield spec.name
    from faceprobe.classify.heads import HEADS

    HEADS.unregister(spec.name)


def _featurize(source, cache, crop, views=("orig",), **kw):
    kw = {"workers": 1, **kw}
    return featurize(source, backbones=[TINY], weights=["none"], cache=str(cache), augment=tuple(v for v in views if v != "orig"),
                     progress=False, precision="fp32", compile="none", **crop.as_options(), **kw)


def _vectors(cache):
    with_keys = {}
    from faceprobe.cache.tools import list_keys

    for info in list_keys(str(cache)):
        fm = read_features(str(cache), info["key"])
        order = np.argsort(fm.sha256)
        with_keys[info["key"]] = fm.vectors[order]
    return with_keys


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_registered_cropper_step_and_view_work_in_every_worker_start_method(plugins, image_folder, tmp_path, method):
    crop, step, view = plugins
    spec = CropSpec(crop, preprocess=(step,))
    got = _featurize(image_folder, tmp_path / f"{method}.h5", spec, views=("orig", view), start_method=method)
    assert got.computed == 12 and not got.bad
    _featurize(image_folder, tmp_path / "ref.h5", spec, views=("orig", view), workers=0)
    a, b = _vectors(tmp_path / f"{method}.h5"), _vectors(tmp_path / "ref.h5")
    assert set(a) == set(b) and len(a) == 2  # one key per view
    for key in a:  # thread counts differ with workers: float32 sums in another order, so not bit for bit
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7)
    _featurize(image_folder, tmp_path / "plain.h5", CropSpec(crop), workers=0)
    (plain_vectors,) = _vectors(tmp_path / "plain.h5").values()
    (orig_key,) = [k for k in a if ".orig." in k]
    assert np.abs(plain_vectors - a[orig_key]).max() > 1e-3  # the registered step was applied in the workers


def test_registered_step_and_view_with_yunet_and_a_registered_cropper_with_videos(plugins, image_folder, video_folder, tmp_path):
    crop, step, view = plugins
    yunet = CropSpec("yunet", preprocess=(step,))  # yunet is not fork safe: a fork server starts the workers
    s = _featurize(image_folder, tmp_path / "y.h5", yunet, views=("orig", view))
    assert s.computed == 12 and len(s.keys) == 2 and all("yunet" in k for k in s.keys)
    v = _featurize(video_folder, tmp_path / "v.h5", CropSpec(crop, preprocess=(step,)), views=("orig", view), frames="every:4")
    assert v.computed == 12 and len(v.keys) == 2  # 4 clips x 3 frames; the broken video is recorded
    _featurize(video_folder, tmp_path / "v0.h5", CropSpec(crop, preprocess=(step,)), views=("orig", view), frames="every:4",
                     workers=0)
    for key, vec in _vectors(tmp_path / "v.h5").items():
        np.testing.assert_allclose(vec, _vectors(tmp_path / "v0.h5")[key], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend, jobs", [("local", 2), ("dask", 2)])
def test_a_registered_head_runs_in_worker_processes_and_on_dask(tiny_cache, plugin_head, backend, jobs):
    if backend == "dask":
        pytest.importorskip("distributed")
    res = faceprobe.evaluate(str(tiny_cache), head=[plugin_head], cv=3, jobs=jobs, backend=backend)
    one = faceprobe.evaluate(str(tiny_cache), head=[plugin_head], cv=3, jobs=1)
    assert cell(res.raw, plugin_head)["summary"] == cell(one.raw, plugin_head)["summary"]
    assert cell(res.raw, plugin_head)["summary"]["accuracy"]["mean"] > 0.6  # 3 separable classes


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
