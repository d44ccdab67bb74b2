"""Preprocessing steps applied to a cropped face: a registry (``equalize`` today).

A step is one ``PREPROCESS.register(name, Step(apply, description))``; ``apply`` maps a PIL
image (L or RGB) to one of the same mode and size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PIL import Image, ImageOps

from ..registry import Registry

__all__ = ["PREPROCESS", "Step", "equalize"]


@dataclass(frozen=True)
class Step:
    """A preprocessing step: ``apply(image) -> image`` and what it does."""

    apply: Callable[[Image.Image], Image.Image]
    description: str = ""


PREPROCESS: Registry[Step] = Registry("preprocessing step", "preprocess")


def equalize(img: Image.Image) -> Image.Image:
    """Histogram-equalise the luminance (Y of YCbCr), leaving colour as it is."""
    if img.mode == "L":
        return ImageOps.equalize(img)
    y, cb, cr = img.convert("YCbCr").split()
    return Image.merge("YCbCr", (ImageOps.equalize(y), cb, cr)).convert("RGB")


PREPROCESS.register("equalize", Step(equalize, "histogram equalisation of the luminance"))
