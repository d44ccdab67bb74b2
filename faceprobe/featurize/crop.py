"""Kept for plug-ins written against the flat layout: the cropper registry now lives in
:mod:`faceprobe.featurize.faces`."""

from .faces.crop import CROPPERS, NO_BOX, NO_FACE, Cropper, CropResult, CropSpec, crop_face, detect_largest_face, parse_crop_params

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "NO_BOX", "NO_FACE", "crop_face", "parse_crop_params", "detect_largest_face"]
