"""Face cropping, the public module: :func:`crop_face` and the crop settings, with the croppers
registry (``none``, ``haar``, ``yunet``, ``dlib``) filled by :mod:`faceprobe.featurize.faces.croppers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .base import CROPPERS, NO_BOX, NO_FACE, Cropper, CropResult, CropSpec, parse_crop_params
from .croppers import detect_largest_face
from .steps import PREPROCESS
from .views import VIEWS

__all__ = ["CROPPERS", "Cropper", "CropSpec", "CropResult", "FaceRecipe", "NO_BOX", "NO_FACE", "crop_face", "parse_crop_params",
           "detect_largest_face"]


@dataclass(frozen=True)
class FaceRecipe:
    """Crop settings with their registry entries resolved: the cropper, the preprocessing steps
    and the views as objects, looked up once in this process.

    Worker processes receive the recipe, not names to look up again, so croppers, steps and views
    that a plug-in registered here work whatever way the workers start (fork, fork server,
    spawn): :class:`~faceprobe.featurize.engine.dataset.FaceDataset` ships it by value.

    Attributes
    ----------
    spec : CropSpec
    cropper : Cropper
    steps : tuple of Step
    views : tuple of (str, View)
    """

    spec: CropSpec
    cropper: Cropper
    steps: tuple
    views: tuple

    @classmethod
    def of(cls, spec: CropSpec, views=("orig",)) -> "FaceRecipe":
        """Resolve ``spec`` and the named ``views`` in the registries."""
        return cls(spec, CROPPERS.get(spec.method), tuple(PREPROCESS.get(n) for n in spec.steps()),
                   tuple((v, VIEWS.get(v)) for v in views))

    def crop(self, img: Image.Image) -> CropResult:
        """The crop of one image, preprocessing steps applied."""
        result = self.cropper.crop(img, self.spec, {**self.cropper.params, **dict(self.spec.params)})
        if not self.steps:
            return result
        face = result.image
        for step in self.steps:
            face = step.apply(face)
        return CropResult(face, result.face, result.box, result.score, result.landmarks)

    def view(self, img: Image.Image, index: int) -> Image.Image:
        """View ``index`` of ``views`` applied to a face."""
        entry = self.views[index][1]
        return entry.apply(img, entry.params)


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
    return FaceRecipe.of(spec, ()).crop(img)
