"""Deprecated: moved to :mod:`faceprobe.featurize.faces.crop`; importing this module warns, and it will be removed in a later release."""

import warnings

from .faces.crop import CROPPERS, NO_BOX, NO_FACE, Cropper, CropResult, CropSpec, crop_face, detect_largest_face, parse_crop_params

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "NO_BOX", "NO_FACE", "crop_face", "parse_crop_params", "detect_largest_face"]

warnings.warn("faceprobe.featurize.crop moved to faceprobe.featurize.faces.crop; import it from there (this module will be removed in a later "
              "release)", DeprecationWarning, stacklevel=2)
