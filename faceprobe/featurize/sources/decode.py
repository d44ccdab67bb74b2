"""Decode one image file into an RGB Pillow image, or say precisely why it cannot be used."""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from ...errors import BadImage

__all__ = ["MIN_SIDE", "decode_image"]

MIN_SIDE = 16
"""Images with a side shorter than this many pixels are rejected as unusable."""


def _to_l_or_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode (palette, CMYK, 16-bit, alpha, ...) to 8-bit grey (L) or RGB.

    Grey images stay one-channel through crop and resize (twice as fast) and become three
    identical channels only in the final array.
    """
    if img.mode in ("RGB", "L"):
        return img
    if img.mode == "1":
        return img.convert("L")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # scale high bit depths to 8 bits by the type's range, not by clipping
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if img.mode in ("I", "F") and arr.max() <= 255:
            top = 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        # composite transparent pixels onto white
        rgba = img.convert("RGBA")
        out_mode = "L" if img.mode in ("LA", "La") else "RGB"
        canvas = Image.new(out_mode, rgba.size, 255 if out_mode == "L" else (255, 255, 255))
        canvas.paste(rgba.convert(out_mode), mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def decode_image(path: str, *, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Open an image file as 8-bit grey (``L``) or ``RGB``, with its EXIF orientation applied.

    Parameters
    ----------
    path : str
        Image file.
    draft_size : (int, int) or None, default=None
        For JPEG, let the decoder reduce by a power of two while keeping both sides at least
        this large (Pillow's draft mode); much faster for large photos.

    Returns
    -------
    PIL.Image.Image
        Mode ``L`` for grey images, ``RGB`` for all others; fully loaded.

    Raises
    ------
    BadImage
        With a one-line reason: missing, a directory, empty, not an image, truncated,
        a decompression bomb, or smaller than ``MIN_SIDE`` pixels.
    """
    if os.path.isdir(path):
        raise BadImage("is a directory, not an image file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise BadImage(f"cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise BadImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if draft_size is not None and img.format == "JPEG":
                    img.draft(img.mode if img.mode in ("L", "RGB") else None, draft_size)
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_l_or_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"decompression bomb: {exc}") from None
    except Image.UnidentifiedImageError:
        raise BadImage("not an image Pillow can read") from None
    except PermissionError as exc:
        raise BadImage(f"cannot read: {exc.strerror}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated and corrupt data as OSError / SyntaxError
        raise BadImage(f"corrupt or truncated image: {exc}") from None
    w, h = rgb.size
    if min(w, h) < MIN_SIDE:
        raise BadImage(f"image is {w}x{h} pixels, smaller than the {MIN_SIDE}-pixel minimum")
    return rgb


def dhash(img: Image.Image) -> str:
    """The image's 64-bit difference hash as 16 hex digits: the grey picture shrunk to 9 x 8,
    one bit per horizontally adjacent pair (left brighter than right). Re-encoded, resized or
    slightly edited copies differ in a few bits; different pictures in about half of them."""
    small = np.asarray(img.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    bits = (small[:, :-1] > small[:, 1:]).ravel()
    return f"{int(np.packbits(bits).view('>u8')[0]):016x}"
