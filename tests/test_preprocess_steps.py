"""Preprocessing steps as a registry, chained in order (issue 16): grey, equalize, clahe, canny."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceprobe.errors import OptionError
from faceprobe.featurize.faces.crop import CropSpec, crop_face
from faceprobe.featurize.faces.steps import PREPROCESS, apply_steps, parse_steps


def _gradient_face() -> Image.Image:
    rng = np.random.default_rng(0)
    arr = np.clip(np.linspace(60, 120, 64)[None, :, None] + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
    arr[20:44, 20:44] = 200  # a bright square: edges for canny
    return Image.fromarray(arr)


def test_every_step_keeps_the_size_and_grey_and_canny_give_one_channel():
    img = _gradient_face()
    for name in PREPROCESS.names():
        out = PREPROCESS.get(name).apply(img)
        assert out.size == img.size, name
    assert PREPROCESS.get("grey").apply(img).mode == "L"
    edges = np.asarray(PREPROCESS.get("canny").apply(img))
    assert set(np.unique(edges)) <= {0, 255} and edges[20:44, 19:21].any() and not edges[28:36, 28:36].any()


def test_clahe_spreads_a_low_contrast_image_and_keeps_colour():
    img = Image.fromarray(np.full((64, 64, 3), (120, 100, 90), np.uint8) + np.random.default_rng(1).integers(0, 6, (64, 64, 3)).astype(np.uint8))
    out = np.asarray(PREPROCESS.get("clahe").apply(img)).astype(int)
    grey_in = np.asarray(img.convert("L")).astype(int)
    assert np.asarray(Image.fromarray(out.astype(np.uint8)).convert("L")).std() > grey_in.std()
    assert out.shape == (64, 64, 3) and (out[..., 0] >= out[..., 2]).mean() > 0.9  # still reddish


def test_steps_apply_in_the_order_given():
    img = _gradient_face()
    a = np.asarray(apply_steps(img, ("canny", "equalize")))
    b = np.asarray(apply_steps(img, ("equalize", "canny")))
    assert not np.array_equal(a, b)


def test_chain_parsing_and_conflicts_are_one_line():
    assert parse_steps("grey, clahe") == ("grey", "clahe")
    with pytest.raises(OptionError, match=r"unknown step 'banana'; choose from: canny, clahe, equalize, grey"):
        parse_steps("grey,banana")
    with pytest.raises(OptionError, match=r"`equalize` is the step equalize; give the whole chain in `preprocess`"):
        CropSpec(equalize=True, preprocess=("clahe",))


def test_equalize_alone_is_the_old_key_and_chains_are_in_the_key():
    assert CropSpec(preprocess=("equalize",)).as_dict() == CropSpec(equalize=True).as_dict() == {"method": "none", "equalize": True}
    assert CropSpec(preprocess=("grey", "clahe")).as_dict()["preprocess"] == ["grey", "clahe"]
    assert CropSpec.from_dict(CropSpec(preprocess=("canny",)).as_dict()) == CropSpec(preprocess=("canny",))
    assert "preprocess" not in CropSpec().as_dict()


def test_featurize_keys_differ_per_chain(image_folder, tmp_path, featurize_cli):
    cache = tmp_path / "c.h5"
    for extra in ([], ["--preprocess", "grey,clahe"], ["--preprocess", "clahe,grey"], ["--preprocess", "equalize"], ["--equalize"]):
        r = featurize_cli(image_folder, cache, "--compile", "none", *extra)
        assert r.exit_code == 0, r.output
    from faceprobe.cache.tools import list_keys

    assert len(list_keys(str(cache))) == 4  # --preprocess equalize and --equalize are one key


def test_real_face_canny_edges_outline_the_face(real_dir):
    path = sorted((real_dir / "images").glob("*.jpg"))[0]
    img = Image.open(path).convert("RGB")
    out = crop_face(img, CropSpec(preprocess=("canny",))).image
    edges = np.asarray(out) > 0
    assert out.size == img.size and 0.01 < edges.mean() < 0.4
