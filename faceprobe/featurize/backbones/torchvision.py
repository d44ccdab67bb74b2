"""The ``torchvision`` backbone family: any classification model of torchvision's registry
(``get_model``), final linear layer replaced by the identity, so the output is the pooled
penultimate vector (densenet121 1024, resnet50 2048, mobilenet_v2 1280, vit_b_16 768, ...).
Layers are the model's module names (``layer3``, ``features.denseblock3``), as torchvision's
``create_feature_extractor`` names them."""

from __future__ import annotations

import os

from ...errors import FaceprobeError, OptionError, first_line, message_line
from .base import (
    FAMILIES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    BackboneFamily,
    LoadedBackbone,
    checkpoint_path,
    last_linear,
    load_state_file,
    parameters_to_meta,
    replace_module,
    seeded,
    state_dict_sha256,
)
from ..engine.transform import TransformSpec

__all__ = ["TORCHVISION"]

_FILE_KWARGS = {
    # builders that switch these on only when given torchvision's own weights enum
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
    "googlenet": {"transform_input": True, "aux_logits": False, "init_weights": False},
}
_RANDOM_KWARGS = {
    # the initialisation random weights are drawn by, said rather than left to torchvision's default,
    # which it warns will change (random-weight vectors would then change with torchvision's version)
    "inception_v3": {"init_weights": True},
    "googlenet": {"init_weights": True},
}


def _names() -> list[str]:
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _transform(name: str, weights_enum) -> TransformSpec:
    from torchvision.models import get_model_weights

    if weights_enum is None:
        try:
            weights_enum = get_model_weights(name).DEFAULT
        except (ValueError, AttributeError, KeyError):
            return TransformSpec(256, 224, IMAGENET_MEAN, IMAGENET_STD, "bilinear")
    t = weights_enum.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0]) if t.resize_size else crop
    interp = str(getattr(t.interpolation, "value", t.interpolation)).lower()
    return TransformSpec(resize, crop, tuple(map(float, t.mean)), tuple(map(float, t.std)), interp)


def _weights_enum(name: str, weights: str):
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(name)
    except (ValueError, KeyError):
        raise OptionError("weights", weights, f"torchvision has no pretrained weights for {name}; use none or FILE") from None
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        choices = ", ".join(["DEFAULT", *sorted(w.name for w in enum), "none", "FILE"])
        raise OptionError("weights", weights, f"not a weights name, file or 'none' for {name}; choose from: {choices}") from None


def _from_file(name: str, weights: str):
    import torch
    from torchvision.models import get_model

    state = load_state_file(weights)
    model = get_model(name, weights=None, **_FILE_KWARGS.get(name, {}))
    lin_name, lin = last_linear(model)
    w = state.get(f"{lin_name}.weight")
    if w is not None and tuple(w.shape) != tuple(lin.weight.shape):
        replace_module(model, lin_name, torch.nn.Linear(w.shape[1], w.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise OptionError("weights", weights, f"does not fit {name} ({message_line(exc)})") from None
    return model


def _from_hub(name: str, enum):
    from torchvision.models import get_model

    target = checkpoint_path(enum.url)
    try:
        state = enum.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, OSError, hash mismatch ...
        raise FaceprobeError(
            f"cannot get the {name} weights {enum.name} ({first_line(exc)}); "
            f"offline, download {enum.url} and place it at {target}, or pass `weights=FILE`"
        ) from None
    n_classes = len(enum.meta.get("categories") or []) or 1000
    model = get_model(name, weights=None, num_classes=n_classes, **_FILE_KWARGS.get(name, {}))
    model.load_state_dict(state)
    return model, target


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    import torch
    from torchvision.models import get_model

    if name not in _names():
        raise FaceprobeError(f"unknown backbone {name!r}")
    info: dict = {"arg": weights, "name": weights, "file": None}
    enum = None
    if weights == "none":
        with seeded(seed):
            model = get_model(name, weights=None, **_RANDOM_KWARGS.get(name, {}))
        info.update(name=f"random(seed={seed})", seed=seed)
    elif os.path.exists(weights):
        model = _from_file(name, weights)
        info.update(name=os.path.basename(weights), file=os.path.abspath(weights))
    else:
        enum = _weights_enum(name, weights)
        model, target = _from_hub(name, enum)
        info.update(name=f"{type(enum).__name__}.{enum.name}", file=target)
    sha = state_dict_sha256(model)
    lin_name, lin = last_linear(model)
    replace_module(model, lin_name, torch.nn.Identity())
    info["sha256"] = sha
    return LoadedBackbone(name, model.eval(), int(lin.in_features), _transform(name, enum), info)


def _meta_model(name: str):
    """The model with its weights on the meta device (no memory for them), to read its shapes."""
    import torch
    from torchvision.models import get_model

    try:
        with torch.device("meta"):
            return get_model(name, weights=None, **_RANDOM_KWARGS.get(name, {}))
    except NotImplementedError:  # the builder computes with real tensors
        with parameters_to_meta():
            return get_model(name, weights=None, **_RANDOM_KWARGS.get(name, {}))


def _skeleton(name: str):
    import torch

    model = _meta_model(name).eval()
    lin_name, _ = last_linear(model)
    replace_module(model, lin_name, torch.nn.Identity())
    return model, _transform(name, None)


def _describe(name: str) -> dict:
    from torchvision.models import get_model_weights

    dim, note = None, ""
    try:
        _, lin = last_linear(_meta_model(name))
        dim = int(lin.in_features)
    except FaceprobeError:
        pass
    except Exception as exc:  # a builder that cannot run without real tensors: say why, in its row
        note = f"feature size unknown without building it ({first_line(exc)})"
    try:
        enum = get_model_weights(name).DEFAULT
        path = checkpoint_path(enum.url)
        status = f"{enum.name}: cached" if os.path.exists(path) else f"{enum.name}: download needed ({os.path.basename(path)})"
    except (ValueError, KeyError, AttributeError):
        status = "no pretrained weights"
    return {"feature_dim": dim, "weights": status, **({"note": note} if note else {})}


TORCHVISION = FAMILIES.register("torchvision", BackboneFamily(
    _names, _load, _describe, "any classification model of torchvision, final linear layer removed", skeleton=_skeleton))
