"""The offline ImageNet backbones are real, and the Haar cropper finds real faces."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprobe.featurize.faces.crop import CropSpec, crop_face
from faceprobe.featurize.sources.decode import decode_image

MILITARY_UNIFORM = 652


def test_efficientnet_lite0_recognises_a_real_photo():
    torch = pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite_pytorch", reason="the lite extra is not installed")
    import matplotlib.cbook

    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.backbones.lite import lite_weights_file
    from faceprobe.featurize.engine.device import device_setup
    from faceprobe.featurize.engine.transform import to_uint8_chw
    from faceprobe.featurize.engine.runner import FeatureRunner

    b = load_backbone("efficientnet_lite0")
    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    x = torch.from_numpy(to_uint8_chw(photo, b.transform))[None]
    features = FeatureRunner(b, device_setup("cpu", "fp32"))(x)
    # the stripped classifier applied to our pooled features must give ImageNet classes
    state = torch.load(lite_weights_file("efficientnet_lite0"), weights_only=True)
    logits = features @ state["_fc.weight"].numpy().T + state["_fc.bias"].numpy()
    assert MILITARY_UNIFORM in np.argsort(-logits[0])[:3]


def test_haar_finds_most_real_faces(real_dir: Path):
    files = sorted((real_dir / "images").iterdir())[:60]
    found = 0
    for f in files:
        img = decode_image(str(f))
        res = crop_face(img, CropSpec("haar", 0.2, "keep"))
        if res.face == 1:
            found += 1
            x, y, w, h = res.box
            assert w > 40 and 0 <= x < img.width and 0 <= y < img.height
            assert res.image.size[0] < img.size[0] or res.image.size[1] < img.size[1] or w * 1.4 >= img.width
    assert found / len(files) >= 0.8


def test_equalize_spreads_the_histogram(real_dir: Path):
    img = decode_image(str(sorted((real_dir / "images").iterdir())[0]))
    eq = crop_face(img, CropSpec("none", equalize=True)).image
    assert np.asarray(eq).std() >= np.asarray(img).std() * 0.95
    assert np.asarray(eq).max() == 255
