"""What croppers share: the cropper and crop-result types, the croppers registry, and the crop
settings record that goes into every feature key. The croppers themselves are in
:mod:`faceprobe.featurize.faces.croppers`; :mod:`faceprobe.featurize.faces.crop` is the public module.

A cropper is one ``CROPPERS.register(name, Cropper(...))``: its function, its parameters with
their defaults (``--crop-param NAME=VALUE``), whether it is a detector (which sizes the worker
pool), the versions of the libraries it runs on (recorded with every run) and, for croppers
from an optional extra, how to tell whether it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from ...errors import OptionError
from ...registry import Registry
from .steps import PREPROCESS

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "NO_BOX", "NO_FACE", "parse_crop_params"]

NO_FACE = ("keep", "skip")


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
    extra : str
        The optional extra it needs (``pip install 'faceprobe[EXTRA]'``); empty when none.
    available : callable () -> bool
        Whether that extra is installed; checked when the crop settings are made.
    choices : dict
        Text parameters that take one of a few values: name -> the allowed values.
    install : str
        How to install what it needs, when the extra alone does not (said when it is missing).
    bounds : dict
        Numeric parameters' ranges: name -> keywords of :class:`~faceprobe.params.Bounded`
        (``{"detect_side": {"low": 32}}``), checked with every value given.
    """

    crop: Callable
    params: dict = field(default_factory=dict)
    description: str = ""
    detector: bool = False
    versions: Callable[[], dict] = dict
    landmarks: bool = False
    fork_safe: bool = True
    extra: str = ""
    available: Callable[[], bool] = lambda: True
    choices: dict = field(default_factory=dict)
    install: str = ""
    bounds: dict = field(default_factory=dict)

    @property
    def declared(self) -> dict:
        """The parameters as :class:`~faceprobe.params.Param` declarations: each of its default's kind, with its choices."""
        from ...params import Param

        return {k: Param.typed(v, choices=tuple(self.choices.get(k, ())), **self.bounds.get(k, {})) for k, v in self.params.items()}


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
        Warp each found face onto the five-point template (:mod:`faceprobe.featurize.faces.align`);
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
        if not cropper.available():
            raise OptionError("crop", self.method, cropper.install or f"needs the {cropper.extra} extra: pip install 'faceprobe[{cropper.extra}]'")
        if not 0.0 <= self.margin <= 2.0:
            raise OptionError("margin", self.margin, "must be between 0 and 2")
        if self.no_face not in NO_FACE:
            raise OptionError("no_face", self.no_face, f"choose from: {', '.join(NO_FACE)}")
        own = _checked_params(self.method, cropper, dict(self.params))
        # defaults are not spelled out, so a key made before a cropper had parameters stays the same
        object.__setattr__(self, "params", tuple(sorted((k, v) for k, v in own.items() if v != cropper.params[k])))
        self._normalise_steps()
        if self.align and not cropper.landmarks:
            with_landmarks = ", ".join(n for n, c in CROPPERS.items() if c.landmarks)
            raise OptionError("crop", self.method, f"gives no landmarks for `align`; use `crop={with_landmarks}`")

    def _normalise_steps(self) -> None:
        steps = tuple(self.preprocess)
        for name in steps:
            PREPROCESS.get(name)
        if self.equalize and steps:
            raise OptionError("preprocess", ",".join(steps), "`equalize` is the step equalize; give the whole chain in "
                                                             "`preprocess` (e.g. equalize," + ",".join(steps) + ")")
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

    def as_options(self) -> dict:
        """The featurize options that make this spec (``crop``, ``margin``, ...), e.g. to featurize
        new images as a model's key was made."""
        return {"crop": self.method, "margin": self.margin, "no_face": self.no_face, "equalize": self.equalize,
                "crop_params": dict(self.params), "preprocess": tuple(self.preprocess), "align": self.align}

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


def _checked_params(method: str, cropper: Cropper, given) -> dict:
    """A cropper's parameters (texts or values) cast by its declarations and checked; a float
    parameter's whole number kept a float, so the key is the same however it was written."""
    from ...params import read_assignments

    own = read_assignments(given, cropper.declared, param="crop_params", owner=f"the {method} cropper")
    return {k: float(v) if isinstance(cropper.params[k], float) and not isinstance(v, str) else v for k, v in own.items()}


def parse_crop_params(method: str, specs) -> tuple:
    """``["min_neighbors=3", "scale_factor=1.05"]`` -> the cropper's typed parameters (checked by CropSpec)."""
    return tuple(sorted(_checked_params(method, CROPPERS.get(method), list(specs)).items()))
