"""Frozen backbones: the family registry (``base.py``), one module per family (``torchvision.py``,
``timm.py``, ``lite.py``, ``dlib.py``, ``mediapipe.py``), layers as outputs (``layers.py``), what a request resolved
to (``resolve.py``) and loading and listing (``load.py``)."""

from . import dlib, fer, lite, mediapipe, onnx, timm, torchvision, zoo  # noqa: F401  (each registers its family)
from .load import (
    FAMILIES, BackboneFamily, LoadedBackbone, Output, checkpoint_path, family_of, list_backbones, list_layers,
    load_backbone, load_outputs, seeded, state_dict_sha256,
)

__all__ = [
    "BackboneFamily", "LoadedBackbone", "Output", "FAMILIES", "family_of", "list_backbones", "list_layers",
    "load_backbone", "load_outputs", "state_dict_sha256", "seeded", "checkpoint_path",
]
