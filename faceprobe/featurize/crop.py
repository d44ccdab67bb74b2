"""Face cropping: the croppers registry (``none``, ``haar``, ``yunet``), each with its own
parameters, and the crop settings record that goes into every feature key.

A cropper is one ``CROPPERS.register(name, Cropper(...))``: its function, its parameters with
their defaults (``--crop-param NAME=VALUE``), whether it is a detector (which sizes the worker
pool) and the versions of the libraries it runs on (recorded with every run).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import OptionError
from ..registry import Registry
from .preprocess_steps import PREPROCESS, apply_steps

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "crop_face", "parse_crop_params"]

NO_FACE = ("keep", "skip")
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


@dataclass(frozen=True)
class CropResult:
    """A cropped image and what the detector found.

    ``face`` is 1 when a face was found, 0 when none was (and the whole image is returned),
    -1 when no detector ran. ``box`` is (x, y, w, h) in original pixels, or (-1, -1, -1, -1).
    ``score`` is the detector's confidence (NaN without one) and ``landmarks`` the five points
    (x, y: eyes, nose tip, mouth corners) in original pixels, for detectors that give them.
    """

    image: Image.Image
    face: int
    box: tuple[int, int, int, int]
    score: float = float("nan")
    landmarks: tuple | None = None


NO_BOX = (-1, -1, -1, -1)


@dataclass(frozen=True)
class Cropper:
    """A face cropper.

    Attributes
    ----------
    crop : callable (image, spec: CropSpec, params: dict) -> CropResult
        ``params`` holds every parameter of the cropper (defaults merged).
    params : dict
        Parameter names and defaults; the type of each default is the type a value must have.
    description : str
    detector : bool
        Finds faces (costs about a forward pass per image: half the CPU cores detect).
    versions : callable () -> dict
        Library versions that change its output, recorded in each run's provenance.
    landmarks : bool
        Gives a score and five landmarks per face (stored in the cache; needed by ``--align``).
    fork_safe : bool
        Safe to use in worker processes forked from a process that used it already. False for
        libraries with a GNU OpenMP thread pool (yuface), whose forked children hang: their
        workers then start from a fork server.
    """

    crop: Callable
    params: dict = field(default_factory=dict)
    description: str = ""
    detector: bool = False
    versions: Callable[[], dict] = dict
    landmarks: bool = False
    fork_safe: bool = True


CROPPERS: Registry[Cropper] = Registry("cropper", "crop")


@dataclass(frozen=True)
class CropSpec:
    """How faces are cut out of images; part of every feature key.

    Attributes
    ----------
    method : str
        A name in ``CROPPERS``.
    margin : float
        Fraction of the face box added on each side before cropping.
    no_face : str
        ``keep`` (use the whole image) or ``skip`` (store no vector) when no face is found.
    equalize : bool
        Histogram-equalise the luminance of the crop (the ``equalize`` preprocessing step).
    params : tuple of (name, value)
        The cropper's own parameters that differ from its defaults (sorted).
    preprocess : tuple of str
        Preprocessing steps (``PREPROCESS``) applied to the crop in this order; a chain of just
        ``equalize`` is stored as ``equalize=True``, as before the chain existed.
    align : bool
        Warp each found face onto the five-point template (:mod:`faceprobe.featurize.align`);
        needs a cropper that gives landmarks.
    """

    method: str = "none"
    margin: float = 0.2
    no_face: str = "keep"
    equalize: bool = False
    params: tuple = ()
    preprocess: tuple = ()
    align: bool = False

    def __post_init__(self):
        cropper = CROPPERS.get(self.method)
        if not 0.0 <= self.margin <= 2.0:
            raise OptionError("margin", self.margin, "must be between 0 and 2")
        if self.no_face not in NO_FACE:
            raise OptionError("no_face", self.no_face, f"choose from: {', '.join(NO_FACE)}")
        own = dict(self.params)
        for name, value in own.items():
            if name not in cropper.params:
                taken = ", ".join(sorted(cropper.params)) or "none"
                raise OptionError("crop_params", name, f"not a parameter of the {self.method} cropper; it takes: {taken}")
            if not isinstance(value, type(cropper.params[name])):
                raise OptionError("crop_params", f"{name}={value}", f"expected {_KINDS.get(type(cropper.params[name]), 'text')}")
        # defaults are not spelled out, so a key made before a cropper had parameters stays the same
        object.__setattr__(self, "params", tuple(sorted((k, v) for k, v in own.items() if v != cropper.params[k])))
        self._normalise_steps()
        if self.align and not cropper.landmarks:
            with_landmarks = ", ".join(n for n, c in CROPPERS.items() if c.landmarks)
            raise OptionError("crop", self.method, f"gives no landmarks for --align; use --crop {with_landmarks}")

    def _normalise_steps(self) -> None:
        steps = tuple(self.preprocess)
        for name in steps:
            PREPROCESS.get(name)
        if self.equalize and steps:
            raise OptionError("preprocess", ",".join(steps), "--equalize is the step equalize; give the whole chain in "
                                                             "--preprocess (e.g. equalize," + ",".join(steps) + ")")
        if steps == ("equalize",):
            object.__setattr__(self, "equalize", True)
            steps = ()
        object.__setattr__(self, "preprocess", steps)

    def steps(self) -> tuple[str, ...]:
        """The preprocessing chain applied to each crop."""
        return ("equalize",) if self.equalize else self.preprocess

    @property
    def cropper(self) -> Cropper:
        return CROPPERS.get(self.method)

    def merged_params(self) -> dict:
        return {**self.cropper.params, **dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict) -> "CropSpec":
        """The spec recorded in a feature key (:meth:`as_dict`) back as a CropSpec."""
        d = {"method": "none", **d}
        return cls(**{**d, "params": tuple(sorted(d.get("params", {}).items())), "preprocess": tuple(d.get("preprocess", ())),
                      "align": bool(d.get("align"))})

    def as_dict(self) -> dict:
        """Plain dict for provenance; margin and no_face are irrelevant without a detector."""
        if self.cropper.detector:
            out = {"method": self.method, "margin": self.margin, "no_face": self.no_face, "equalize": self.equalize}
        else:
            out = {"method": self.method, "equalize": self.equalize}
        if self.params:
            out["params"] = dict(self.params)
        if self.preprocess:
            out["preprocess"] = list(self.preprocess)
        if self.align:
            from .align import ALIGN_SIZE

            out["align"] = {"template": "insightface-5pt", "size": ALIGN_SIZE}
        return out


def _cast(text: str, like):
    if isinstance(like, bool):
        return text.lower() in ("1", "true", "yes")
    for kind in (int, float):
        if isinstance(like, kind):
            try:
                return kind(text)
            except ValueError:
                return text
    return text


def parse_crop_params(method: str, specs) -> tuple:
    """``["min_neighbors=3", "scale_factor=1.05"]`` -> the cropper's typed parameters (checked by CropSpec)."""
    cropper = CROPPERS.get(method)
    out = {}
    for spec in specs:
        name, eq, value = spec.partition("=")
        if not eq or not name.strip():
            raise OptionError("crop_params", spec, "expected NAME=VALUE")
        name = name.strip()
        out[name] = _cast(value.strip(), cropper.params.get(name, ""))
    return tuple(sorted(out.items()))


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
        from ..errors import FaceprobeError

        raise FaceprobeError(f"cannot load the Haar cascade {path}; reinstall opencv-python-headless<5")
    return cascade


def detect_largest_face(img: Image.Image, params: dict | None = None) -> tuple[int, int, int, int] | None:
    """Return the largest frontal face box (x, y, w, h) in original pixels, or None."""
    import cv2

    p = {**HAAR_PARAMS, **(params or {})}
    grey = img.convert("L")
    scale = min(1.0, p["detect_side"] / max(grey.size))
    if scale < 1.0:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.BILINEAR)
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

CROPPERS.register("haar", Cropper(_crop_haar, HAAR_PARAMS, "Viola-Jones (OpenCV's frontal cascade), largest face",
                                  detector=True, versions=_opencv_version))


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

    scale = min(1.0, params["detect_side"] / max(img.size))
    small = img.convert("RGB")
    if scale < 1.0:
        small = small.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
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


def _crop_yunet(img: Image.Image, spec: "CropSpec", params: dict) -> CropResult:
    if params["pick"] not in ("largest", "score"):
        raise OptionError("crop_params", f"pick={params['pick']}", "choose largest or score")
    found = _yunet_detect(img, params)
    if found is None:
        return CropResult(img, 0, NO_BOX)
    score, box, landmarks = found
    if spec.align:
        from .align import align_face

        return CropResult(align_face(img, landmarks, spec.margin), 1, box, score, landmarks)
    return CropResult(_crop_box(img, box, spec.margin), 1, box, score, landmarks)


def _yuface_version() -> dict:
    from importlib import metadata

    return {"yuface": metadata.version("yuface")}


YUNET_PARAMS = {"detect_side": 240, "min_score": 0.5, "pick": "largest"}
"""Detection on an RGB copy whose longer side is at most ``detect_side`` pixels; faces below
``min_score`` are ignored; of several, the ``largest`` (box area) or the best ``score``."""

CROPPERS.register("yunet", Cropper(_crop_yunet, YUNET_PARAMS, "YuNet CNN detector (yuface) with five landmarks, largest face",
                                   detector=True, versions=_yuface_version, landmarks=True, fork_safe=False))


def crop_face(img: Image.Image, spec: CropSpec) -> CropResult:
    """Apply the crop settings to one image.

    Parameters
    ----------
    img : PIL.Image.Image
        Grey (L) or RGB image.
    spec : CropSpec
        Crop settings.

    Returns
    -------
    CropResult
        The crop (the whole image when no face is found or no detector runs; the aligned square
        with ``align``), with the detector's verdict, box, score and landmarks.
    """
    result = spec.cropper.crop(img, spec, spec.merged_params())
    if spec.steps():
        result = CropResult(apply_steps(result.image, spec.steps()), result.face, result.box, result.score, result.landmarks)
    return result
