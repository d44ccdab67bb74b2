"""Deprecated: moved to :mod:`faceprobe.featurize.faces.views`; importing this module warns, and it will be removed in a later release."""

import warnings

from .faces.views import VIEWS, View, apply_view, parse_views, view_params

__all__ = ["VIEWS", "View", "apply_view", "parse_views", "view_params"]

warnings.warn("faceprobe.featurize.views moved to faceprobe.featurize.faces.views; import it from there (this module will be removed in a later "
              "release)", DeprecationWarning, stacklevel=2)
