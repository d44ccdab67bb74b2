"""Preprocessing steps applied to a cropped face, in the order given: a registry.

A step is one ``PREPROCESS.register(name, Step(apply, description))``; ``apply`` maps a PIL
image (L or RGB) to an image of the same size (``grey`` and ``canny`` return L, which the
backbone transform replicates to three channels). ``--preprocess grey,clahe`` chains them; the
chain is part of the feature key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from ...errors import OptionError
from ...registry import Registry

__all__ = ["PREPROCESS", "Step", "equalize", "apply_steps", "parse_steps"]


@dataclass(frozen=True)
class Step:
    """A preprocessing step: ``apply(image) -> image`` and what it does."""

    apply: Callable[[Image.Image], Image.Image]
    description: str = ""


PREPROCESS: Registry[Step] = Registry("preprocessing step", "preprocess")


def _on_luminance(img: Image.Image, fn: Callable[[np.ndarray], np.ndarray]) -> Image.Image:
    """Apply ``fn`` (uint8 2-D -> uint8 2-D) to the luminance (Y of YCbCr), leaving colour as it is."""
    if img.mode == "L":
        return Image.fromarray(fn(np.asarray(img)))
    y, cb, cr = img.convert("YCbCr").split()
    return Image.merge("YCbCr", (Image.fromarray(fn(np.asarray(y))), cb, cr)).convert("RGB")


def equalize(img: Image.Image) -> Image.Image:
    """Histogram-equalise the luminance (Y of YCbCr), leaving colour as it is."""
    if img.mode == "L":
        return ImageOps.equalize(img)
    y, cb, cr = img.convert("YCbCr").split()
    return Image.merge("YCbCr", (ImageOps.equalize(y), cb, cr)).convert("RGB")


def _one_thread_cv2(fn):
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the cores belong to the forward pass; restored after
    try:
        return fn(cv2)
    finally:
        cv2.setNumThreads(before)


def clahe(img: Image.Image) -> Image.Image:
    """Contrast-limited adaptive histogram equalisation of the luminance (OpenCV; clip 2.0,
    8 x 8 tiles, its usual settings)."""
    return _on_luminance(img, lambda a: _one_thread_cv2(lambda cv2: cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(a)))


def canny(img: Image.Image) -> Image.Image:
    """Canny edges of the luminance (OpenCV, L2 gradient, after a 5x5 Gaussian blur), white on
    black, as one grey channel. The thresholds adapt to each image's contrast: the upper one is
    the 90th percentile of the gradient magnitude, the lower one half of it, so about the
    strongest tenth of the gradients seed edges on any face set, dim or bright."""
    grey = np.asarray(img.convert("L"))

    def edges(cv2):
        blurred = cv2.GaussianBlur(grey, (5, 5), 0)
        gx, gy = cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
        high = float(np.percentile(np.hypot(gx, gy), 90))
        return cv2.Canny(blurred, max(1.0, high / 2), max(2.0, high), L2gradient=True)

    return Image.fromarray(_one_thread_cv2(edges))


PREPROCESS.register("equalize", Step(equalize, "histogram equalisation of the luminance"))
PREPROCESS.register("clahe", Step(clahe, "contrast-limited adaptive histogram equalisation of the luminance (clip 2, 8x8 tiles)"))
PREPROCESS.register("grey", Step(lambda img: img.convert("L"), "grey levels (replicated to three channels for the backbone)"))
PREPROCESS.register("canny", Step(canny, "Canny edge image of the luminance (thresholds from each image's gradient percentiles), three equal channels"))


def parse_steps(text: str | None) -> tuple[str, ...]:
    """``"grey,clahe"`` -> ("grey", "clahe"), each checked against the registry."""
    if not text:
        return ()
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    for n in names:
        if n not in PREPROCESS:
            raise OptionError("preprocess", text, f"unknown step {n!r}; choose from: {', '.join(PREPROCESS.names())}")
    return names


def apply_steps(img: Image.Image, steps) -> Image.Image:
    """Apply the steps in order."""
    for name in steps:
        img = PREPROCESS.get(name).apply(img)
    return img
