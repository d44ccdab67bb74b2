"""Resize and centre-crop a face into the uint8 tensor a backbone expects."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

__all__ = ["TransformSpec", "to_uint8_chw", "resized_size", "CROP_MODES", "INTERPOLATIONS"]

CROP_MODES = ("center", "squash")
"""``center``: shorter side to ``resize`` (aspect kept), then the centre square; ``squash``: both
sides to ``resize`` (aspect changed), then the centre square (timm's ``crop_mode``)."""

_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
INTERPOLATIONS = tuple(_RESAMPLE)


@dataclass(frozen=True)
class TransformSpec:
    """A backbone's input preprocessing, recorded in every feature key.

    Attributes
    ----------
    resize : int
        The shorter side is resized to this many pixels (aspect kept).
    crop : int
        Then a centre square of this side is cut out.
    mean, std : tuple of float
        Per-channel normalisation applied to values in [0, 1] (on the device, in the model).
    interpolation : str
        ``bilinear``, ``bicubic`` or ``nearest`` (Pillow, antialiased).
    mode : str
        ``center`` or ``squash`` (see ``CROP_MODES``).
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    mode: str = "center"

    def as_dict(self) -> dict:
        """The fields as JSON values; ``mode`` only when not ``center``, so the feature keys of
        transforms that existed before it stay the same."""
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if d["mode"] == "center":
            del d["mode"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TransformSpec":
        return cls(d["resize"], d["crop"], tuple(d["mean"]), tuple(d["std"]), d["interpolation"], d.get("mode", "center"))


def resized_size(w: int, h: int, spec: TransformSpec) -> tuple[int, int]:
    """The (width, height) an image of ``w`` x ``h`` is resized to before the centre crop."""
    if spec.mode == "squash":
        return max(spec.crop, spec.resize), max(spec.crop, spec.resize)
    scale = spec.resize / min(w, h)
    return max(spec.crop, round(w * scale)), max(spec.crop, round(h * scale))


def to_uint8_chw(img: Image.Image, spec: TransformSpec) -> np.ndarray:
    """Resize as ``spec.mode`` says, centre-crop ``spec.crop``, return uint8 (3, H, W).

    Accepts ``L`` (grey, replicated to three channels at the end) or ``RGB`` images.

    Normalisation is left to the model wrapper, so workers ship 4x fewer bytes.
    """
    w, h = img.size
    new_w, new_h = resized_size(w, h, spec)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), _RESAMPLE[spec.interpolation], reducing_gap=None)
    left, top = (new_w - spec.crop) // 2, (new_h - spec.crop) // 2
    img = img.crop((left, top, left + spec.crop, top + spec.crop))
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:  # grey: three identical channels
        return np.ascontiguousarray(np.broadcast_to(arr, (3, *arr.shape)))
    return np.ascontiguousarray(arr.transpose(2, 0, 1))
