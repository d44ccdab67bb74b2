"""Face cropping: a registry of croppers (``none``, ``haar``) and the crop settings record."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from ..errors import FaceprobeError

__all__ = ["CROPPERS", "CropSpec", "CropResult", "crop_face", "equalize"]

DETECT_SIDE = 240
"""Haar detection runs on a grey copy whose longer side is at most this many pixels."""


@dataclass(frozen=True)
class CropSpec:
    """How faces are cut out of images; part of every feature key.

    Attributes
    ----------
    method : str
        A name in ``CROPPERS``: ``none`` or ``haar`` (Viola-Jones, OpenCV's frontal cascade).
    margin : float
        Fraction of the face box added on each side before cropping.
    no_face : str
        ``keep`` (use the whole image) or ``skip`` (store no vector) when no face is found.
    equalize : bool
        Histogram-equalise the luminance of the crop.
    """

    method: str = "none"
    margin: float = 0.2
    no_face: str = "keep"
    equalize: bool = False

    def __post_init__(self):
        if self.method not in CROPPERS:
            raise FaceprobeError(f"unknown crop {self.method!r}; choose from: {', '.join(sorted(CROPPERS))}")
        if not 0.0 <= self.margin <= 2.0:
            raise FaceprobeError(f"--margin must be between 0 and 2, got {self.margin}")
        if self.no_face not in ("keep", "skip"):
            raise FaceprobeError(f"--no-face must be keep or skip, got {self.no_face!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "CropSpec":
        """The spec recorded in a feature key (:meth:`as_dict`) back as a CropSpec."""
        return cls(**{"method": "none", **d})

    def as_dict(self) -> dict:
        """Plain dict for provenance; margin and no_face are irrelevant without a detector."""
        if self.method == "none":
            return {"method": "none", "equalize": self.equalize}
        return asdict(self)


@dataclass(frozen=True)
class CropResult:
    """A cropped image and what the detector found.

    ``face`` is 1 when a face was found, 0 when none was (and the whole image is returned),
    -1 when no detector ran. ``box`` is (x, y, w, h) in original pixels, or (-1, -1, -1, -1).
    """

    image: Image.Image
    face: int
    box: tuple[int, int, int, int]


NO_BOX = (-1, -1, -1, -1)


def _crop_none(img: Image.Image, spec: CropSpec) -> CropResult:
    return CropResult(img, -1, NO_BOX)


@functools.lru_cache(maxsize=None)
def _cascade(name: str = "haarcascade_frontalface_default.xml"):
    """Load an OpenCV Haar cascade once per process."""
    import cv2

    cv2.setNumThreads(1)
    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise FaceprobeError(f"cannot load the Haar cascade {path}; reinstall opencv-python-headless<5")
    return cascade


def detect_largest_face(img: Image.Image) -> tuple[int, int, int, int] | None:
    """Return the largest frontal face box (x, y, w, h) in original pixels, or None."""
    import cv2

    grey = img.convert("L")
    scale = min(1.0, DETECT_SIDE / max(grey.size))
    if scale < 1.0:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.BILINEAR)
    arr = cv2.equalizeHist(np.asarray(grey))
    faces = _cascade().detectMultiScale(arr, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
    return tuple(int(round(v / scale)) for v in (x, y, w, h))


def _crop_haar(img: Image.Image, spec: CropSpec) -> CropResult:
    box = detect_largest_face(img)
    if box is None:
        return CropResult(img, 0, NO_BOX)
    x, y, w, h = box
    mx, my = spec.margin * w, spec.margin * h
    left, top = max(0, round(x - mx)), max(0, round(y - my))
    right, bottom = min(img.width, round(x + w + mx)), min(img.height, round(y + h + my))
    return CropResult(img.crop((left, top, right, bottom)), 1, box)


CROPPERS: dict[str, Callable[[Image.Image, CropSpec], CropResult]] = {
    "none": _crop_none,
    "haar": _crop_haar,
}


def equalize(img: Image.Image) -> Image.Image:
    """Histogram-equalise the luminance (Y of YCbCr), leaving colour as it is."""
    if img.mode == "L":
        return ImageOps.equalize(img)
    y, cb, cr = img.convert("YCbCr").split()
    return Image.merge("YCbCr", (ImageOps.equalize(y), cb, cr)).convert("RGB")


def crop_face(img: Image.Image, spec: CropSpec) -> CropResult:
    """Apply the crop settings to one RGB image.

    Parameters
    ----------
    img : PIL.Image.Image
        Grey (L) or RGB image.
    spec : CropSpec
        Crop settings.

    Returns
    -------
    CropResult
        The crop (the whole image when no face is found or no detector runs), with the
        detector's verdict and box.
    """
    result = CROPPERS[spec.method](img, spec)
    if spec.equalize:
        result = CropResult(equalize(result.image), result.face, result.box)
    return result
