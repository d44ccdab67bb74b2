"""What every backbone family shares: the loaded-backbone and family types, their registry, and
helpers for weights (state-dict files, hashes, seeded random weights, shape-only builds).

The families themselves live in ``family_*.py``; :mod:`faceprobe.featurize.backbones.load` imports them
(so they register) and resolves names, layers and loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable

from ...errors import FaceprobeError, OptionError, first_line
from ...registry import Registry
from ..engine.transform import TransformSpec

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "Output", "LoadedBackbone", "BackboneFamily", "FAMILIES",
    "state_dict_sha256", "seeded", "load_state_file", "last_linear", "replace_module", "parameters_to_meta",
    "checkpoint_path", "trained_weights_file",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Output:
    """One vector a backbone's forward pass gives.

    Attributes
    ----------
    name : str
        The requested backbone name it is stored under (``resnet50``, ``resnet50@layer3``).
    layer : str or None
        The layer's public name; None for the backbone's own pooled output.
    pool : str
        How a layer's map is pooled: ``avg``, ``max`` or ``avgmax`` (both, concatenated).
    dim : int
    what : str
        What the vector is, recorded in its feature key, when the backbone's outputs are not
        layers (a geometry key); empty for the pooled vector and layers.
    """

    name: str
    layer: str | None
    pool: str
    dim: int
    what: str = ""


@dataclass
class LoadedBackbone:
    """A ready feature extractor.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``densenet121``.
    model : torch.nn.Module
        Maps a float batch (N, 3, crop, crop), normalised, to (N, feature_dim): the outputs'
        vectors side by side, in the order of ``outputs``.
    feature_dim : int
        Columns of the model's output (the sum of the outputs' sizes).
    transform : TransformSpec
    weights : dict
        Provenance: ``arg`` (as given), ``name`` (resolved), ``file`` (or None), ``sha256``
        (of the state dict's tensors, so it does not depend on the file format).
    outputs : list of Output
        What the columns are; empty means one output, the pooled vector, under ``name``.
    graph : bool
        The model is a PyTorch graph, so reduced precision and compiled modes apply; False for
        a module that hands the pixels to another library (dlib), which runs in float32 eager.
    output : str
        What the vector is, recorded in the feature key, when it is not the pooled penultimate
        layer (empty).
    detects : bool
        The model finds the face itself and gives a row of NaN where it finds none (geometry
        keys): such rows are stored with ``face`` 0 and counted as faces not found.
    """

    name: str
    model: object
    feature_dim: int
    transform: TransformSpec
    weights: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)
    graph: bool = True
    output: str = ""
    detects: bool = False

    def close(self) -> None:
        """Release what the model holds outside Python (a MediaPipe graph); a no-op for PyTorch models."""
        close = getattr(self.model, "close", None)
        if callable(close):
            close()

    def output_list(self) -> list[Output]:
        return self.outputs or [Output(self.name, None, "avg", self.feature_dim)]

    def bounds(self) -> list[tuple[int, int]]:
        """Column range of each output."""
        out, start = [], 0
        for o in self.output_list():
            out.append((start, start + o.dim))
            start += o.dim
        return out


@dataclass(frozen=True)
class BackboneFamily:
    """A source of backbones.

    Attributes
    ----------
    names : callable () -> list of str
        Backbone names the family provides (for listings and suggestions).
    load : callable (name, weights, seed) -> LoadedBackbone
    describe : callable (name) -> dict
        ``feature_dim`` and ``weights`` status for ``faceprobe backbones``, cheaply (no download).
    description : str
    provides : callable (name) -> bool, optional
        Whether a name is the family's; default: ``name in names()``.
    skeleton : callable (name) -> (torch.nn.Module, TransformSpec), optional
        The pooled model built on the meta device (no weights, no memory), to list its layers.
    layer_modules : callable (model) -> dict, optional
        The family's named layers (public name -> module path in the model), listed by
        ``faceprobe backbones NAME --layers``; default: the modules two levels deep whose
        output is a feature map or a token sequence. Any module path is accepted as a layer.
    summary_only : bool
        List the family as one summary line unless its names are asked for (large families).
    layers : bool
        Its backbones have layers to tap (``NAME@LAYER``).
    runner_of : callable (name) -> str, optional
        The model that computes a name: names of one model share one forward pass (the geometry
        keys share one landmarker pass). Default: each name is its own model.
    load_group : callable (names, weights, seed) -> LoadedBackbone, optional
        Loads one model computing several of the family's names (with ``runner_of``).
    """

    names: Callable[[], list[str]]
    load: Callable[[str, str, int], LoadedBackbone]
    describe: Callable[[str], dict]
    description: str = ""
    provides_fn: Callable[[str], bool] | None = None
    skeleton: Callable | None = None
    layer_modules: Callable | None = None
    summary_only: bool = False
    layers: bool = True
    runner_of: Callable[[str], str] | None = None
    load_group: Callable | None = None

    def runner(self, name: str) -> str:
        """The model that computes ``name`` (see ``runner_of``)."""
        return self.runner_of(name) if self.runner_of is not None else name

    def provides(self, name: str) -> bool:
        if self.provides_fn is not None:
            return self.provides_fn(name)
        return name in self.names()


FAMILIES: Registry[BackboneFamily] = Registry("backbone family", "family")


def trained_weights_file(name: str, weights: str, default, kind: str) -> str:
    """The weights file of a backbone used for its trained weights only: its own (``DEFAULT``,
    from ``default()``, which raises when it is not installed) or an existing ``kind`` file.

    Raises
    ------
    OptionError
        For ``none`` (no random weights) or a file that does not exist.
    """
    if weights in ("DEFAULT", "IMAGENET1K"):
        return default()
    if weights == "none":
        raise OptionError("weights", weights, f"{name} is used for its trained weights (no random ones); use DEFAULT or a {kind}")
    if not os.path.isfile(weights):
        raise OptionError("weights", weights, f"not DEFAULT or an existing {kind}")
    return weights


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


def load_state_file(path: str) -> dict:
    """A state dict from a PyTorch or safetensors file (``module.`` prefixes and common wrappers removed)."""
    import torch

    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            obj = load_file(path, device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable files
        raise OptionError("weights", path, f"cannot load a PyTorch state dict ({first_line(exc)})") from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise OptionError("weights", path, f"the file holds a {type(obj).__name__}, not a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def last_linear(model) -> tuple[str, object]:
    """The name and module of a model's last ``nn.Linear`` (its classifier)."""
    import torch.nn as nn

    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    if found is None:
        raise FaceprobeError("this model has no final linear layer to remove; it cannot be used as a backbone")
    return found


def replace_module(model, dotted: str, new) -> None:
    """Put ``new`` where the submodule ``dotted`` is."""
    parent = model
    *path, last = dotted.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, last, new)


def checkpoint_path(url: str) -> str:
    """Where torch.hub keeps a downloaded checkpoint: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


@contextlib.contextmanager
def parameters_to_meta():
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
