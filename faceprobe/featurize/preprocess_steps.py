"""Deprecated: moved to :mod:`faceprobe.featurize.faces.steps`; importing this module warns, and it will be removed in a later release."""

import warnings

from .faces.steps import PREPROCESS, Step, apply_steps, equalize, parse_steps

__all__ = ["PREPROCESS", "Step", "equalize", "apply_steps", "parse_steps"]

warnings.warn("faceprobe.featurize.preprocess_steps moved to faceprobe.featurize.faces.steps; import it from there (this module will be removed in a later "
              "release)", DeprecationWarning, stacklevel=2)
