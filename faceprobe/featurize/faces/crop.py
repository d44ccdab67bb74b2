"""Face cropping, the public module: :func:`crop_face` and the crop settings, with the croppers
registry (``none``, ``haar``, ``yunet``, ``dlib``) filled by :mod:`faceprobe.featurize.faces.croppers`.
"""

from __future__ import annotations

from PIL import Image

from .base import CROPPERS, NO_BOX, NO_FACE, Cropper, CropResult, CropSpec, parse_crop_params
from .croppers import detect_largest_face
from .steps import apply_steps

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "NO_BOX", "NO_FACE", "crop_face", "parse_crop_params", "detect_largest_face"]


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
