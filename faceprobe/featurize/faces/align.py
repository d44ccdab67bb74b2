"""Face alignment from five landmarks: a least-squares similarity transform (rotation, uniform
scale, translation; Umeyama's closed form, deterministic) onto a canonical template, then one
bilinear warp.

The template is the five-point one of face-recognition pipelines (InsightFace/ArcFace, for a
112 x 112 face: eye centres, nose tip, mouth corners), so the eyes end up level and at fixed
positions. The output is a square of ``ALIGN_SIZE`` pixels with ``margin`` of the template's
face box added on each side (expressions need the brow and chin, which the recognition crop
cuts close); the backbone transform then resizes the square to its input size without a
centre crop.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["TEMPLATE_112", "ALIGN_SIZE", "similarity", "template", "align_face"]

TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]])
"""Left eye, right eye, nose tip, left and right mouth corner (image left/right), in a 112 px face."""

ALIGN_SIZE = 256
"""Side of the aligned square (pixels) before the backbone's resize."""


def template(size: int = ALIGN_SIZE, margin: float = 0.2) -> np.ndarray:
    """The five target points in a ``size`` square, the 112 px face box grown by ``margin`` per side."""
    unit = TEMPLATE_112 / 112.0
    return ((unit - 0.5) / (1.0 + 2.0 * margin) + 0.5) * size


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity transform that maps ``src`` points onto ``dst`` in least squares
    (Umeyama, 1991), without reflection."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s ** 2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def align_face(img: Image.Image, landmarks, margin: float = 0.2, size: int = ALIGN_SIZE) -> Image.Image:
    """Warp ``img`` so its five ``landmarks`` ((5, 2) or 10 values x, y, ...) land on the template.

    Returns a ``size`` x ``size`` image of the same mode; pixels from outside the image are black.
    """
    pts = np.asarray(landmarks, float).reshape(5, 2)
    known = np.isfinite(pts).all(1)  # dlib's 5-point model gives eyes and nose only
    m = similarity(pts[known], template(size, margin)[known])
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]  # PIL maps output to input pixels
    return img.transform((size, size), Image.AFFINE, tuple(inv.ravel()), resample=Image.BILINEAR)
