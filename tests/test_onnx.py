"""ONNX models as backbones (issue 25): vectors equal the torch model's, outputs as layers, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceprobe.cache.store import read_features
from faceprobe.cache.tools import list_keys
from faceprobe.errors import OptionError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SIDECAR = {"input_size": 224, "resize": 256, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """resnet18 with random weights, as a state-dict file and as ONNX with two outputs (pooled, layer3)."""
    import torch
    import torchvision

    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    torch.save(net.state_dict(), folder / "r18.pt")
    net.fc = torch.nn.Identity()

    class TwoOutputs(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            m = self.m
            y = m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))
            l3 = m.layer3(y)
            return torch.flatten(m.avgpool(m.layer4(l3)), 1), l3

    torch.onnx.export(TwoOutputs(net), torch.zeros(1, 3, 224, 224), str(folder / "r18.onnx"), input_names=["image"],
                      output_names=["pooled", "layer3"], dynamic_axes={"image": {0: "n"}, "pooled": {0: "n"}, "layer3": {0: "n"}},
                      dynamo=False)
    (folder / "r18.onnx.json").write_text(json.dumps(SIDECAR))
    return folder


def _by_prefix(cache, prefix, layer=False):
    (key,) = [k["key"] for k in list_keys(str(cache)) if k["key"].startswith(prefix) and ("@" in k["key"]) == layer]
    fm = read_features(str(cache), key)
    return fm.vectors[np.argsort(fm.sha256)]


def _min_cosine(a, b):
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def _featurize(invoke, source, cache, *args):
    return invoke("featurize", source, "--cache", cache, "--precision", "fp32", "--workers", 0, "-q", *args)


def _compare(source, exported, tmp_path, invoke, *extra):
    cache = tmp_path / "c.h5"
    onnx = f"onnx:{exported / 'r18.onnx'}"
    r = _featurize(invoke, source, cache, "-b", onnx, "-b", f"{onnx}@layer3", *extra)
    assert r.exit_code == 0, r.output
    r = _featurize(invoke, source, cache, "-b", "resnet18", "-b", "resnet18@layer3", "-w", str(exported / "r18.pt"), "--compile",
                   "none", *extra)
    assert r.exit_code == 0, r.output
    stem = "onnx:" + str(exported / "r18.onnx").replace("/", "-")
    return ((_by_prefix(cache, stem), _by_prefix(cache, "resnet18")),
            (_by_prefix(cache, stem, layer=True), _by_prefix(cache, "resnet18", layer=True)))


def test_onnx_vectors_and_outputs_equal_the_torch_models(image_folder, exported, tmp_path, invoke):
    (pooled, ref), (layer, ref_layer) = _compare(image_folder, exported, tmp_path, invoke)
    assert pooled.shape == (12, 512) and layer.shape == (12, 256)
    assert _min_cosine(pooled, ref) >= 0.99999 and _min_cosine(layer, ref_layer) >= 0.99999


@pytest.mark.real
def test_real_faces_onnx_vectors_equal_the_torch_models(real_dir, exported, tmp_path, invoke):
    rows = (real_dir / "demo.csv").read_text().splitlines()[:61]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    (pooled, ref), (layer, ref_layer) = _compare(tmp_path / "m.csv", exported, tmp_path, invoke, "--root", real_dir / "images",
                                                 "--crop", "yunet")
    assert pooled.shape == (60, 512)
    assert _min_cosine(pooled, ref) >= 0.99999 and _min_cosine(layer, ref_layer) >= 0.99999


def test_onnx_errors_name_the_file_and_the_fix(exported, tmp_path):
    from faceprobe.featurize.backbones import load_backbone, load_outputs

    bare = tmp_path / "bare.onnx"
    bare.write_bytes((exported / "r18.onnx").read_bytes())
    with pytest.raises(OptionError, match=r"needs its preprocessing in .*bare.onnx.json, e.g. \{\"input_size\": 224"):
        load_backbone(f"onnx:{bare}")
    (tmp_path / "bare.onnx.json").write_text(json.dumps({**SIDECAR, "output": "logits"}))
    with pytest.raises(OptionError, match=r"names the output .logits.; the graph has: pooled, layer3"):
        load_backbone(f"onnx:{bare}")
    with pytest.raises(OptionError, match=r"carries its own weights"):
        load_backbone(f"onnx:{exported / 'r18.onnx'}", "IMAGENET1K_V1")
    with pytest.raises(OptionError, match=r"has no layer 'layer9' \(e.g. pooled, layer3\)"):
        load_outputs([f"onnx:{exported / 'r18.onnx'}@layer9"])
    with pytest.raises(OptionError, match=r"no such file"):
        load_backbone(f"onnx:{tmp_path / 'missing.onnx'}")


def test_a_changed_sidecar_gives_a_new_feature_key(image_folder, exported, tmp_path, invoke):
    import shutil

    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(exported / "r18.onnx", folder / "r18.onnx")
    (folder / "r18.onnx.json").write_text(json.dumps(SIDECAR))
    r = _featurize(invoke, image_folder, tmp_path / "c.h5", "-b", f"onnx:{folder / 'r18.onnx'}")
    (folder / "r18.onnx.json").write_text(json.dumps({**SIDECAR, "channels": "BGR"}))
    s = _featurize(invoke, image_folder, tmp_path / "c.h5", "-b", f"onnx:{folder / 'r18.onnx'}")
    assert r.exit_code == 0 and s.exit_code == 0 and "featurized 12 images" in s.output  # recomputed under a new key
    assert len(list_keys(str(tmp_path / "c.h5"))) == 2


@pytest.mark.parametrize("change, message", [
    ({"input_size": 160}, r"the graph's input is \[.*\], sides .*; the preprocessing's input_size is 160: set input_size"),
    ({"input_size": -3}, r"'input_size' is -3; it must be a whole number"),
    ({"input_size": "224"}, r"'input_size' is '224'; it must be a whole number"),
    ({"resize": 200}, r"'resize' is 200; it must be a whole number >= input_size"),
    ({"channels": "grey"}, r"1 channels where|3 channels where layout NCHW and channels grey give 1; set channels to RGB or BGR"),
    ({"layout": "NHWC"}, r"channels where layout NHWC .* give 3; its layout is NCHW"),
    ({"channel": "BGR"}, r"'channel' is not a field; did you mean 'channels'\?"),
    ({"std": [0.2, 0, 0.2]}, r"'std' is \[0.2, 0, 0.2\]; it must be three numbers above 0"),
    ({"interpolation": "lanczos"}, r"'interpolation' is 'lanczos'; it must be one of bilinear, bicubic, nearest"),
])
def test_a_sidecar_is_checked_against_its_schema_and_the_graphs_input_before_any_work(exported, tmp_path, change, message):
    from faceprobe.featurize.backbones import load_backbone

    model = tmp_path / "m.onnx"
    model.write_bytes((exported / "r18.onnx").read_bytes())
    (tmp_path / "m.onnx.json").write_text(json.dumps({**SIDECAR, **change}))
    with pytest.raises(OptionError, match=message):
        load_backbone(f"onnx:{model}")
