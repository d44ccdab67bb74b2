"""Remember what a ``--backbone/--weights`` request resolved to, so a cached rerun needs no torch.

Loading a backbone to learn its weights hash costs seconds (importing torch alone takes about
one). The cache stores, per request, the resolved weights hash, transform and feature size,
together with the identity (size, mtime) of the weights file and the library versions; a later
identical request whose file is unchanged reuses it without importing torch.
"""

from __future__ import annotations

import json
import os
from importlib import metadata

from ..._version import __version__
from .base import LoadedBackbone, Output
from ..faces.crop import CropSpec
from .layers import POOLS, parse_request
from ..faces.views import view_params

__all__ = ["request_id", "record_resolution", "cached_resolution", "key_spec"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


_LIBRARIES = {"timm/": "timm", "mediapipe/": "mediapipe"}
"""Backbone name prefix -> the library whose version a cached resolution is tied to (timm's model
code and data configs, MediaPipe's graphs, change between releases)."""


def request_id(name: str, weights: str, seed: int) -> str:
    """A string that identifies a backbone request under the installed library versions."""
    if weights not in ("DEFAULT", "none") and os.path.exists(weights):
        weights = os.path.abspath(weights)
    req = {
        "backbone": name,
        "weights": weights,
        "seed": seed if weights == "none" else None,
        "faceprobe": __version__,
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
    }
    for prefix, dist in _LIBRARIES.items():  # libraries whose releases change the numbers
        if name.startswith(prefix):
            req[dist] = _version(dist)
    return json.dumps(req, sort_keys=True)


def _file_identity(path: str | None, also: tuple = ()) -> list | None:
    """Size and modification time of the weights file (and of the files it depends on, such as an
    ONNX model's preprocessing sidecar): a cached resolution holds while they are unchanged."""
    if not path:
        return None
    out = []
    for p in (path, *also):
        try:
            st = os.stat(p)
        except OSError:
            return None
        out += [st.st_size, st.st_mtime_ns]
    return out


def record_resolution(loaded: LoadedBackbone, output: Output | None = None) -> dict:
    """What to store for a request of a loaded backbone (``output``: one of its outputs)."""
    return {
        "feature_dim": output.dim if output is not None else loaded.feature_dim,
        "transform": loaded.transform.as_dict(),
        "weights": loaded.weights,
        "file_identity": _file_identity(loaded.weights.get("file"), tuple(loaded.weights.get("depends_on", ()))),
        **({"output": output.what if output is not None and output.what else loaded.output}
           if loaded.output or (output is not None and output.what) else {}),
        **({"detects": True} if loaded.detects else {}),
    }


def cached_resolution(resolutions: dict, name: str, weights: str, seed: int) -> dict | None:
    """The stored resolution of a request, if its weights file is unchanged; else None."""
    rec = resolutions.get(request_id(name, weights, seed))
    if rec is None:
        return None
    w = rec.get("weights", {})
    if w.get("file") and _file_identity(w["file"], tuple(w.get("depends_on", ()))) != rec.get("file_identity"):
        return None
    return rec


def output_of(name: str) -> str:
    """What a request's vector is, as recorded in its feature key."""
    r = parse_request(name)
    if r.layer is None:
        return "pooled penultimate layer"
    return f"layer {r.layer}, {POOLS[r.pool]} pooling"


def key_spec(name: str, rec: dict, crop: CropSpec, view: str) -> dict:
    """Everything that determines a feature vector's numbers; hashed into the feature key."""
    return {
        "backbone": name,
        "weights_sha256": rec["weights"]["sha256"],
        "transform": rec["transform"],
        "output": rec.get("output") or output_of(name),
        "crop": crop.as_dict(),
        "view": view,
        "view_params": view_params(view),
        # only for backbones that find the face themselves, so the keys of all others stay the same
        **({"detects": "rows where the backbone finds no face hold NaN, with face 0"} if rec.get("detects") else {}),
    }
