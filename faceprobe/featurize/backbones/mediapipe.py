"""The ``mediapipe`` backbone family: the face's own geometry as feature keys, from MediaPipe's
Face Landmarker (Apache-2.0; the ``geometry`` extra), offline.

Four keys, all from one landmarker pass per image (``-b mediapipe/blendshapes,mediapipe/landmarks``
runs the landmarker once): ``mediapipe/blendshapes`` (52 scores), ``mediapipe/landmarks`` (478 x 3,
Procrustes-fitted to the canonical face), ``mediapipe/distances`` (325 distances between 26 points)
and ``mediapipe/pose`` (yaw, pitch, roll, translation); :mod:`faceprobe.featurize.faces.geometry`
says exactly what each is.

The landmarker runs on the crop the crop settings give (the whole image by default), resized
so its shorter side is :data:`INPUT_SIZE` pixels (its centre square): MediaPipe fits the mesh on
a 256 px crop of the face, which a face filling about 70 % of that square covers. It computes in
float32 on the CPU whatever ``precision``, ``compile`` or ``device`` say (recorded in the run).
An image where it finds no face, even on the second try with a grey border, keeps its row under
each geometry key with NaN numbers and ``face`` 0: counted by featurize and ``cache info``, and
left out by classify with a note that says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...errors import OptionError
from ..engine.transform import TransformSpec
from ..faces import geometry, landmarker
from .base import FAMILIES, BackboneFamily, LoadedBackbone, Output

__all__ = ["GEOMETRY", "GeometryOutput", "INPUT_SIZE", "RUNNER", "geometry_vectors"]

INPUT_SIZE = 384
RUNNER = "mediapipe"
"""The one model every geometry key is computed by: requests of several keys share its pass."""


@dataclass(frozen=True)
class GeometryOutput:
    """One geometry key: its size, what it is (recorded in the feature key), and how it is
    computed from a :class:`~faceprobe.featurize.faces.landmarker.FaceMeasure` and the canonical face."""

    dim: int
    what: str
    compute: Callable


def _aligned(measure, canonical) -> np.ndarray:
    return geometry.procrustes_landmarks(measure.landmarks, canonical)


GEOMETRY: dict[str, GeometryOutput] = {
    "mediapipe/blendshapes": GeometryOutput(
        len(geometry.BLENDSHAPES), "MediaPipe Face Landmarker: 52 blendshape scores", lambda m, c: m.blendshapes),
    "mediapipe/landmarks": GeometryOutput(
        478 * 3, "MediaPipe Face Landmarker: 478 landmarks (x, y, z), weighted similarity Procrustes onto the canonical face (cm)",
        lambda m, c: _aligned(m, c).ravel()),
    "mediapipe/distances": GeometryOutput(
        len(geometry.DISTANCE_POINTS) * (len(geometry.DISTANCE_POINTS) - 1) // 2,
        "MediaPipe Face Landmarker: distances between 26 brow, eye, nose, mouth, cheek and chin points after the Procrustes fit (cm)",
        lambda m, c: geometry.distance_vector(_aligned(m, c))),
    "mediapipe/pose": GeometryOutput(
        len(geometry.POSE_NAMES), "MediaPipe Face Landmarker: yaw, pitch, roll (degrees) and translation (cm)",
        lambda m, c: geometry.pose_vector(m.matrix)),
}
"""The geometry keys: adding a view is one entry."""


def geometry_vectors(images: np.ndarray, names: list[str], landmarker_, canonical) -> np.ndarray:
    """The requested geometry keys of RGB uint8 images (n, H, W, 3), side by side: (n, sum of
    dims) float32, a row of NaN where no face was found."""
    dims = [GEOMETRY[n].dim for n in names]
    out = np.full((len(images), sum(dims)), np.nan, dtype=np.float32)
    for i, rgb in enumerate(images):
        measure = landmarker.measure_face(landmarker_, rgb)
        if measure is not None:
            out[i] = np.concatenate([GEOMETRY[n].compute(measure, canonical) for n in names])
    return out


def _module(names: list[str], path: str):
    """A torch module (no parameters) around the landmarker, so the runner calls it like any
    backbone: pixel values (n, 3, H, W) in, the keys' vectors out. ``close()`` closes the
    landmarker (also done at interpreter exit, before MediaPipe's own modules are torn down)."""
    import torch

    class MediaPipeGeometry(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.names = list(names)
            self.canonical = geometry.canonical_face(path)
            self.landmarker = landmarker.open_landmarker(path, blendshapes="mediapipe/blendshapes" in names)
            landmarker.close_at_exit(self.landmarker)

        def close(self) -> None:
            self.landmarker.close()

        def forward(self, x):
            pixels = x.detach().float().round().clamp(0, 255).to("cpu", torch.uint8)
            rgb = np.ascontiguousarray(pixels.permute(0, 2, 3, 1).numpy())
            return torch.from_numpy(geometry_vectors(rgb, self.names, self.landmarker, self.canonical)).to(x.device)

    return MediaPipeGeometry()


def _check_names(names: list[str]) -> None:
    for name in names:
        if name not in GEOMETRY:
            raise OptionError("backbones", name, f"not a geometry key; choose from: {', '.join(sorted(GEOMETRY))}")


def _load_group(names: list[str], weights: str, seed: int) -> LoadedBackbone:
    """The landmarker once, computing every requested key (in the order of ``names``)."""
    _check_names(names)
    landmarker.require(names[0])
    if weights != "DEFAULT":
        raise OptionError("weights", weights, f"{names[0]} uses MediaPipe's published model; leave `weights` as DEFAULT")
    path = landmarker.model_path("backbones", names[0])
    settings = {"landmarker": landmarker.LANDMARKER_OPTIONS, "retry_pad": landmarker.RETRY_PAD, "input_size": INPUT_SIZE}
    combined = hashlib.sha256(json.dumps({"file_sha256": landmarker.MODEL_SHA256, **settings}, sort_keys=True).encode()).hexdigest()
    info = {"arg": weights, "name": landmarker.MODEL_FILE, "file": os.path.abspath(path), "sha256": combined,
            "file_sha256": landmarker.MODEL_SHA256, "url": landmarker.MODEL_URL, "licence": landmarker.MODEL_LICENCE,
            **settings, **landmarker.versions()}
    outputs = [Output(n, None, "avg", GEOMETRY[n].dim, GEOMETRY[n].what) for n in names]
    transform = TransformSpec(INPUT_SIZE, INPUT_SIZE, (0.0, 0.0, 0.0), (1 / 255,) * 3, "bilinear")
    return LoadedBackbone(RUNNER, _module(names, path).eval(), sum(o.dim for o in outputs), transform, info, outputs,
                          graph=False, detects=True)


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    return _load_group([name], weights, seed)


def _describe(name: str) -> dict:
    if not landmarker.available():
        status = "needs mediapipe (the geometry extra; see the README)"
    else:
        status = landmarker.model_status()
    return {"feature_dim": GEOMETRY[name].dim, "weights": f"{status} ({landmarker.MODEL_LICENCE})"}


FAMILY = FAMILIES.register("mediapipe", BackboneFamily(
    lambda: sorted(GEOMETRY), _load, _describe,
    "mediapipe/{blendshapes,landmarks,distances,pose}: the face's geometry from MediaPipe's Face Landmarker (geometry extra)",
    layers=False, runner_of=lambda name: RUNNER, load_group=_load_group))
