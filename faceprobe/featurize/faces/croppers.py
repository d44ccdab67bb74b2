"""The croppers: ``none`` (the whole image), ``haar`` (Viola-Jones), ``yunet`` (YuNet with five
landmarks), ``dlib`` (dlib's HOG or MMOD detector with its 5-point landmarks; the dlib extra) and
``mediapipe`` (MediaPipe's Face Landmarker: the box of its mesh and five points from it; the geometry extra).

Each is one ``CROPPERS.register`` with its function, parameters and capabilities (see
:class:`~faceprobe.featurize.faces.base.Cropper`).
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from PIL import Image

from .base import CROPPERS, NO_BOX, Cropper, CropResult, CropSpec

__all__ = ["detect_largest_face", "HAAR_PARAMS", "YUNET_PARAMS", "DLIB_PARAMS", "MEDIAPIPE_PARAMS", "FIVE_POINTS"]


def _crop_none(img: Image.Image, spec: CropSpec, params: dict) -> CropResult:
    return CropResult(img, -1, NO_BOX)


CROPPERS.register("none", Cropper(_crop_none, description="the whole image"))


@functools.lru_cache(maxsize=None)
def _cascade(name: str = "haarcascade_frontalface_default.xml"):
    """Load an OpenCV Haar cascade once per process."""
    import cv2

    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        from ...errors import FaceprobeError

        raise FaceprobeError(f"cannot load the Haar cascade {path}; reinstall opencv-python-headless<5")
    return cascade


def _shrunk(img: Image.Image, side: int) -> tuple[Image.Image, float]:
    """``img`` resized (bilinear) so its longer side is at most ``side`` pixels, and the scale."""
    scale = min(1.0, side / max(img.size))
    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    return img, scale


def detect_largest_face(img: Image.Image, params: dict | None = None) -> tuple[int, int, int, int] | None:
    """Return the largest frontal face box (x, y, w, h) in original pixels, or None."""
    import cv2

    p = {**HAAR_PARAMS, **(params or {})}
    grey, scale = _shrunk(img.convert("L"), p["detect_side"])
    arr = cv2.equalizeHist(np.asarray(grey))
    size = (p["min_size"], p["min_size"])
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one thread: the cores belong to the forward pass; restored after (about 1 us)
    try:
        faces = _cascade().detectMultiScale(arr, scaleFactor=p["scale_factor"], minNeighbors=p["min_neighbors"], minSize=size)
    finally:
        cv2.setNumThreads(before)
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
    return tuple(int(round(v / scale)) for v in (x, y, w, h))


def _crop_haar(img: Image.Image, spec: CropSpec, params: dict) -> CropResult:
    box = detect_largest_face(img, params)
    if box is None:
        return CropResult(img, 0, NO_BOX)
    return CropResult(_crop_box(img, box, spec.margin), 1, box)


def _opencv_version() -> dict:
    import cv2

    return {"opencv": cv2.__version__}


HAAR_PARAMS = {"detect_side": 240, "scale_factor": 1.1, "min_neighbors": 5, "min_size": 24}
"""Detection runs on a grey copy whose longer side is at most ``detect_side`` pixels."""

_DETECT_SIDE = {"detect_side": {"low": 32}}
"""A detection copy under 32 pixels holds no face any detector here finds."""

CROPPERS.register("haar", Cropper(_crop_haar, HAAR_PARAMS, "Viola-Jones (OpenCV's frontal cascade), largest face",
                                  detector=True, versions=_opencv_version,
                                  bounds={**_DETECT_SIDE, "scale_factor": {"low": 1.0, "open_low": True}, "min_neighbors": {"low": 0},
                                          "min_size": {"low": 1}}))


def _crop_box(img: Image.Image, box, margin: float) -> Image.Image:
    """The box (x, y, w, h) grown by ``margin`` of its size on each side, clipped to the image."""
    x, y, w, h = box
    mx, my = margin * w, margin * h
    left, top = max(0, round(x - mx)), max(0, round(y - my))
    right, bottom = min(img.width, round(x + w + mx)), min(img.height, round(y + h + my))
    return img.crop((left, top, right, bottom))


def _yunet_detect(img: Image.Image, params: dict):
    """(score, box, landmarks) of the chosen face in original pixels, or None."""
    import yuface

    small, scale = _shrunk(img.convert("RGB"), params["detect_side"])
    bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])
    confs, boxes, points = yuface.detect(bgr, params["min_score"])
    if len(confs) == 0:
        return None
    if params["pick"] == "score":
        i = int(np.argmax(confs))
    else:
        i = int(np.argmax(boxes[:, 2].astype(np.int64) * boxes[:, 3]))
    # centres of the shrunk copy's pixels back to the original's
    box = tuple(int(round(v / scale)) for v in boxes[i])
    landmarks = tuple(round((float(v) + 0.5) / scale - 0.5, 2) for v in points[i])
    return float(confs[i]) / 100.0, box, landmarks


def _landmark_crop(detect: Callable) -> Callable:
    """A cropper function around ``detect(img, params) -> (score, box, landmarks) | None``: the
    box grown by the margin, or with ``--align`` the face warped onto the five-point template."""

    def crop(img: Image.Image, spec: "CropSpec", params: dict) -> CropResult:
        found = detect(img, params)
        if found is None:
            return CropResult(img, 0, NO_BOX)
        score, box, landmarks = found
        if spec.align:
            from .align import align_face

            return CropResult(align_face(img, landmarks, spec.margin), 1, box, score, landmarks)
        return CropResult(_crop_box(img, box, spec.margin), 1, box, score, landmarks)

    return crop


def _yuface_version() -> dict:
    from importlib import metadata

    return {"yuface": metadata.version("yuface")}


YUNET_PARAMS = {"detect_side": 240, "min_score": 0.5, "pick": "largest"}
"""Detection on an RGB copy whose longer side is at most ``detect_side`` pixels; faces below
``min_score`` are ignored; of several, the ``largest`` (box area) or the best ``score``."""

CROPPERS.register("yunet", Cropper(_landmark_crop(_yunet_detect), YUNET_PARAMS, "YuNet CNN detector (yuface) with five landmarks, largest face",
                                   detector=True, versions=_yuface_version, landmarks=True, fork_safe=False,
                                   choices={"pick": ("largest", "score")},
                                   bounds={**_DETECT_SIDE, "min_score": {"low": 0.0, "high": 1.0}}))


def _dlib_detect(img: Image.Image, params: dict):
    """(score, box, landmarks) of the chosen face in original pixels, or None (dlib extra)."""
    import dlib

    from .dlib_models import detect_face, eye_landmarks

    small, scale = _shrunk(img.convert("RGB"), params["detect_side"])
    found = detect_face(np.asarray(small), params["detector"], params["pick"])
    if found is None:
        return None
    score, r = found
    box = tuple(int(round(v / scale)) for v in (r.left(), r.top(), r.width(), r.height()))
    full = dlib.rectangle(box[0], box[1], box[0] + box[2], box[1] + box[3])
    return float(score), box, eye_landmarks(np.asarray(img.convert("RGB")), full)


def _dlib_versions() -> dict:
    from .dlib_models import versions as dlib_versions

    return dlib_versions()


def _dlib_available() -> bool:
    from .dlib_models import available as dlib_available

    return dlib_available()


DLIB_PARAMS = {"detector": "hog", "detect_side": 480, "pick": "largest"}
"""dlib's ``hog`` (fast) or ``mmod`` (CNN; slower, finds more poses) detector on an RGB copy whose
longer side is at most ``detect_side``; of several faces the ``largest`` or best ``score``. The
5-point landmark model runs on the full image; its eye corners give the two eye centres that
are stored (nose and mouth are NaN: its fifth point is the nose base, which the template does
not have), and ``align`` then places the eyes exactly, level, where the template puts them."""

CROPPERS.register("dlib", Cropper(_landmark_crop(_dlib_detect),
                                  DLIB_PARAMS, "dlib HOG or MMOD detector with dlib's 5-point landmarks, largest face (dlib extra)",
                                  detector=True, versions=_dlib_versions, landmarks=True, extra="dlib", available=_dlib_available,
                                  choices={"pick": ("largest", "score"), "detector": ("hog", "mmod")}, bounds=_DETECT_SIDE))


@functools.lru_cache(maxsize=None)
def _landmarker():
    """One MediaPipe landmarker per process (landmarks only), closed at interpreter exit before
    MediaPipe's own modules are torn down (letting the collector do it prints a traceback)."""
    from .landmarker import close_at_exit, model_path, open_landmarker

    found = open_landmarker(model_path("crop", "mediapipe"), blendshapes=False)
    close_at_exit(found)
    return found


FIVE_POINTS = ((33, 133), (362, 263), (1,), (61,), (291,))
"""Mesh points averaged into the five landmarks: the two eyes' corners, the nose tip, the mouth corners."""


def _mediapipe_detect(img: Image.Image, params: dict):
    """(score NaN: the landmarker gives none, box of the 478 points, five landmarks) in original pixels, or None."""
    from .landmarker import measure_face

    small, scale = _shrunk(img.convert("RGB"), params["detect_side"])
    found = measure_face(_landmarker(), np.asarray(small))
    if found is None:
        return None
    xy = found.landmarks[:, :2] / scale
    lo, hi = xy.min(0), xy.max(0)
    box = (int(round(lo[0])), int(round(lo[1])), max(1, int(round(hi[0] - lo[0]))), max(1, int(round(hi[1] - lo[1]))))
    eyes = sorted((xy[list(p)].mean(0) for p in FIVE_POINTS[:2]), key=lambda p: p[0])
    mouth = sorted((xy[p[0]] for p in FIVE_POINTS[3:]), key=lambda p: p[0])
    points = [*eyes, xy[1], *mouth]
    return float("nan"), box, tuple(round(float(v), 2) for p in points for v in p)


def _mediapipe_versions() -> dict:
    from .landmarker import MODEL_SHA256, versions

    return {**versions(), "face_landmarker_sha256": MODEL_SHA256}


def _mediapipe_available() -> bool:
    from .landmarker import available

    return available()


_MEDIAPIPE_INSTALL = ("needs mediapipe: pip install 'faceprobe[geometry]', then pip install mediapipe with pip's no-deps option "
                      "(which keeps one OpenCV; the README shows the command)")

MEDIAPIPE_PARAMS = {"detect_side": 640}
"""MediaPipe's Face Landmarker (its BlazeFace detector, then the 478-point mesh) on an RGB copy whose
longer side is at most ``detect_side``; the box holds every mesh point, the five landmarks are the
eye centres (mean of each eye's corners), the nose tip and the mouth corners. No face on the image
as given: once more on it with a grey border (as for the geometry keys)."""

CROPPERS.register("mediapipe", Cropper(_landmark_crop(_mediapipe_detect), MEDIAPIPE_PARAMS,
                                       "MediaPipe Face Landmarker: the box of its 478-point mesh, five landmarks from it (geometry extra)",
                                       detector=True, versions=_mediapipe_versions, landmarks=True, fork_safe=False, extra="geometry",
                                       available=_mediapipe_available, install=_MEDIAPIPE_INSTALL, bounds=_DETECT_SIDE))
