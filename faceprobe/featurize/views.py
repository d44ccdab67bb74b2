"""Augmented views of a face: a registry of deterministic image transforms.

Each view is stored under its own feature key and linked to its source image by the image's
content hash, so that classify can put views into training folds only.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image, ImageEnhance, ImageOps

from ..errors import FaceprobeError

__all__ = ["VIEWS", "VIEW_PARAMS", "apply_view", "parse_views"]

VIEW_PARAMS: dict[str, dict] = {
    "orig": {},
    "hflip": {},
    "brightness": {"factor": 1.3},
    "saturation": {"factor": 1.5},
}
"""Fixed parameters of each view; recorded in the feature key's spec."""

VIEWS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "orig": lambda img: img,
    "hflip": ImageOps.mirror,
    "brightness": lambda img: ImageEnhance.Brightness(img).enhance(VIEW_PARAMS["brightness"]["factor"]),
    "saturation": lambda img: ImageEnhance.Color(img).enhance(VIEW_PARAMS["saturation"]["factor"]),
}


def apply_view(img: Image.Image, view: str) -> Image.Image:
    """Return the named view of an RGB image."""
    return VIEWS[view](img)


def parse_views(augment: str | None) -> list[str]:
    """Turn ``--augment hflip,brightness`` into the ordered view list, ``orig`` first.

    Raises
    ------
    FaceprobeError
        For an unknown view name.
    """
    views = ["orig"]
    for name in (augment or "").split(","):
        name = name.strip().lower()
        if not name or name in views:
            continue
        if name not in VIEWS:
            augmentable = sorted(v for v in VIEWS if v != "orig")
            raise FaceprobeError(f"--augment: unknown view {name!r}; choose from: {', '.join(augmentable)}")
        views.append(name)
    return views
