"""From an image to the face a backbone sees: croppers (``croppers.py``, registry in ``base.py``),
alignment (``align.py``), preprocessing steps (``steps.py``) and augmented views (``views.py``);
:func:`crop_face` (``crop.py``) applies the crop settings to one image."""

from .crop import CROPPERS, NO_BOX, NO_FACE, Cropper, CropResult, CropSpec, crop_face, detect_largest_face, parse_crop_params

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "NO_BOX", "NO_FACE", "crop_face", "parse_crop_params", "detect_largest_face"]
