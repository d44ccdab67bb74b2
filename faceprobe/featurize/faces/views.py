"""Augmented views of a face: a registry of deterministic image transforms, each with its parameters.

Each view is stored under its own feature key (its parameters are part of the key's spec) and
linked to its source image by the image's content hash, so that classify can put views into
training folds only. A view is one ``VIEWS.register(name, View(apply, params, description))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from PIL import Image, ImageEnhance, ImageOps

from ...errors import OptionError
from ...registry import Registry

__all__ = ["VIEWS", "View", "apply_view", "parse_views", "view_params"]


@dataclass(frozen=True)
class View:
    """A view: ``apply(image, params) -> image`` with fixed ``params`` (recorded in the key's spec)."""

    apply: Callable[[Image.Image, dict], Image.Image]
    params: dict = field(default_factory=dict)
    description: str = ""


VIEWS: Registry[View] = Registry("view", "views")
VIEWS.register("orig", View(lambda img, p: img, {}, "the image as it is"))
VIEWS.register("hflip", View(lambda img, p: ImageOps.mirror(img), {}, "mirrored left to right"))
VIEWS.register("brightness", View(lambda img, p: ImageEnhance.Brightness(img).enhance(p["factor"]), {"factor": 1.3}, "brightness x1.3"))
VIEWS.register("saturation", View(lambda img, p: ImageEnhance.Color(img).enhance(p["factor"]), {"factor": 1.5}, "colour saturation x1.5"))


def view_params(view: str) -> dict:
    """The fixed parameters of a view, as recorded in its feature key's spec."""
    return dict(VIEWS.get(view).params)


def apply_view(img: Image.Image, view: str) -> Image.Image:
    """Return the named view of an image."""
    entry = VIEWS.get(view)
    return entry.apply(img, entry.params)


def parse_views(augment) -> list[str]:
    """Turn ``--augment hflip,brightness`` (or a list of names) into the ordered view list, ``orig`` first.

    Raises
    ------
    OptionError
        For an unknown view name.
    """
    names = augment.split(",") if isinstance(augment, str) else list(augment or [])
    views = ["orig"]
    for name in names:
        name = name.strip().lower()
        if not name or name in views:
            continue
        if name not in VIEWS:
            augmentable = [v for v in VIEWS.names() if v != "orig"]
            raise OptionError("views", name, f"unknown view; choose from: {', '.join(augmentable)}")
        views.append(name)
    return views
